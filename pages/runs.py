"""Runs: every run with its status, base, dataset revision, duration and losses; compare, clone, delete."""

import streamlit as st

from ui.train.history import run_actions, runs_table
from ui.train.live import live_run, overlay_chart
from workbench.training import runs

st.title("Runs")
runs.mark_interrupted()
all_runs = runs.list_runs()
if not all_runs:
    st.info("No runs yet: launch one on the Train page.")
    st.stop()

selected = runs_table(all_runs)
if len(selected) > 1:
    metric = st.segmented_control("Overlay", ["loss", "eval_loss"], default="loss", key="runs_overlay_metric")
    chart = overlay_chart(selected, metric or "loss")
    if chart is None:
        st.caption(f"None of the selected runs logged {metric}.")
    else:
        st.altair_chart(chart, width="stretch")

names = {r["id"]: r["name"] for r in all_runs}
focus = st.selectbox(
    "Run", list(names), format_func=names.get, key="runs_focus", index=list(names).index(selected[0]) if selected else 0
)
run_actions(focus)
live_run(focus)
