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


def page_link(page: str, label: str, where=None, **query: str) -> None:
    """A link to another page with `?key=value`s (only under app.py's navigation; a page drawn alone, as its
    tests do, shows none)."""
    with contextlib.suppress(StreamlitAPIException):
        (where or st).page_link(page, label=label, query_params=query)


def follow_url(param: str, key: str, options: dict[str, object]) -> None:
    """Before drawing the widget `key`: a `?param=TEXT` that names one of `options` (URL text -> widget value)
    selects it, once per link, so that a reload or a shared link opens the same choice; afterwards the
    widget is the user's (`keep_in_url` writes their choice back)."""
    asked = new_in_url(param, key)
    if asked in options:
        st.session_state[key] = options[asked]


def new_in_url(param: str, key: str) -> str | None:
    """The URL's `?param=` text when this session has not seen it yet for `key` (a reload, a followed link)."""
    asked = st.query_params.get(param)
    seen = f"_url_{key}"
    fresh = asked if asked is not None and st.session_state.get(seen) != asked else None
    st.session_state[seen] = asked
    return fresh


def keep_in_url(param: str, key: str, text: str | None) -> None:
    """After drawing the widget `key`: the URL names its current choice (`text`; None drops the parameter)."""
    if text is None:
        if param in st.query_params:
            del st.query_params[param]
    elif st.query_params.get(param) != text:
        st.query_params[param] = text
    st.session_state[f"_url_{key}"] = text
