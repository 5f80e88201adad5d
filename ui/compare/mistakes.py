"""Pairs from the adapter's mistakes: its answers to the training rows (a job) or to a finished held-out
evaluation, filtered by a metric, previewed, then added to a preference dataset to train DPO on."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ui.compare.hardest import render_hardest
from ui.compare.predict import job_progress
from ui.links import page_link
from workbench.errors import WorkbenchError
from workbench.evaluation import results as eval_results
from workbench.jobs import registry
from workbench.prediction import job as predictions
from workbench.prediction import mistakes
from workbench.prediction.mistakes import MistakeFilter
from workbench.training import runs

TRAINING, HELD_OUT = "training rows", "held-out evaluation"
SHOWN = 50


def render_mistakes(run_name: str) -> None:
    run = runs.get_run(run_name)
    st.subheader("Wrong answers → preference pairs")
    _wrong_answers(run)
    st.subheader("Hardest training rows")
    render_hardest(run)


def _wrong_answers(run: dict) -> None:
    st.caption(
        "Turn the rows this adapter gets wrong into preference pairs: chosen = the dataset's answer, rejected = "
        "the adapter's. Train DPO on them from this run (Train page) to correct it."
    )
    source = st.radio(
        "Rows",
        [TRAINING, HELD_OUT],
        key="cmp_mis_source",
        horizontal=True,
        format_func=lambda s: (
            "Training rows (answered now; the held-out rows stay a fair test)"
            if s == TRAINING
            else "Rows of the latest held-out evaluation"
        ),
    )
    if source == TRAINING:
        candidates, origin = _training_rows(run)
    else:
        candidates, origin = _held_out_rows(run)
    if candidates is not None:
        _pairs(run, candidates, origin)


def _training_rows(run: dict):
    jobs = mistakes.answering_jobs(run["id"])
    job = jobs[0] if jobs else None
    busy = bool(job and job["status"] in registry.ACTIVE)
    if st.button(
        "Answer the training rows again" if job and not busy else "Answer the training rows",
        key="cmp_mis_answer",
        disabled=busy,
        help="The adapter answers every training row greedily, as the evaluation does (a background job).",
    ):
        try:
            mistakes.answer_training_rows(run["id"])
        except WorkbenchError as exc:
            st.error(str(exc))
            return None, None
        st.rerun()
    if job is None:
        st.caption("No answers yet: answer the training rows to find the mistakes.")
        return None, None
    active = job["status"] in registry.ACTIVE
    st.fragment(run_every="2s" if active else None)(_progress)(job["id"], active)
    if active:
        return None, None
    candidates = mistakes.prediction_candidates(job["id"])
    if not candidates:
        return None, None
    return candidates, f"training rows, prediction job {job['id']}"


def _progress(job_id: int, polling: bool) -> None:
    job = predictions.get_job(job_id)
    if polling and job["status"] not in registry.ACTIVE:
        st.rerun()
    job_progress(job, "Answering the training rows")


def _held_out_rows(run: dict):
    job = eval_results.results_job(run["id"])
    if job is None:
        st.info("No finished evaluation of this adapter: run one in the Held-out evaluation section first.")
        return None, None
    st.warning(mistakes.HELD_OUT_NOTICE, icon=":material/warning:")
    return mistakes.evaluation_candidates(job["id"]), f"evaluation job {job['id']}"


def _pairs(run: dict, candidates: list, origin: str) -> None:
    left, right = st.columns(2)
    metric = left.selectbox(
        "Wrong when", list(mistakes.METRICS), key="cmp_mis_metric", format_func=mistakes.METRICS.get
    )
    below = right.number_input("is below", 0.01, 1.0, 1.0, 0.05, key="cmp_mis_below")
    rule = MistakeFilter(metric, float(below))
    found = mistakes.mistakes(candidates, rule)
    st.caption(f"{mistakes.describe(candidates, rule)} ({origin}).")
    if not found:
        return
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "row": c.row,
                    "prompt": c.prompt[-1]["content"],
                    "chosen (reference)": c.reference,
                    "rejected (adapter)": c.answer,
                    metric: c.scores.get(metric),
                }
                for c in found[:SHOWN]
            ]
        ),
        hide_index=True,
        width="stretch",
    )
    name = st.text_input("Add them to the preference dataset", f"{run['name']}-pairs", key="cmp_mis_dataset")
    if st.button(f"Save {len(found)} pairs", key="cmp_mis_save", type="primary"):
        try:
            revision = mistakes.save_pairs(name, found, f"pairs from run {run['name']}'s mistakes ({origin})")
        except WorkbenchError as exc:
            st.error(str(exc))
            return
        st.session_state["cmp_mis_saved"] = (name, revision.n, revision.rows)
    saved = st.session_state.get("cmp_mis_saved")
    if saved and saved[0] == name:
        st.success(f"{saved[0]}: revision {saved[1]}, {saved[2]} pairs. Train DPO on it from run {run['name']}.")
        left, right = st.columns(2)
        page_link("pages/datasets.py", f"Open {saved[0]}", where=left, dataset=saved[0])
        page_link("pages/train.py", "Train on it (DPO)", where=right, dataset=saved[0])
