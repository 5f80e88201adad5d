"""Publish: a trained adapter -> an Ollama model that answers like it did in the app, verified; or GGUF files."""

import streamlit as st

from ui.frame import require_app_frame
from ui.links import follow_url, keep_in_url
from ui.publish_page import (
    connection_panel,
    exports_list,
    gguf_form,
    modelfile_editor,
    plan_form,
    progress_panel,
    publish_button,
    publishable_runs,
    published_list,
    unfinished_note,
)

require_app_frame()

st.title("Publish")
st.caption(
    "To Ollama: a model with the chat template, stop tokens and system prompt the run trained with, then "
    "checked: `show` must list them, one chat must answer, and held-out prompts are replayed through Ollama "
    "and the app and compared. As GGUF: files for llama.cpp, LM Studio or Ollama, with a Modelfile."
)
candidates = publishable_runs()
run = None
if not candidates:
    st.info("No run has an adapter yet: train one on the Train page first.", icon=":material/info:")
else:
    names = {r["id"]: f"{r['name']} ({r['status']}, {r['base_model']})" for r in candidates}
    follow_url("run", "publish_run", {str(r["id"]): r["id"] for r in candidates})
    if st.session_state.get("publish_run") not in names:
        st.session_state.pop("publish_run", None)
    run_id = st.selectbox("Run", list(names), format_func=names.get, key="publish_run")
    keep_in_url("run", "publish_run", str(run_id))
    run = next(r for r in candidates if r["id"] == run_id)
if note := unfinished_note():
    st.caption(note)
progress_panel()


def ollama_tab() -> None:
    host, server = connection_panel()
    if run is not None:
        spec = plan_form(run, host, server)
        if spec is not None:
            spec = modelfile_editor(spec)
        if spec is not None:
            publish_button(spec, server is not None)
    st.subheader("Published models")
    published_list()


def gguf_tab() -> None:
    if run is not None:
        gguf_form(run)
    st.subheader("GGUF exports")
    exports_list()


# Keyed, rerun on change: the chosen tab survives the reruns of a background job, and only it is computed
# (the Ollama tab asks the server; the GGUF tab does not need it).
to_ollama, to_gguf = st.tabs(["Ollama", "GGUF export"], key="publish_tab", on_change="rerun")
for tab, body in ((to_ollama, ollama_tab), (to_gguf, gguf_tab)):
    if tab.open:
        with tab:
            body()
