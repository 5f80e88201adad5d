"""The base-model picker shared by every page that chooses a base."""

from __future__ import annotations

import streamlit as st

from workbench.models import catalog
from workbench.models.loading import list_local_models

OTHER = "Another local folder or Hugging Face id…"
DEFAULT_BASE = "smollm2-135m-instruct"


def _prepared() -> list[str]:
    """Prepared models, the real default first when ready, then the demo."""
    prepared = [m["name"] for m in list_local_models()]
    if "demo" not in prepared:
        prepared.append("demo")
    return sorted(prepared, key=lambda n: (n != DEFAULT_BASE, n != "demo", n))


def default_base() -> str:
    """What `base_model_picker` offers first."""
    return _prepared()[0]


def base_model_picker(label: str, key: str) -> str:
    """Prepared models first (the real default when ready, then the demo), the catalogue's others after."""
    prepared = _prepared()
    others = [n for n in catalog.names() if n not in prepared]
    names = {n: n if n != "demo" else "demo (tiny, built locally)" for n in prepared}
    names.update({n: f"{n} (not prepared yet)" for n in others})
    choice = st.selectbox(label, [*names, OTHER], key=key, format_func=lambda n: names.get(n, n))
    if choice in others:
        st.warning(
            f"{choice} is not prepared yet: prepare it on the Models page (download and convert), then pick it here.",
            icon=":material/download:",
        )
    if choice != OTHER:
        return choice
    typed = st.text_input(
        "Folder or model id", key=f"{key}_other", placeholder="/models/my-llama or HuggingFaceTB/SmolLM2-135M-Instruct"
    )
    return typed.strip() or "demo"
