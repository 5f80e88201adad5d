"""Rows of a dataset: search, filter, page, edit in a table or a form, add, duplicate, delete, save.

Only one page of rows is ever rendered, so 100,000-row datasets stay fast.
"""

from __future__ import annotations

import copy
import math

import pandas as pd
import streamlit as st

from ui.datasets.draft import Draft, discard_draft, save_draft
from ui.datasets.insights import length_warning
from ui.datasets.pairs import PAIR_COLUMNS, pair_form, pair_record
from ui.datasets.turns import add_turn, turn_fields
from workbench.data import formats, repository
from workbench.data.records import empty_row
from workbench.data.split import PROPOSED_SEED, SplitSpec, holdout_tradeoff, proposed_holdout

FILTERS = ("All rows", "Rows with errors", "Rows with warnings")
PAGE_SIZES = (25, 50, 100, 200)
ALPACA_COLUMNS = ("instruction", "input", "output", "system")

BLANK_FIELDS = {
    "alpaca": "the instruction and the output",
    "preference": "the prompt and both answers",
    "feedback": "the prompt and the answer",
}


def render_rows(draft: Draft) -> None:
    problems = draft.problems()
    indices = _filtered_indices(draft, problems)
    page_indices = _pager(draft, indices)
    # The state is set, never the widget's default too: Streamlit warns when both are given.
    if "ds_view_goto" in st.session_state:
        st.session_state["ds_view"] = st.session_state.pop("ds_view_goto")
    st.session_state.setdefault("ds_view", "Table")
    view = st.segmented_control("View", ["Table", "Form"], key="ds_view")
    if view == "Form":
        _form(draft, page_indices)
    else:
        _table(draft, page_indices)
    _row_buttons(draft)
    _problems_panel(draft, problems)
    _save_bar(draft)


def _filtered_indices(draft: Draft, problems: list[formats.Problem]) -> list[int]:
    left, right = st.columns([3, 2])
    query = left.text_input("Search rows", key=f"ds_search_{draft.name}", placeholder="words in any field")
    which = right.selectbox("Show", FILTERS, key=f"ds_filter_{draft.name}")
    indices = range(len(draft.rows))
    if which != "All rows":
        severity = "error" if which == "Rows with errors" else "warning"
        flagged = {p.line - 1 for p in problems if p.severity == severity}
        indices = [i for i in indices if i in flagged]
    if query.strip():
        needle = query.strip().lower()
        texts = draft.search_texts()
        indices = [i for i in indices if needle in texts[i]]
    return list(indices)


def _pager(draft: Draft, indices: list[int]) -> list[int]:
    left, middle, right = st.columns([1, 1, 3])
    size = left.selectbox("Rows per page", PAGE_SIZES, index=1, key="ds_page_size")
    pages = max(1, math.ceil(len(indices) / size))
    page = middle.number_input("Page", min_value=1, max_value=pages, value=1, step=1, key=f"ds_page_{draft.name}")
    start = (int(page) - 1) * size
    shown = indices[start : start + size]
    filtered = f" (of {len(draft.rows)})" if len(indices) != len(draft.rows) else ""
    right.caption(
        f"Rows {start + 1 if shown else 0}–{start + len(shown)} of {len(indices)}{filtered} · "
        f"page {int(page)} of {pages}"
    )
    return shown


