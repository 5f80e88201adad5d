"""Every page runs inside app.py's frame (page config, navigation, sidebar), even from a deep link."""

from __future__ import annotations

import runpy
from pathlib import Path

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

APP = Path(__file__).resolve().parents[1] / "app.py"


def require_app_frame() -> None:
    """Until app.py has called `st.navigation` once, Streamlit treats `pages/` as its old file-based pages:
    a fresh server's first request for `/train` runs the page alone, with the file list as navigation and
    no sidebar. Run app.py instead, which runs this page again inside its frame, in this same run (a rerun
    would drop the click that brought the user here)."""
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        runpy.run_path(str(APP), run_name="__main__")
        st.stop()
