"""Experiments: a sweep's runs in one table ranked by the held-out score, live while they go; their curves;
publish the best or compare the best two. `?experiment=NAME` opens one."""

import streamlit as st

from ui.experiments.view import experiment_view
from ui.frame import require_app_frame
from ui.links import follow_url, keep_in_url, page_link
from workbench.experiments import group

require_app_frame()

st.title("Experiments")
experiments = group.list_experiments()
if not experiments:
    st.info(
        "No experiment yet. On the Train page, open **Sweep** below Launch: vary up to three settings (learning "
        "rate, LoRA rank, epochs, …) and the runs queue as one experiment, ranked here by their held-out score. "
        "From a terminal: `python -m workbench train --dataset NAME --sweep learning_rate=5e-4,1e-3,2e-3 --wait`."
    )
    page_link("pages/train.py", "Go to the Train page")
    st.stop()

names = [e["name"] for e in experiments]
follow_url("experiment", "experiments_pick", {name: name for name in names})
if st.session_state.get("experiments_pick") not in names:
    st.session_state["experiments_pick"] = names[0]
summary = {e["name"]: f"{e['name']} — {e['runs']} runs, {e['status']}" for e in experiments}
name = st.selectbox("Experiment", names, format_func=summary.get, key="experiments_pick")
keep_in_url("experiment", "experiments_pick", name)
experiment_view(name)