def _table(draft: Draft, page_indices: list[int]) -> None:
    frame = _page_frame(draft, page_indices)
    editable = draft.format == "alpaca"
    disabled = ["#"] + ([] if editable else [c for c in frame.columns if c not in ("#", "select")])
    edited = st.data_editor(
        frame,
        key=f"ds_table_{draft.name}_{draft.version}_{page_indices[0] if page_indices else 0}",
        hide_index=True,
        width="stretch",
        num_rows="fixed",
        disabled=disabled,
        column_config={
            "select": st.column_config.CheckboxColumn("select", help="select rows to duplicate or delete", width=40),
            "#": st.column_config.NumberColumn("#", help="line in the dataset file", width=60),
            # Text columns share the width: the short system column must not shrink to a letter while the
            # output runs off screen.
            **{
                column: st.column_config.TextColumn(column, width="medium")
                for column in frame.columns
                if column not in ("#", "select")
            },
        },
    )
    st.session_state["ds_selected_rows"] = [int(n) - 1 for n in edited.loc[edited["select"], "#"]]
    if editable and _apply_table_edits(draft, frame, edited):
        draft.touch()
        st.rerun()
    if not editable:
        what = (
            "Pairs" if draft.format == "preference" else "Feedback rows" if draft.format == "feedback" else "Chat rows"
        )
        st.caption(f"{what} are edited in the Form view (one text box per turn and answer).")


def _page_frame(draft: Draft, page_indices: list[int]) -> pd.DataFrame:
    records = []
    for i in page_indices:
        row = draft.rows[i]
        record = {"#": i + 1, "select": False}
        if draft.format == "alpaca":
            record.update({c: _as_text(row.get(c)) for c in ALPACA_COLUMNS})
        elif draft.format in PAIR_COLUMNS:
            record.update(pair_record(row, draft.format))
        else:
            messages = row.get("messages") or []
            record["turns"] = len(messages)
            record["first user message"] = next(
                (_as_text(m.get("content")) for m in messages if isinstance(m, dict) and m.get("role") == "user"), ""
            )
            record["last assistant message"] = next(
                (
                    _as_text(m.get("content"))
                    for m in reversed(messages)
                    if isinstance(m, dict) and m.get("role") == "assistant"
                ),
                "",
            )
        records.append(record)
    if draft.format in PAIR_COLUMNS:
        named = PAIR_COLUMNS[draft.format]
    elif draft.format == "alpaca":
        named = list(ALPACA_COLUMNS)
    else:
        named = ["turns", "first user message", "last assistant message"]
    columns = ["#", "select", *named]
    return pd.DataFrame.from_records(records, columns=columns)


def _as_text(value) -> str:
    return "" if value is None else value if isinstance(value, str) else str(value)


def _apply_table_edits(draft: Draft, before: pd.DataFrame, after: pd.DataFrame) -> bool:
    changed = False
    for (_, old), (_, new) in zip(before.iterrows(), after.iterrows(), strict=True):
        row = draft.rows[int(old["#"]) - 1]
        for column in ALPACA_COLUMNS:
            value = "" if pd.isna(new[column]) else str(new[column])
            if value != old[column]:
                if column == "system" and not value and "system" not in row:
                    continue
                row[column] = value
                changed = True
    return changed


def _form(draft: Draft, page_indices: list[int]) -> None:
    if not draft.rows:
        st.info("No rows yet: add one below.")
        return
    row_key = f"ds_form_row_{draft.name}"
    goto = st.session_state.pop("ds_form_goto", None)
    first_on_page = page_indices[0] + 1 if page_indices else 1
    if goto is None and st.session_state.get("ds_form_page_first") != first_on_page:
        goto = first_on_page  # the page changed: follow it
    st.session_state["ds_form_page_first"] = first_on_page
    if goto is not None or st.session_state.get(row_key, 0) > len(draft.rows):
        st.session_state[row_key] = min(goto or 1, len(draft.rows))
    number = st.number_input("Row (line in the file)", min_value=1, max_value=len(draft.rows), step=1, key=row_key)
    index = int(number) - 1
    row = draft.rows[index]
    key = f"ds_form_{draft.name}_{index}_{draft.version}"
    if draft.format == "alpaca":
        _alpaca_form(draft, index, row, key)
    elif draft.format in PAIR_COLUMNS:
        pair_form(draft, row, key)
    else:
        _chat_form(draft, index, row, key)
    _row_problems(draft, index, row)
    left, right = st.columns(2)
    if left.button("Duplicate this row", key=f"{key}_dup"):
        draft.rows.insert(index + 1, copy.deepcopy(row))
        st.session_state["ds_form_goto"] = index + 2
        draft.touch()
        st.rerun()
    if right.button("Delete this row", key=f"{key}_del", type="secondary"):
        del draft.rows[index]
        st.session_state["ds_form_goto"] = max(1, min(index + 1, len(draft.rows)))
        draft.touch()
        st.rerun()


