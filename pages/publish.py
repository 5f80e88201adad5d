"""Publish: a trained adapter -> an Ollama model that answers like it did in the app, verified."""

import streamlit as st

from ui.publish_page import (
    connection_panel,
    modelfile_editor,
    plan_form,
    progress_panel,
    publish_button,
    publishable_runs,
    published_list,
)

st.title("Publish")
st.caption("Creates an Ollama model from a run with the chat template, stop tokens and system prompt it trained "
           "with, then checks it: `show` must list them, one chat must answer, and held-out prompts are replayed "
           "through Ollama and the app and compared.")
host, server = connection_panel()
candidates = publishable_runs()
if not candidates:
    st.info("No run has an adapter yet: train one on the Train page first.", icon=":material/info:")
else:
    names = {r["id"]: f"{r['name']} ({r['status']}, {r['base_model']})" for r in candidates}
    run_id = st.selectbox("Run", list(names), format_func=names.get, key="publish_run")
    run = next(r for r in candidates if r["id"] == run_id)
    spec = plan_form(run, host, server)
    if spec is not None:
        spec = modelfile_editor(spec)
    if spec is not None:
        publish_button(spec, server is not None)
progress_panel()
st.subheader("Published models")
published_list()
