"""Import a file (upload or path): detect the format, map columns, validate, fix or skip bad rows, import.

Nothing is stored until the user clicks Import; the state of an import in progress lives under `imp_*`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
from pathlib import Path

import pandas as pd
import streamlit as st

from ui.datasets.draft import forget_draft
from workbench.data import formats, repository
from workbench.data.records import row_text
from workbench.data.split import PROPOSED_SEED, SplitSpec, holdout_tradeoff, proposed_holdout

UPLOAD_TYPES = ["jsonl", "json", "csv", "tsv", "parquet", "txt"]
MAPPED_FIELDS = ("instruction", "input", "output", "system", "chosen", "rejected")
NONE_COLUMN = "(none)"


def render_import() -> None:
    source = _read_source()
    if source is None:
        return
    data, file = source
    fmt, mapping = _format_choice(data, file)
    if fmt is None:
        return
    try:
        result = _parse(data, file, fmt, mapping)
    except formats.FormatError as exc:
        st.error(str(exc))
        return
    result = _with_fixes(result, _fix_key(data, fmt, mapping))
    _summary(result)
    rows = _fix_or_skip(result, _fix_key(data, fmt, mapping))
    if rows is not None:
        _import_target(result, rows)


def _read_source() -> tuple[bytes, str] | None:
    how = st.radio("Source", ["Upload a file", "A path on this machine"], horizontal=True, key="imp_source")
    if how == "Upload a file":
        upload = st.file_uploader(
            "JSONL, JSON, CSV, TSV or Parquet (or a .txt of any of the text ones)", type=UPLOAD_TYPES, key="imp_upload"
        )
        if upload is None:
            return None
        try:
            formats.check_import_size(upload.size, upload.name)
        except formats.FormatError as exc:
            st.error(str(exc))
            return None
        return upload.getvalue(), upload.name
    path_text = st.text_input("Path", key="imp_path", placeholder="/home/me/data/support.jsonl")
    if not path_text.strip():
        return None
    path = Path(path_text.strip()).expanduser()
    try:
        return formats.read_import_file(path), path.name
    except (formats.FormatError, OSError) as exc:
        st.error(str(exc))
        return None


def _format_choice(data: bytes, file: str) -> tuple[str | None, formats.ColumnMapping | None]:
    try:
        detected = formats.detect_format(data, file)
    except formats.FormatError as exc:
        detected = None
        st.warning(f"{exc} Choose the format below.")
    options = ["auto", *formats.INPUT_FORMATS]
    labels = {
        "auto": f"Auto-detect ({detected or 'unknown'})",
        "chat": "chat (OpenAI messages)",
        "sharegpt": "ShareGPT (conversations)",
        "completion": "prompt/completion",
    }
    choice = st.selectbox("Format", options, format_func=lambda f: labels.get(f, f), key="imp_format")
    fmt = detected if choice == "auto" else choice
    if fmt is None:
        return None, None
    if fmt in ("csv", "parquet"):
        return fmt, _mapping_step(data, file)
    return fmt, None


def _mapping_step(data: bytes, file: str) -> formats.ColumnMapping | None:
    try:
        columns = formats.tabular_columns(data, file)
    except formats.FormatError as exc:
        st.error(str(exc))
        return None
    guess = formats.guess_mapping(columns)
    st.markdown("**Column mapping** — which column feeds each field")
    choices = [NONE_COLUMN, *columns]
    picked = {}
    for column, field in zip(st.columns(len(MAPPED_FIELDS)), MAPPED_FIELDS, strict=True):
        guessed = getattr(guess, field)
        index = choices.index(guessed) if guessed in choices else 0
        value = column.selectbox(field, choices, index=index, key=f"imp_map_{field}")
        picked[field] = None if value == NONE_COLUMN else value
    return formats.ColumnMapping(**picked)


def _parse(data: bytes, file: str, fmt: str, mapping) -> formats.ImportResult:
    key = (hashlib.sha256(data).hexdigest(), file, fmt, repr(mapping))
    cached = st.session_state.get("imp_parsed")
    if not cached or cached[0] != key:
        st.session_state["imp_parsed"] = (key, formats.parse(data, file, fmt, mapping))
    return st.session_state["imp_parsed"][1]


def _fix_key(data: bytes, fmt: str, mapping) -> str:
    return hashlib.sha256(data + fmt.encode() + repr(mapping).encode()).hexdigest()[:16]


def _with_fixes(result: formats.ImportResult, key: str) -> formats.ImportResult:
    fixes: dict[int, formats.SourceRow] = st.session_state.get("imp_fixes", {}).get(key, {})
    if not fixes:
        return result
    rows = [fixes.get(row.line, row) for row in result.rows]
    return dataclasses.replace(result, rows=rows)


def _summary(result: formats.ImportResult) -> None:
    good, bad = len(result.good_rows), len(result.bad_rows)
    a, b, c, d = st.columns(4)
    a.metric("Rows read", len(result.rows))
    b.metric("Good rows", good)
    c.metric("Rows with errors", bad)
    d.metric("Warnings", len(result.warnings))
    st.caption(f"Read as **{result.source_format}**, stored as **{result.stored_format}**, encoding {result.encoding}.")
    for note in result.notes:
        st.caption(f":material/info: {note}")
    if result.problems:
        with st.expander(f"Problems ({len(result.problems)})", expanded=bool(result.errors)):
            st.code("\n".join(str(p) for p in result.problems[:500]), language=None, wrap_lines=True)
    if good:
        preview = pd.DataFrame([{"text": row_text(r, result.stored_format)[:300]} for r in result.good_rows[:10]])
        with st.expander("Preview of the first good rows"):
            st.dataframe(preview, hide_index=True, width="stretch")


def _fix_or_skip(result: formats.ImportResult, key: str) -> list[dict] | None:
    rows = result.good_rows
    if result.bad_rows:
        st.warning(
            f"{len(result.bad_rows)} row(s) have errors. Nothing is imported until you fix them here "
            "or choose to skip them.",
            icon=":material/warning:",
        )
        choice = st.radio("Bad rows", ["Fix them here", "Skip them"], horizontal=True, key="imp_bad_choice")
        if choice == "Fix them here":
            _fix_form(result, key)
            return None
    duplicates = [p for p in result.warnings if p.problem.startswith("duplicate")]
    if duplicates and st.checkbox(f"Drop {len(duplicates)} duplicate row(s)", value=True, key="imp_dedupe"):
        seen, kept = set(), []
        for row in rows:
            text = json.dumps(row, sort_keys=True, ensure_ascii=False)
            if text not in seen:
                seen.add(text)
                kept.append(row)
        rows = kept
    return rows


def _fix_form(result: formats.ImportResult, key: str) -> None:
    bad = result.bad_rows[:20]
    with st.form("imp_fix_form"):
        st.caption(
            "Edit each bad row, then re-check. "
            + (f"Showing the first 20 of {len(result.bad_rows)}." if len(result.bad_rows) > 20 else "")
        )
        texts = {}
        for row in bad:
            st.markdown("\n".join(f"- `{p}`" for p in row.problems if p.severity == "error"))
            texts[row.line] = st.text_area(
                f"Line {row.line}", _editable_text(row), key=f"imp_fix_{key}_{row.line}", height=120
            )
        if st.form_submit_button("Re-check fixed rows", type="primary"):
            fixes = st.session_state.setdefault("imp_fixes", {}).setdefault(key, {})
            for row in bad:
                fixes[row.line] = _recheck(result, row, texts[row.line])
            st.rerun()


def _editable_text(row: formats.SourceRow) -> str:
    """Unparseable rows are fixed in their raw text; parsed rows as their stored JSON."""
    return row.raw if row.data is None else json.dumps(row.data, ensure_ascii=False)


def _recheck(result: formats.ImportResult, row: formats.SourceRow, text: str) -> formats.SourceRow:
    fmt = result.source_format if row.data is None else result.stored_format
    if fmt in ("csv", "parquet"):
        fmt = result.stored_format
    parsed = formats.parse(text.encode("utf-8"), f"{result.file}.jsonl", fmt)
    if len(parsed.rows) != 1:
        problem = formats.Problem(result.file, row.line, "row", "expected exactly one JSON object on this line")
        return dataclasses.replace(row, raw=text, data=None, problems=[problem])
    fixed = parsed.rows[0]
    problems = [dataclasses.replace(p, file=result.file, line=row.line) for p in fixed.problems]
    return formats.SourceRow(line=row.line, raw=text, data=fixed.data, problems=problems)


def _import_target(result: formats.ImportResult, rows: list[dict]) -> None:
    st.divider()
    names = repository.dataset_names()
    name = st.text_input("Dataset name", value=Path(result.file).stem.replace(" ", "-"), key="imp_name")
    mode: str | None = "new"
    total, existing_split = len(rows), None
    if name in names:
        mode = _existing_mode(name)
        latest = repository.get_dataset(name).latest
        total += latest.rows if mode != REPLACE else 0
        existing_split = latest.split.spec if latest.split else None
    holdout, seed = _holdout_choice(total, existing_split, name)
    skipped = len(result.bad_rows)
    label = _import_label(name, mode, len(rows)) + (f" (skip {skipped} bad)" if skipped else "")
    if st.button(label, type="primary", key="imp_go", disabled=not rows or mode is None) and mode is not None:
        try:
            revision = _store(name, mode, result, rows)
            if holdout:
                repository.make_split(name, revision.n, SplitSpec(seed=seed, validation_count=holdout))
        except repository.DatasetError as exc:
            st.error(str(exc))
            return
        for key in [k for k in st.session_state if k.startswith("imp_")]:
            del st.session_state[key]
        st.session_state["ds_goto"] = name
        forget_draft(name)
        st.rerun()


REPLACE, APPEND = "Replace its rows", "Append to its rows"


def _existing_mode(name: str) -> str | None:
    """Replace or append, chosen by the user: no default, so that typing an existing name never replaces its rows
    in one click. None until chosen."""
    held = repository.get_dataset(name).latest.rows
    mode = st.radio(
        f"A dataset named {name!r} exists ({held} rows)",
        [REPLACE, APPEND],
        index=None,
        key="imp_mode",
        help="Either way its rows now stay in its history as a revision (History tab → Restore).",
    )
    if mode is None:
        st.caption("Choose whether these rows replace its rows or join them, or type another name.")
    return mode


def _import_label(name: str, mode: str | None, n_rows: int) -> str:
    if mode == REPLACE:
        return f"Replace the rows of {name!r} with {n_rows} rows"
    if mode == APPEND:
        return f"Append {n_rows} rows to {name!r}"
    return f"Import {n_rows} rows"


def _holdout_choice(n_rows: int, existing: SplitSpec | None, name: str) -> tuple[int, int]:
    """(rows to hold out for validation, seed) of the revision the import makes, `n_rows` long: as the dataset it
    goes into is split (appending 3 rows to a split dataset once dropped its split: the box defaulted to the 3
    rows' own proposal, none), else a proposed tenth (at least 2); changeable, or none."""
    if st.session_state.get("imp_holdout_for") != (name, n_rows):  # another target: its own default
        st.session_state["imp_holdout_for"] = (name, n_rows)
        st.session_state.pop("imp_holdout_on", None)
        st.session_state.pop("imp_holdout", None)
    proposed, seed, why = proposed_holdout(n_rows), PROPOSED_SEED, ""
    if existing is not None:
        with contextlib.suppress(ValueError):  # else its way of splitting no longer fits the rows
            proposed, seed, why = existing.validation_size(n_rows), existing.seed, f", as {name!r} is split"
    keep = st.checkbox(
        "Hold out rows for validation",
        value=bool(proposed),
        key="imp_holdout_on",
        help="Runs get an eval loss, 'keep best' something to keep, and the automatic evaluation held-out rows "
        "to score. The rows are chosen at random with a fixed seed; change the split later on the Split tab.",
    )
    if not keep:
        st.caption("Every row trains: runs get no eval loss and no held-out score.")
        return 0, seed
    count = st.number_input("Validation rows", 1, max(1, n_rows - 1), max(1, proposed or 1), key="imp_holdout")
    st.caption(f"{count} of {n_rows} rows held out (seed {seed}{why}), {n_rows - count} train.")
    if tradeoff := holdout_tradeoff(n_rows, int(count)):
        st.caption(tradeoff)
    return int(count), seed


def _store(name: str, mode: str, result: formats.ImportResult, rows: list[dict]) -> repository.Revision:
    note = f"imported {result.file}"
    if mode == "new":
        return repository.create_dataset(name, result.stored_format, rows, note=note)
    info = repository.get_dataset(name)
    if info.format != result.stored_format:
        raise repository.DatasetError(
            f"{name!r} holds {info.format} rows and this file gives "
            f"{result.stored_format} rows: import it under another name."
        )
    if mode == APPEND:
        rows = repository.read_revision_rows(info.latest) + rows
    return repository.save_rows(name, rows, info.latest.n, note=note)
