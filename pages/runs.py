import streamlit as st

from ui.placeholder import coming_soon

st.title("Runs")
coming_soon(
    "Every run with its status, base model, dataset revision, duration and final losses; overlay the loss "
    "curves of several runs, clone a run's config, or delete a run.",
    issue="Training",
)
