import streamlit as st

from ui.placeholder import coming_soon

st.title("Publish")
coming_soon(
    "Turn a trained adapter into an Ollama model that answers with the same chat template and stop tokens "
    "as in the app, verified on held-out prompts, and export GGUF files for llama.cpp and LM Studio.",
    issue="Publish",
)
