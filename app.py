"""LoRA Workbench: the navigation frame, page config and the sidebar status."""

import streamlit as st

from ui.sidebar import render_sidebar

st.set_page_config(page_title="LoRA Workbench", page_icon=":material/science:", layout="wide")

PAGES = [
    st.Page("pages/datasets.py", title="Datasets", icon=":material/dataset:", default=True),
    st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
    st.Page("pages/runs.py", title="Runs", icon=":material/monitoring:"),
    st.Page("pages/compare.py", title="Compare", icon=":material/compare:"),
    st.Page("pages/models.py", title="Models", icon=":material/deployed_code:"),
    st.Page("pages/publish.py", title="Publish", icon=":material/rocket_launch:"),
]

page = st.navigation(PAGES)
render_sidebar()
page.run()