def _row_problems(draft: Draft, index: int, row: dict) -> None:
    """A row just added is blank by design: say what to fill in, not a red error per empty field."""
    if row == empty_row(draft.format):
        fields = BLANK_FIELDS.get(draft.format, "the user message and the reply")
        st.info(f"Row {index + 1} is new and blank: write {fields}, then Apply changes.", icon=":material/edit:")
        return
    for problem in formats.validate_row(row, draft.format, draft.file, index + 1):
        (st.error if problem.severity == "error" else st.warning)(str(problem))


def _alpaca_form(draft: Draft, index: int, row: dict, key: str) -> None:
    with st.form(key):
        values = {
            "instruction": st.text_area("Instruction", _as_text(row.get("instruction")), height=100),
            "input": st.text_area("Input (optional context)", _as_text(row.get("input")), height=180),
            "output": st.text_area("Output (the answer to learn)", _as_text(row.get("output")), height=180),
            "system": st.text_area("System prompt (optional)", _as_text(row.get("system")), height=68),
        }
        if st.form_submit_button("Apply changes", type="primary"):
            for field, value in values.items():
                if field == "system" and not value and "system" not in row:
                    continue
                row[field] = value
            draft.touch()
            st.rerun()


def _chat_form(draft: Draft, index: int, row: dict, key: str) -> None:
    messages = row.get("messages") if isinstance(row.get("messages"), list) else []
    with st.form(key):
        edited = turn_fields(messages, key)
        if st.form_submit_button("Apply changes", type="primary"):
            row["messages"] = edited
            draft.touch()
            st.rerun()
    if st.button("Add a message", key=f"{key}_add"):
        add_turn(draft, row, "messages")


def _row_buttons(draft: Draft) -> None:
    selected = [i for i in st.session_state.get("ds_selected_rows", []) if i < len(draft.rows)]
    add, duplicate, delete = st.columns(3)
    if add.button("Add row", key="ds_add_row", icon=":material/add:"):
        draft.rows.append(empty_row(draft.format))
        st.session_state["ds_form_goto"] = len(draft.rows)
        st.session_state["ds_view_goto"] = "Form"
        draft.touch()
        st.rerun()
    if duplicate.button(f"Duplicate selected ({len(selected)})", key="ds_dup_rows", disabled=not selected):
        for i in sorted(selected, reverse=True):
            draft.rows.insert(i + 1, copy.deepcopy(draft.rows[i]))
        draft.touch()
        st.rerun()
    if delete.button(f"Delete selected ({len(selected)})", key="ds_del_rows", disabled=not selected):
        for i in sorted(selected, reverse=True):
            del draft.rows[i]
        draft.touch()
        st.rerun()


def _problems_panel(draft: Draft, problems: list[formats.Problem]) -> None:
    errors = sum(p.severity == "error" for p in problems)
    warnings = len(problems) - errors
    if not draft.rows:
        st.info("No rows yet: add one (Add row), or import a file.", icon=":material/info:")
        return
    if not problems:
        st.success(f"Valid: {len(draft.rows)} rows, no problems.", icon=":material/check_circle:")
        return
    label = f"Validation: {errors} error(s), {warnings} warning(s)"
    with st.expander(label, expanded=errors > 0):
        st.code(
            "\n".join(str(p) for p in problems[:500]) + ("\n…" if len(problems) > 500 else ""),
            language=None,
            wrap_lines=True,
        )
        st.caption(
            "Rows with errors can still be saved, but training refuses them: fix them in the Form view "
            "(filter on 'Rows with errors')."
        )


