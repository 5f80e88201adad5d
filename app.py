"""LoRA Workbench: the navigation frame, page config and the sidebar status."""

from pathlib import Path

import streamlit as st

from ui.sidebar import render_sidebar
from workbench.logs import quiet_known_notices

quiet_known_notices()  # the server's own log: no bitsandbytes kernel notice when a page loads peft

# A file of our own: a `:material/...` page icon makes the browser fetch it from fonts.gstatic.com.
ICON = Path(__file__).resolve().parent / "assets" / "icon.png"
st.set_page_config(page_title="LoRA Workbench", page_icon=str(ICON), layout="wide")

PAGES = [
    st.Page("pages/start.py", title="Start", icon=":material/flag:", default=True),
    st.Page("pages/datasets.py", title="Datasets", icon=":material/dataset:"),
    st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
    st.Page("pages/runs.py", title="Runs", icon=":material/monitoring:"),
    st.Page("pages/compare.py", title="Compare", icon=":material/compare:"),
    st.Page("pages/models.py", title="Models", icon=":material/deployed_code:"),
    st.Page("pages/publish.py", title="Publish", icon=":material/rocket_launch:"),
]

page = st.navigation(PAGES)
render_sidebar()
page.run()
