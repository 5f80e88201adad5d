"""Runs: one run's own view on top (live charts, actions), then every run with status, base, dataset revision,
duration and losses; compare, clone, delete; import an adapter trained elsewhere. `?run=ID` (the sidebar's
links) opens a run's view."""

import streamlit as st

from ui.frame import require_app_frame
from ui.links import follow_url, keep_in_url
from ui.train.history import run_actions, runs_table
from ui.train.import_adapter import FOCUS_NEXT, IMPORT_JOB, import_panel
from ui.train.live import live_run, overlay_chart
from workbench.training import runs

require_app_frame()

st.title("Runs")
runs.mark_interrupted()
all_runs = runs.list_runs()
if not all_runs:
    st.info("No runs yet: launch one on the Train page, or import an adapter trained elsewhere.")
    import_panel(expanded=True)
    st.stop()

names = {r["id"]: r["name"] for r in all_runs}
follow_url("run", "runs_focus", {str(run_id): run_id for run_id in names})
if (opened := st.session_state.pop(FOCUS_NEXT, None)) in names:  # an import just finished: its run
    st.session_state["runs_focus"] = opened
if st.session_state.get("runs_focus") not in names:
    st.session_state.pop("runs_focus", None)
focus = st.selectbox("Run", list(names), format_func=names.get, key="runs_focus")
keep_in_url("run", "runs_focus", str(focus))
run_actions(focus)
live_run(focus)

st.divider()
st.subheader("All runs")
selected = runs_table(all_runs)
if len(selected) > 1:
    metric = st.segmented_control("Overlay", ["loss", "eval_loss"], default="loss", key="runs_overlay_metric")
    chart = overlay_chart(selected, metric or "loss")
    if chart is None:
        st.caption(f"None of the selected runs logged {metric}.")
    else:
        st.altair_chart(chart, width="stretch")
st.divider()
import_panel(expanded=IMPORT_JOB in st.session_state)  # open while it shows an import of this session
