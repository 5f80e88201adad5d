"""Predict over a file: answer every row of an uploaded file with an adapter or the base, in the background;
watch the answers arrive, download them as JSONL or CSV."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ui.text import literal
from workbench import metrics
from workbench.errors import WorkbenchError
from workbench.jobs import queue, registry
from workbench.prediction import inputs, outputs
from workbench.prediction import job as predictions

FILE_TYPES = ["jsonl", "json", "csv", "tsv", "parquet"]
SHOWN_ROWS = 50
NO_COLUMN = "(none)"
BASE_CHOICE = "__base__"


def render_predict(base: str, on_base: list[dict], preferred: str | None) -> None:
    _launcher(base, [a["name"] for a in on_base if "@" not in a["name"]], preferred)
    jobs = predictions.list_predictions()
    if not jobs:
        st.caption("No prediction yet: upload a file of inputs above.")
        return
    titles = {job["id"]: f"#{job['id']} {job['title']} · {job['created'][:16].replace('T', ' ')}" for job in jobs}
    job_id = st.selectbox("Prediction", list(titles), format_func=titles.get, key="cmp_pred_job")
    active = predictions.get_job(job_id)["status"] in registry.ACTIVE
    st.fragment(run_every="2s" if active else None)(_job_view)(job_id, active)


def _launcher(base: str, adapters: list[str], preferred: str | None) -> None:
    choices = [BASE_CHOICE, *adapters]
    if "cmp_pred_with" not in st.session_state and preferred in adapters:
        st.session_state["cmp_pred_with"] = preferred
    with st.container(border=True):
        who = st.selectbox(
            "Answer with",
            choices,
            key="cmp_pred_with",
            format_func=lambda c: f"{base} (base, no adapter)" if c == BASE_CHOICE else f"adapter: {c}",
        )
        upload = st.file_uploader(
            "File of inputs",
            type=FILE_TYPES,
            key="cmp_pred_file",
            help="Any format the dataset importer reads. Rows that also hold an answer (output, completion, "
            "a last assistant turn, or a reference column) are scored against it.",
        )
        reading = _columns(upload) if upload is not None else {}
        cols = st.columns([1, 1, 1, 1, 1])
        greedy = cols[0].toggle("Greedy", True, key="cmp_pred_greedy", help="The most likely answer, as in evaluation")
        temperature = cols[1].slider("Temperature", 0.05, 2.0, 0.7, 0.05, key="cmp_pred_temp", disabled=greedy)
        top_p = cols[2].slider("Top p", 0.05, 1.0, 0.9, 0.05, key="cmp_pred_top_p", disabled=greedy)
        max_new = cols[3].number_input("Longest answer (tokens)", 1, 8192, 256, key="cmp_pred_max_new")
        seed = cols[4].number_input(
            "Seed", 0, 2**31 - 1, 0, key="cmp_pred_seed", disabled=greedy, help="The same seed gives the same sample"
        )
        settings = dict(greedy=greedy, temperature=temperature, top_p=top_p, max_new_tokens=max_new, seed=int(seed))
        if st.button("Predict", type="primary", key="cmp_pred_go", disabled=upload is None or reading is None):
            _start(who, base, upload, reading or {}, **settings)


def _columns(upload) -> dict | None:
    """How the file is read (for CSV or Parquet: the input and reference columns, guessed first), checked at
    once: the rows read and the first input, or the problems. None when it cannot be read."""
    data = upload.getvalue()
    reading: dict = {}
    if inputs.is_tabular(data, upload.name):
        try:
            names = inputs.columns(data, upload.name)
        except WorkbenchError as exc:
            st.error(literal(str(exc)))
            return None
        prompt_guess, reference_guess = inputs.guess_columns(names)
        cols = st.columns(2)
        prompt = cols[0].selectbox(
            "Input column", names, index=names.index(prompt_guess) if prompt_guess else 0, key="cmp_pred_column"
        )
        choices = [NO_COLUMN, *[n for n in names if n != prompt]]
        reference = cols[1].selectbox(
            "Reference column (optional)",
            choices,
            index=choices.index(reference_guess) if reference_guess in choices else 0,
            key="cmp_pred_reference",
            help="Answers to score the predictions against",
        )
        reading = {"prompt_column": prompt, "reference_column": "" if reference == NO_COLUMN else reference}
    try:
        count, scored, first, numeric = _checked(upload.file_id, upload.name, tuple(reading.items()), data)
    except WorkbenchError as exc:
        st.error(literal(str(exc)))
        return None
    st.caption(
        f"{count:,} rows read, {scored:,} with an answer to score against. The first input: "
        f"{literal(first[:160])}{'…' if len(first) > 160 else ''}"
    )
    if numeric:
        st.warning(
            f"The inputs{' of column ' + repr(reading['prompt_column']) if reading else ''} are bare numbers: is "
            "that the column that holds the text to answer?",
            icon=":material/help:",
        )
    return reading


@st.cache_data(show_spinner="Reading the file…", max_entries=8)
def _checked(file_id: str, name: str, reading: tuple, _data: bytes) -> tuple[int, int, str, bool]:
    """(rows, rows with a reference, the first input, whether the inputs are bare numbers) of an upload, read
    once per upload and column choice, not on every rerun of the page."""
    rows = inputs.read_inputs(_data, name, **dict(reading))
    scored = sum(row.reference is not None for row in rows)
    return len(rows), scored, rows[0].messages[-1]["content"], inputs.numeric_inputs(rows)


def _start(who: str, base: str, upload, reading: dict, **settings) -> None:
    try:
        config = predictions.for_run(None if who == BASE_CHOICE else who, base, **settings)
        job_id = predictions.start_predict(config, upload.getvalue(), upload.name, **reading)
    except WorkbenchError as exc:
        st.error(literal(str(exc)))
        return
    st.session_state["cmp_pred_job"] = job_id
    st.rerun()


def _job_view(job_id: int, polling: bool) -> None:
    job = predictions.get_job(job_id)
    if polling and job["status"] not in registry.ACTIVE:
        st.rerun()
    done = job_progress(job, "Prediction")
    st.caption(_settings_line(predictions.job_config(job)))
    path = predictions.outputs_path(job)
    _summary(job)
    rows = outputs.tail(path, SHOWN_ROWS)
    if rows:
        st.caption(f"The last {len(rows)} answers (shown as text)" if done > len(rows) else "Answers (shown as text)")
        st.dataframe(
            _frame(rows),
            hide_index=True,
            width="stretch",
            column_config={
                "input": st.column_config.TextColumn("input", width="medium"),
                "output": st.column_config.TextColumn("output", width="medium"),
            },
        )
        _downloads(job, path)


def job_progress(job: dict, doing: str) -> int:
    """A prediction job's progress bar (“{doing} running: 3/8 rows…”), its error, Cancel or Resume; returns the
    rows answered."""
    progress = registry.progress(job)
    done, total = progress.get("done", 0), progress.get("total") or 0
    text = (
        f"{doing} queued: {queue.waiting_for(job)}"
        if job["status"] == "queued"
        else f"{doing} {job['status']}: {predictions.describe_progress(progress, job['status'])}"
    )
    st.progress(min(done / total, 1.0) if total else 0.0, text=text)
    if job["status"] in ("failed", "interrupted") and job.get("error"):
        st.error(job["error"].split("\n\n")[0])
    _actions(job)
    return done


def _settings_line(config) -> str:
    how = "greedy" if config.greedy else f"sampled (temperature {config.temperature}, top p {config.top_p})"
    return f"{how}, answers of up to {config.max_new_tokens} tokens, seed {config.seed}"


def _actions(job: dict) -> None:
    if job["status"] in ("queued", "running") and st.button("Cancel prediction", key=f"cmp_pred_cancel_{job['id']}"):
        predictions.cancel_predict(job["id"])
        st.rerun()
    if job["status"] in ("cancelled", "interrupted", "failed") and st.button(
        "Resume", key=f"cmp_pred_resume_{job['id']}", help="Go on after the last answered row"
    ):
        try:
            predictions.resume_predict(job["id"])
        except WorkbenchError as exc:
            st.error(str(exc))
            return
        st.rerun()


def _summary(job: dict) -> None:
    summary = registry.result(job).get("summary")
    if not summary or not summary.get("metrics"):
        return
    st.caption(f"Scores over the {summary['scored']} rows that had a reference")
    shown = {metrics.SHOWN_NAMES.get(k, k).replace("_", " "): round(v, 4) for k, v in summary["metrics"].items()}
    st.dataframe(pd.DataFrame([shown]), hide_index=True)


def _frame(rows: list[dict]) -> pd.DataFrame:
    """One line per answer: the short columns first, so that the long texts do not push them off screen."""
    table = []
    for row in rows:
        shown = {"row": row["row"], "line": row["line"]}
        if row.get("reference") is not None:
            shown["exact match"] = row["scores"].get("exact_match")
        shown.update(tokens=row.get("tokens"), stopped=row.get("stopped"), input=row["input"], output=row["output"])
        if row.get("reference") is not None:
            shown["reference"] = row["reference"]
        table.append(shown)
    return pd.DataFrame(table)


def _downloads(job: dict, path) -> None:
    stem = f"predictions-{job['id']}" + ("" if job["status"] == "completed" else "-partial")
    cols = st.columns(2)
    cols[0].download_button(
        "Download JSONL",
        lambda: b"".join(outputs.jsonl_chunks(path)),
        file_name=f"{stem}.jsonl",
        mime="application/jsonl",
        key=f"cmp_pred_dl_jsonl_{job['id']}",
        on_click="ignore",
    )
    cols[1].download_button(
        "Download CSV",
        lambda: "".join(outputs.csv_chunks(path)),
        file_name=f"{stem}.csv",
        mime="text/csv",
        key=f"cmp_pred_dl_csv_{job['id']}",
        on_click="ignore",
    )
