"""Create an empty dataset to fill row by row."""

import streamlit as st

from workbench.data import repository

FORMAT_LABELS = {
    "alpaca": "Instruction pairs (instruction / input / output)",
    "chat": "Chat conversations (system / user / assistant messages)",
    "preference": "Preference pairs (a prompt, the chosen and the rejected answer)",
    "feedback": "Feedback (a prompt, an answer, good or bad)",
}


def render_new() -> None:
    with st.form("ds_new_form"):
        name = st.text_input("Name", key="ds_new_name", placeholder="support-faq")
        fmt = st.radio("Rows", list(FORMAT_LABELS), format_func=FORMAT_LABELS.get, key="ds_new_format")
        created = st.form_submit_button("Create dataset", type="primary")
    if created:
        try:
            repository.create_dataset(name.strip(), fmt)
        except repository.DatasetError as exc:
            st.error(str(exc))
            return
        st.session_state["ds_goto"] = name.strip()
        st.rerun()
