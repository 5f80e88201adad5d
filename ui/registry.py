"""What the app shows when the registry is locked too long or damaged: the cause, and the way out."""

from __future__ import annotations

import sqlite3

import streamlit as st

from workbench import recovery, store


def show_registry_fault(exc: Exception) -> None:
    """Draw the fault in place of the page (re-raising anything that is not a registry fault)."""
    if isinstance(exc, sqlite3.DatabaseError):
        if not store.is_registry_fault(exc):
            raise exc
        exc = store.explain(exc)
    if isinstance(exc, store.RegistryBusy | store.RegistryFull):
        st.warning(str(exc), icon=":material/lock_clock:")
        if st.button("Try again", key="registry_retry", type="primary"):
            st.rerun()
        return
    if not isinstance(exc, store.RegistryDamaged):
        raise exc
    st.error(str(exc), icon=":material/report:")
    if st.button("Rebuild the registry from the files on disk", key="registry_rebuild", type="primary"):
        with st.spinner("Rebuilding the registry from datasets/ and adapters/…"):
            report = recovery.rebuild()
        st.session_state["registry_rebuilt"] = report.summary()
        st.rerun()


def show_rebuild_report() -> None:
    """Once, after a rebuild: what came back and what did not."""
    summary = st.session_state.pop("registry_rebuilt", None)
    if summary:
        st.success(summary.replace("\n", "  \n"), icon=":material/build:")
