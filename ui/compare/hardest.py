"""The training rows the adapter finds hardest (its loss on each answer): listed with their loss, to fix a
wrong label on the Datasets page, drop the rows, or make pairs of them."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ui.links import page_link
from workbench.data import records, repository
from workbench.errors import WorkbenchError
from workbench.evaluation import hardest
from workbench.jobs import queue, registry
from workbench.prediction import mistakes
from workbench.training import runs

SHOWN = 30


def render_hardest(run: dict) -> None:
    st.caption(
        "The training rows this adapter finds hardest: its loss on each row's answer (one forward pass per row). "
        "A row it cannot learn is often a wrong label."
    )
    job = hardest.latest_job(run["id"])
    busy = bool(job and job["status"] in registry.ACTIVE)
    if st.button("Measure again" if job else "Measure the hardest rows", key="cmp_hard_go", disabled=busy):
        try:
            hardest.start_hardest(run["id"])
        except WorkbenchError as exc:
            st.error(str(exc))
            return
        st.rerun()
    if job is None:
        return
    st.fragment(run_every="2s" if busy else None)(_progress)(job["id"], busy)
    found = hardest.hardest_rows(registry.get(job["id"]))
    if not busy and found:
        _table(run, job, found)


def _progress(job_id: int, polling: bool) -> None:
    job = registry.get(job_id)
    if polling and job["status"] not in registry.ACTIVE:
        st.rerun()
    progress = registry.progress(job)
    done, total = progress.get("done", 0), progress.get("total") or 0
    text = f"Hardest rows queued: {queue.waiting_for(job)}" if job["status"] == "queued" else queue.describe(job)
    st.progress(min(done / total, 1.0) if total else 0.0, text=text)
    if job["status"] in ("failed", "interrupted") and job.get("error"):
        st.error(job["error"].split("\n\n")[0])
    if job["status"] in ("queued", "running") and st.button("Cancel", key=f"cmp_hard_cancel_{job_id}"):
        registry.cancel(job_id)
        st.rerun()


def _table(run: dict, job: dict, found: list[dict]) -> None:
    dataset, revision = repository.revision_by_id(registry.args(job)["revision_id"])
    fmt = repository.get_dataset(dataset).format
    rows = repository.read_revision_rows(revision)
    shown = found[:SHOWN]
    table = []
    for r in shown:
        prompt, answer = records.prompt_and_reference(rows[r["row"] - 1], fmt)
        table.append(
            {
                "row": r["row"],
                "loss": r["loss"],
                "prompt": prompt[-1]["content"],
                "answer (the label)": answer,
            }
        )
    st.dataframe(pd.DataFrame(table), hide_index=True, width="stretch")
    picked = st.multiselect("Rows", [r["row"] for r in shown], key="cmp_hard_rows", help="Rows of the table to act on")
    left, middle, right = st.columns(3)
    page_link("pages/datasets.py", f"Fix a label: open {dataset}", where=left, dataset=dataset)
    if middle.button(f"Drop {len(picked)} rows", key="cmp_hard_drop", disabled=not picked):
        _drop(dataset, revision.n, picked)
    _pairs(run, picked, right)
    if runs.get_run(run["id"])["status"] != "completed":
        st.caption("The run is not completed: these losses are its saved adapter's.")


def _drop(dataset: str, measured: int, picked: list[int]) -> None:
    """A new revision without the picked rows (refused when the dataset changed since it was measured)."""
    try:
        saved = repository.drop_rows(dataset, [n - 1 for n in picked], measured, f"dropped {len(picked)} hard rows")
    except WorkbenchError as exc:
        st.error(str(exc))
        return
    st.success(f"{dataset}: revision {saved.n} without rows {', '.join(map(str, picked))} (its split kept).")


def _pairs(run: dict, picked: list[int], column) -> None:
    """Pairs of the picked rows: chosen, the row's answer; rejected, the adapter's answer to it (from its
    answers to the training rows, in the part above)."""
    answers = mistakes.answering_jobs(run["id"])
    ready = bool(answers) and answers[0]["status"] not in registry.ACTIVE
    if not ready:
        column.caption("Answer the training rows above to make pairs of these.")
    if not column.button(f"Make {len(picked)} pairs", key="cmp_hard_pairs", disabled=not picked or not ready):
        return
    by_row = {c.row: c for c in mistakes.prediction_candidates(answers[0]["id"])}
    found = mistakes.mistakes([by_row[n] for n in picked if n in by_row], mistakes.MistakeFilter())
    name = f"{run['name']}-pairs"
    try:
        saved = mistakes.save_pairs(name, found, f"pairs from run {run['name']}'s hardest rows")
    except WorkbenchError as exc:
        st.error(str(exc))
        return
    st.success(f"{name}: revision {saved.n}, now {saved.rows} pairs ({len(found)} of the {len(picked)} rows added).")
