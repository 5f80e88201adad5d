"""A worker's log on a page: the lines a user reads (library noise left out), with the raw file named."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from workbench import logs


def show_log(
    label: str, lines: list[str], raw: Path | None, *, expanded: bool = False, last: int = 40, empty: str = "(empty)"
) -> None:
    """An expander with the log's last `last` readable lines, and how many notices were left out."""
    kept, hidden = logs.for_reading(lines)
    with st.expander(label, expanded=expanded):
        st.code("\n".join(kept[-last:]) or empty, language=None)
        if hidden:
            where = f" The whole log: `{raw}`." if raw else ""
            st.caption(f"{hidden} line(s) of harmless library notices left out.{where}")