NOTE_SAVED = "ds_note_saved"  # the dataset whose revision note went into a save: its box starts empty again


def _save_bar(draft: Draft) -> None:
    st.divider()
    conflict = st.session_state.get("ds_conflict")
    if conflict and conflict["name"] == draft.name:
        _conflict_panel(draft, conflict["message"])
    status = f"**Unsaved changes** since revision {draft.base}" if draft.dirty else f"Saved as revision {draft.base}"
    left, middle, right = st.columns([3, 1, 1])
    note_key = f"ds_note_{draft.name}"
    if st.session_state.pop(NOTE_SAVED, None) == draft.name:
        # Emptied before the box is drawn: removing a widget's key after a save left its text in the browser.
        st.session_state[note_key] = ""
    note = left.text_input("Revision note", key=note_key, placeholder="what changed (optional)")
    left.caption(status)
    holdout = _holdout_on_save(draft, left) if draft.dirty else None
    if middle.button("Save", key="ds_save", type="primary", disabled=not draft.dirty, icon=":material/save:"):
        try:
            revision = save_draft(draft, note)
            if holdout is not None:
                repository.make_split(draft.name, revision.n, holdout)
            st.session_state.pop("ds_conflict", None)
            st.session_state[NOTE_SAVED] = draft.name  # the note belonged to that save
            st.toast(f"Saved revision {revision.n} ({revision.rows} rows)", icon=":material/save:")
            st.rerun()
        except repository.RevisionConflict as exc:
            st.session_state["ds_conflict"] = {"name": draft.name, "message": str(exc)}
            st.rerun()
    if right.button("Discard changes", key="ds_discard", disabled=not draft.dirty):
        discard_draft(draft.name)
        st.rerun()
    if not draft.dirty:
        length_warning(draft)


def _holdout_on_save(draft: Draft, where) -> SplitSpec | None:
    """The split the new revision gets: the saved revision's own way of splitting, else a proposed tenth
    (at least 2 rows); shown, and the user may turn it off. A new revision's row indices differ, so the old
    split cannot simply carry over."""
    saved = repository.get_revision(draft.name, draft.base).split
    if saved is not None:
        spec, why = saved.spec, "as the saved revision was split"
    elif proposed_holdout(len(draft.rows)):
        spec, why = SplitSpec(seed=PROPOSED_SEED, validation_count=proposed_holdout(len(draft.rows))), "proposed"
    else:
        return None
    try:
        size = spec.validation_size(len(draft.rows))
    except ValueError:  # the old way no longer fits the rows (fewer rows than it holds out)
        return None
    if size == 0:
        return None
    keep = where.checkbox(
        f"Hold out {size} of {len(draft.rows)} rows for validation ({why}, seed {spec.seed})",
        value=True,
        key=f"ds_save_holdout_{draft.name}",
        help="Runs on this revision then get an eval loss and a held-out score; change it later on the Split tab.",
    )
    if keep and (tradeoff := holdout_tradeoff(len(draft.rows), size)):
        where.caption(tradeoff)
    return spec if keep else None


def _conflict_panel(draft: Draft, message: str) -> None:
    st.error(message, icon=":material/warning:")
    left, right = st.columns([3, 1])
    new_name = left.text_input(
        "Save your rows as a new dataset named", value=f"{draft.name}-copy", key="ds_conflict_name"
    )
    if right.button("Save as new dataset", key="ds_conflict_save_as"):
        try:
            repository.create_dataset(new_name, draft.format, draft.rows, note=f"copy of {draft.name} (conflict)")
        except repository.DatasetError as exc:
            st.error(str(exc))
            return
        st.session_state.pop("ds_conflict", None)
        st.session_state["ds_goto"] = new_name
        st.rerun()
