"""The base-model picker shared by every page that chooses a base."""

from __future__ import annotations

import streamlit as st

from workbench.models.loading import list_local_models

OTHER = "Another local folder or Hugging Face id…"


def base_model_picker(label: str, key: str) -> str:
    """Prepared models first (the demo model is always offered), then free entry."""
    names = [m["name"] for m in list_local_models()]
    if "demo" not in names:
        names.insert(0, "demo")
    choice = st.selectbox(label, [*names, OTHER], key=key,
                          format_func=lambda n: "demo (tiny, built locally)" if n == "demo" else n)
    if choice != OTHER:
        return choice
    typed = st.text_input("Folder or model id", key=f"{key}_other",
                          placeholder="/models/my-llama or HuggingFaceTB/SmolLM2-135M-Instruct")
    return typed.strip() or "demo"
