"""Widget choices that outlive a visit to another page.

Streamlit forgets a widget's value when its page is not drawn; a page that should keep its form restores
the values it remembered before drawing the widgets, and remembers them after.
"""

from __future__ import annotations

import streamlit as st

KEPT = "_kept_widgets"


def restore(prefixes: tuple[str, ...]) -> None:
    """Put back the remembered values of widgets whose keys start with `prefixes` (value widgets only)."""
    for key, value in st.session_state.get(KEPT, {}).items():
        if key.startswith(prefixes) and key not in st.session_state:
            st.session_state[key] = value


def remember(prefixes: tuple[str, ...]) -> None:
    kept = st.session_state.setdefault(KEPT, {})
    kept.update({key: st.session_state[key] for key in list(st.session_state) if str(key).startswith(prefixes)})
