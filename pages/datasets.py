"""Datasets: author, import, validate, measure and split training data."""

import streamlit as st

from ui.datasets.draft import get_draft, keep_unsaved
from ui.datasets.editor import render_rows
from ui.datasets.history import render_export, render_history
from ui.datasets.importer import render_import
from ui.datasets.insights import render_split, render_stats
from ui.datasets.new import render_new
from ui.frame import require_app_frame
from ui.links import follow_url, keep_in_url
from ui.text import local_time
from workbench.data import repository

require_app_frame()

NEW, IMPORT = "New dataset…", "Import a file…"
SECTIONS = {
    "Rows": render_rows,
    "Statistics": render_stats,
    "Split": render_split,
    "History": render_history,
    "Export": render_export,
}

st.title("Datasets")
repository.ensure_samples()
names = repository.dataset_names()
follow_url("dataset", "ds_selected", {name: name for name in names})
if "ds_goto" in st.session_state:
    st.session_state["ds_selected"] = st.session_state.pop("ds_goto")
if st.session_state.get("ds_selected") not in [*names, NEW, IMPORT]:
    st.session_state["ds_selected"] = names[0] if names else NEW
pick, create, bring = st.columns([4, 1, 1], vertical_alignment="bottom")
choice = pick.selectbox("Dataset", [*names, NEW, IMPORT], key="ds_selected")
for column, target, label, icon in (
    (create, NEW, "New dataset", ":material/add:"),
    (bring, IMPORT, "Import a file", ":material/upload_file:"),
):
    if column.button(label, icon=icon, key=f"ds_action_{label}", disabled=choice == target, width="stretch"):
        st.session_state["ds_goto"] = target
        st.rerun()
keep_in_url("dataset", "ds_selected", choice if choice in names else None)

if choice == NEW:
    render_new()
elif choice == IMPORT:
    render_import()
else:
    draft = get_draft(choice)
    st.caption(f"{draft.format} rows · revision {draft.base}{' · unsaved changes' if draft.dirty else ''}")
    if draft.restored and draft.dirty:
        st.info(
            f"Your unsaved changes to {draft.name} (kept {local_time(draft.restored)}) are back: save them, or "
            "discard them.",
            icon=":material/restore:",
        )
    section = st.segmented_control(
        "Section", list(SECTIONS), default="Rows", key="ds_section", label_visibility="collapsed"
    )
    SECTIONS[section or "Rows"](draft)
    keep_unsaved(draft)
