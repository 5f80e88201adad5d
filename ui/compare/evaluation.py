"""Held-out evaluation of one adapter against its base, or against another run's adapter on the same base:
launch in the background, watch, read the table."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ui.compare.fields_view import render_breakdown
from ui.compare.rows import row_card
from workbench import metrics
from workbench.data import repository
from workbench.evaluation import heldout
from workbench.evaluation import jobs as eval_jobs
from workbench.evaluation import results as eval_results
from workbench.jobs import queue, registry
from workbench.training import runs

FILTERS = ("all rows", "adapter better", "adapter worse", "both wrong", "both right", "same")


def render_evaluation(run_name: str, against_name: str | None = None) -> None:
    """`run_name`'s adapter against its base, or against `against_name`'s adapter (both answer its rows)."""
    run = runs.get_run(run_name)
    against = runs.get_run(against_name)["id"] if against_name else None
    if against_name:
        st.caption(
            f"**{run_name}** against **{against_name}**: both adapters answer the held-out rows of {run_name}'s "
            f"dataset; the table's “{against_name}” column is the left side."
        )
    _launcher(run, against)
    job = eval_results.latest_job(run["id"], against)
    if job is None:
        st.caption("No evaluation of these two sides yet.")
        return
    active = job["status"] in ("queued", "running", "cancelling")
    st.fragment(run_every="2s" if active else None)(_job_view)(job["id"], active)
    if not active:
        _results(run["id"], against, against_name)


def _launcher(run: dict, against: int | None) -> None:
    dataset, trained_on = repository.revision_by_id(runs.evaluation_revision_id(run))
    numbers = [r.n for r in repository.revisions(dataset)]
    with st.form("cmp_eval_form"):
        cols = st.columns([1, 2, 1, 1])
        revision = cols[0].selectbox(
            f"Revision of {dataset}",
            numbers,
            index=numbers.index(trained_on.n),
            key="cmp_eval_revision",
            format_func=lambda n: f"{n} (trained on)" if n == trained_on.n else str(n),
        )
        split = cols[1].selectbox(
            "Rows",
            ["validation", "train", "all"],
            key="cmp_eval_split",
            help="Validation is the held-out split of that revision.",
        )
        limit = cols[2].number_input("Sample of N rows (0: all)", 0, 100000, 0, key="cmp_eval_limit")
        go = cols[3].form_submit_button("Evaluate both", type="primary", help="Score both sides on these rows")
    if go:
        try:
            eval_jobs.start_eval(
                run["id"], split=split, limit=int(limit) or None, dataset_revision=int(revision), against=against
            )
        except heldout.EvalError as exc:
            st.error(str(exc))
            return
        st.rerun()


def _job_view(job_id: int, polling: bool) -> None:
    job = eval_results.get_job(job_id)
    if polling and job["status"] not in ("queued", "running", "cancelling"):
        st.rerun()
    progress = eval_jobs.job_progress(job)
    done, total = progress.get("done", 0), progress.get("total") or 0
    text = (
        f"Evaluation {job['status']}: {eval_jobs.describe_progress(progress)}"
        if job["status"] != "queued"
        else (f"Evaluation queued: {queue.waiting_for(job)}")
    )
    st.progress(done / total if total else 0.0, text=text)
    if job["status"] == "failed" and job.get("error"):
        st.error(job["error"].split("\n\n")[0])
    if job["status"] in ("queued", "running") and st.button("Cancel evaluation", key=f"cmp_eval_cancel_{job_id}"):
        eval_jobs.cancel_eval(job_id)
        st.rerun()


def _results(run_id: int, against: int | None = None, against_name: str | None = None) -> None:
    table = eval_results.results(run_id, against=against)
    if not table:
        return
    for line in eval_results.describe_coverage(registry.result(eval_results.results_job(run_id, against) or {})):
        st.warning(line, icon=":material/straighten:")
    # Metrics neither side has (the JSON ones of a plain-text dataset) are left out rather than shown as None.
    shown = [
        {
            **row,
            "metric": metrics.SHOWN_NAMES.get(row["metric"], row["metric"]),
            "about": metrics.METRIC_HELP.get(row["metric"], ""),
        }
        for row in table
        if row["base"] is not None or row["adapter"] is not None
    ]
    frame = pd.DataFrame(shown)
    if against_name:
        frame = frame.rename(columns={"base": against_name, "adapter": runs.get_run(run_id)["name"]})
    st.dataframe(
        frame,
        hide_index=True,
        width="stretch",
        column_config={
            "base": st.column_config.NumberColumn(format="%.3f"),
            "adapter": st.column_config.NumberColumn(format="%.3f"),
            "delta": st.column_config.NumberColumn(format="%+.3f"),
        },
    )
    rows = eval_results.rows(run_id, against=against)
    render_breakdown(runs.get_run(run_id), rows)
    which = st.segmented_control("Rows", FILTERS, default="all rows", key="cmp_eval_filter")
    shown = [r for r in rows if which in (None, "all rows") or r["details"].get("verdict") == which]
    st.caption(f"{len(shown)} of {len(rows)} rows · differences from the reference are highlighted")
    for row in shown[:50]:
        row_card(row)
