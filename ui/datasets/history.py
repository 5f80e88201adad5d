"""Revisions of a dataset: the list, a diff of two, restore, and export."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ui.datasets.draft import Draft, discard_draft
from workbench.data import formats, repository
from workbench.data.records import row_text
from workbench.data.split import apply_split


def render_history(draft: Draft) -> None:
    revisions = repository.revisions(draft.name)
    table = pd.DataFrame(
        [
            {
                "revision": r.n,
                "saved": r.created,
                "rows": r.rows,
                "note": r.note,
                "sha256": r.sha256[:12],
                "split": f"{len(r.split.train)}/{len(r.split.validation)}" if r.split else "",
            }
            for r in revisions
        ]
    )
    st.dataframe(table, hide_index=True, width="stretch")
    if len(revisions) >= 2:
        _diff(draft, [r.n for r in revisions])
    _restore(draft, [r.n for r in revisions])


def _diff(draft: Draft, numbers: list[int]) -> None:
    st.subheader("Compare two revisions")
    left, right = st.columns(2)
    a = left.selectbox("From revision", numbers, index=1, key="ds_diff_a")
    b = right.selectbox("To revision", numbers, index=0, key="ds_diff_b")
    diff = repository.diff_revisions(draft.name, a, b)
    if diff.unchanged:
        st.caption("Same rows in both revisions.")
        return
    st.caption(f"{len(diff.added)} added, {len(diff.removed)} removed, {len(diff.changed)} changed")
    rows_a, rows_b = repository.load_rows(draft.name, a), repository.load_rows(draft.name, b)
    lines = (
        [
            {
                "change": "changed",
                f"r{a}": f"{i + 1}: {row_text(rows_a[i], draft.format)}",
                f"r{b}": f"{j + 1}: {row_text(rows_b[j], draft.format)}",
            }
            for i, j in diff.changed
        ]
        + [
            {"change": "removed", f"r{a}": f"{i + 1}: {row_text(rows_a[i], draft.format)}", f"r{b}": ""}
            for i in diff.removed
        ]
        + [
            {"change": "added", f"r{a}": "", f"r{b}": f"{j + 1}: {row_text(rows_b[j], draft.format)}"}
            for j in diff.added
        ]
    )
    st.dataframe(pd.DataFrame(lines[:500]), hide_index=True, width="stretch")


def _restore(draft: Draft, numbers: list[int]) -> None:
    st.subheader("Restore")
    older = [n for n in numbers if n != draft.base]
    if not older:
        st.caption("Only one revision so far.")
        return
    left, right = st.columns([2, 1])
    n = left.selectbox("Revision to restore", older, key="ds_restore_n")
    if draft.dirty:
        left.warning("Restoring replaces your unsaved edits.")
    confirm = right.checkbox(f"Yes, restore revision {n}", key=f"ds_restore_confirm_{draft.base}")
    if right.button("Restore", key="ds_restore_go", disabled=not confirm):
        try:
            revision = repository.restore_revision(draft.name, n, draft.base)
        except repository.DatasetError as exc:
            st.error(str(exc))
            return
        discard_draft(draft.name)  # the restored revision replaces the unsaved edits, on disk too
        st.toast(f"Revision {n} restored as revision {revision.n}; nothing was deleted.", icon=":material/restore:")
        st.rerun()


def render_export(draft: Draft) -> None:
    revision = repository.get_revision(draft.name, draft.base)
    if draft.dirty:
        st.info(f"Exports the saved revision {draft.base}; save first to include your edits.", icon=":material/info:")
    left, right = st.columns(2)
    target = left.selectbox(
        "Format",
        formats.export_targets(draft.format),
        key="ds_export_format",
        format_func=lambda f: {
            "chat": "chat (OpenAI messages)",
            "sharegpt": "ShareGPT",
            "completion": "prompt/completion",
            "csv": "CSV for a spreadsheet (formulas neutralised)",
            "preference": "TRL preference pairs (prompt, chosen, rejected)",
            "feedback": "TRL feedback rows (prompt, completion, label)",
        }.get(f, f),
    )
    parts = ["all rows"] + (["train", "validation"] if revision.split else [])
    which = right.selectbox("Rows", parts, key="ds_export_rows")
    rows = repository.read_revision_rows(revision)
    if which != "all rows":
        train, validation = apply_split(rows, revision.split)
        rows = train if which == "train" else validation
    try:
        exported = formats.export_rows(rows, draft.format, target, file=f"{draft.name}.jsonl")
    except formats.ExportError as exc:
        st.error(str(exc))
        return
    suffix = "" if which == "all rows" else f"-{which}"
    csv = target == "csv"
    st.download_button(
        f"Download {len(exported)} rows as {'CSV' if csv else 'JSONL'}",
        formats.dumps_export(exported, target),
        file_name=f"{draft.name}-r{revision.n}{suffix}-{target}{formats.export_suffix(target)}",
        mime="text/csv" if csv else "application/jsonl",
        key="ds_export_download",
    )
