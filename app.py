"""LoRA Workbench: the navigation frame, page config and the sidebar status."""

import sqlite3
from pathlib import Path

import streamlit as st

from ui.registry import show_rebuild_report, show_registry_fault
from ui.sidebar import render_sidebar
from workbench.logs import quiet_known_notices
from workbench.store import RegistryError

quiet_known_notices()  # the server's own log: no bitsandbytes kernel notice when a page loads peft

# A file of our own: a `:material/...` page icon makes the browser fetch it from fonts.gstatic.com.
ICON = Path(__file__).resolve().parent / "assets" / "icon.png"
st.set_page_config(page_title="LoRA Workbench", page_icon=str(ICON), layout="wide")

PAGES = [
    st.Page("pages/start.py", title="Start", icon=":material/flag:", default=True),
    st.Page("pages/datasets.py", title="Datasets", icon=":material/dataset:"),
    st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
    st.Page("pages/runs.py", title="Runs", icon=":material/monitoring:"),
    st.Page("pages/experiments.py", title="Experiments", icon=":material/stacks:"),
    st.Page("pages/compare.py", title="Compare", icon=":material/compare:"),
    st.Page("pages/models.py", title="Models", icon=":material/deployed_code:"),
    st.Page("pages/publish.py", title="Publish", icon=":material/rocket_launch:"),
]

page = st.navigation(PAGES)
show_rebuild_report()
try:
    render_sidebar()
    page.run()
except (RegistryError, sqlite3.DatabaseError) as exc:  # locked too long or damaged: say so, offer the way out
    show_registry_fault(exc)
