"""Links between pages: a run's own view on the Runs page."""

from __future__ import annotations

import contextlib

import streamlit as st
from streamlit.errors import StreamlitAPIException


def run_view_link(run_id: int, label: str = "Open its view", where=None) -> None:
    """A link to the run's view (only under app.py's navigation, where that page exists; a page or the sidebar
    drawn alone, as their tests do, has no such page and shows no link)."""
    with contextlib.suppress(StreamlitAPIException):
        (where or st).page_link(
            "pages/runs.py", label=label, icon=":material/monitoring:", query_params={"run": str(run_id)}
        )
