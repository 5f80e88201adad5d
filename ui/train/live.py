"""The live view of one run: progress with ETA, loss/eval-loss, learning rate, speed, memory, log tail.

It polls the registry every few seconds inside a fragment while the run is active, and stops polling
when the run ends (one full rerun then shows the final state without a timer).
"""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from workbench import store
from workbench.training import runs

POLL = "2s"
STATUS_ICONS = {"queued": ":material/schedule:", "running": ":material/play_circle:",
                "cancelling": ":material/pending:", "cancelled": ":material/cancel:",
                "completed": ":material/check_circle:", "failed": ":material/error:",
                "interrupted": ":material/warning:"}


def live_run(run_id: int) -> None:
    run = runs.get_run(run_id)
    active = run["status"] in store.ACTIVE_RUN_STATUSES
    st.fragment(run_every=POLL if active else None)(_body)(run_id, active)


def _body(run_id: int, polling: bool) -> None:
    runs.mark_interrupted()
    run = runs.get_run(run_id)
    if polling and run["status"] not in store.ACTIVE_RUN_STATUSES:
        st.rerun()  # the run ended: one full rerun draws the final state and stops the timer
    if run["status"] == "queued":
        runs.schedule()
    _header(run)
    metrics = pd.DataFrame(runs.run_metrics(run_id))
    if metrics.empty:
        st.caption("No metrics yet: the worker is loading the model and the data…")
    else:
        _charts(metrics)
    with st.expander("Log (last lines)", expanded=run["status"] == "failed"):
        st.code(runs.log_tail(run["name"]) or "(empty)", language=None)


def _header(run: dict) -> None:
    progress = runs.run_progress(run)
    st.markdown(f"{STATUS_ICONS.get(run['status'], '')} **{run['name']}** — {run['status']}")
    step, total = progress.get("step") or 0, progress.get("max_steps") or 0
    if total:
        eta = progress.get("eta_seconds")
        eta_text = f" · about {_duration(eta)} left" if eta and run["status"] == "running" else ""
        st.progress(min(step / total, 1.0),
                    text=f"Step {step} of {total} · epoch {progress.get('epoch', 0):.2f}{eta_text}")
    elif run["status"] == "running":
        st.progress(0.0, text=f"{progress.get('phase', 'starting').capitalize()}…")
    if run["status"] == "failed" and run.get("error"):
        st.error(run["error"].split("\n\n")[0], icon=":material/error:")
    elif run["status"] == "interrupted":
        st.warning(run.get("error") or "Interrupted.", icon=":material/warning:")
    if run["status"] == "completed" and run.get("adapter_dir"):
        st.success(f"Adapter saved in `{run['adapter_dir']}`", icon=":material/check_circle:")


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


def _charts(metrics: pd.DataFrame) -> None:
    losses = metrics[metrics["name"].isin(["loss", "eval_loss"])]
    left, right = st.columns(2)
    if not losses.empty:
        left.altair_chart(_line(losses, "Loss", color="name"), width="stretch")
    lr = metrics[metrics["name"] == "learning_rate"]
    if not lr.empty:
        right.altair_chart(_line(lr, "Learning rate"), width="stretch")
    speed = metrics[metrics["name"] == "tokens_per_second"]
    memory = metrics[metrics["name"] == "gpu_memory_gb"]
    left, right = st.columns(2)
    if not speed.empty:
        left.altair_chart(_line(speed, "Tokens per second"), width="stretch")
    if not memory.empty:
        right.altair_chart(_line(memory, "GPU memory (GB)"), width="stretch")


def _line(frame: pd.DataFrame, title: str, color: str | None = None) -> alt.Chart:
    chart = alt.Chart(frame, title=title).mark_line(point=len(frame) < 60).encode(
        x=alt.X("step:Q", title="step"),
        y=alt.Y("value:Q", title=None, scale=alt.Scale(zero=False)),
        tooltip=["step", "epoch", "name", alt.Tooltip("value:Q", format=".4g")],
    )
    if color:
        chart = chart.encode(color=alt.Color(f"{color}:N", title=None))
    return chart.properties(height=220)


def overlay_chart(run_ids: list[int], metric: str = "loss") -> alt.Chart | None:
    """The `metric` curves of several runs on one chart (the Runs page's comparison)."""
    frames = []
    for run_id in run_ids:
        rows = runs.run_metrics(run_id, (metric,))
        if rows:
            frame = pd.DataFrame(rows)
            frame["run"] = runs.get_run(run_id)["name"]
            frames.append(frame)
    if not frames:
        return None
    return _line(pd.concat(frames), metric.replace("_", " ").capitalize(), color="run")
