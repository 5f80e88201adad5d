"""CSV, TSV and Parquet files: their columns, which column feeds which alpaca field, and their rows."""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Mapping
from pathlib import PurePath

from workbench.data.formats.conversion import NO_ANSWER, column_renamer
from workbench.data.formats.decoding import decode
from workbench.data.formats.problems import ColumnMapping, Converted, FormatError, ImportResult, Issue, SourceRow
from workbench.data.formats.validation import checked_row, import_result
from workbench.data.records import ALPACA_FIELDS, alpaca_prompt

MAPPING_GUESSES = {
    "instruction": ("instruction", "prompt", "question"),
    "input": ("input", "context"),
    "output": ("output", "response", "answer", "completion"),
    "system": ("system",),
    "chosen": ("chosen",),
    "rejected": ("rejected",),
}
PAIR_FIELDS = ("chosen", "rejected")

FIELD_MEANINGS = {
    "instruction": "the instruction or question",
    "output": "the expected answer",
    "chosen": "the better answer",
    "rejected": "the worse answer",
}

DELIMITER_NAMES = {",": "comma", "\t": "tab", ";": "semicolon", "|": "vertical bar"}

CSV_FIELD_LIMIT = 64 * 1024 * 1024

COLUMNS_NAMED = 20  # in a message listing a file's columns

_FIRST_NON_BLANK_LINE = re.compile(r"^[^\n]*\S[^\n]*", re.MULTILINE)


def extension(file: str) -> str:
    return PurePath(file).suffix.lower()


def is_parquet(data: bytes, file: str) -> bool:
    return data.startswith(b"PAR1") or extension(file) in (".parquet", ".pq")


def tabular_columns(data: bytes, file: str) -> list[str]:
    if is_parquet(data, file):
        return _read_parquet(data, file, schema_only=True).names
    text, _, _ = decode(data, file)
    header, _ = _csv_header_and_body(text, file)
    return header


def guess_mapping(columns: list[str]) -> ColumnMapping:
    mapping, used = ColumnMapping(), set()
    for field, names in MAPPING_GUESSES.items():
        for name in names:
            column = next((c for c in columns if c.strip().lower() == name and c not in used), None)
            if column is not None:
                setattr(mapping, field, column)
                used.add(column)
                break
    return mapping


def _checked_mapping(
    mapping: ColumnMapping | None, columns: list[str], file: str, answers_optional: bool = False
) -> dict[str, str]:
    """The mapped fields and their columns; FormatError when a required one is missing or unknown."""
    mapping = mapping or guess_mapping(columns)
    available = _column_list(columns)
    paired = mapping.chosen is not None or mapping.rejected is not None
    required = (
        ("instruction", *PAIR_FIELDS) if paired else ("instruction",) if answers_optional else ("instruction", "output")
    )
    for field in required:
        if getattr(mapping, field) is None:
            raise FormatError(
                f"{file}: no column is mapped to {field!r}. The columns are: {available}. "
                f"Choose the column that holds {FIELD_MEANINGS[field]}."
            )
    fields = {field: getattr(mapping, field) for field in (*ALPACA_FIELDS, *PAIR_FIELDS)}
    fields = {field: column for field, column in fields.items() if column is not None}
    for field, column in fields.items():
        if column not in columns:
            raise FormatError(
                f"{file}: column {column!r} (mapped to {field!r}) is not in the file. The columns are: {available}."
            )
    return fields


def _column_list(columns: list[str]) -> str:
    named = ", ".join(repr(c) for c in columns[:COLUMNS_NAMED]) or "none"
    more = len(columns) - COLUMNS_NAMED
    return f"{named} and {more:,} more" if more > 0 else named


def tabular_kind(fields: dict[str, str]) -> str:
    """The stored kind a mapping makes: preference pairs when it maps the answers chosen and rejected."""
    return "preference" if "chosen" in fields else "alpaca"


def _converted(cells: Mapping[str, object], fields: dict[str, str], answers_optional: bool, issues=None) -> Converted:
    if tabular_kind(fields) == "alpaca":
        return _tabular_row(cells, fields, answers_optional), issues or [], column_renamer(fields)
    row = _tabular_row(cells, {k: v for k, v in fields.items() if k not in PAIR_FIELDS}, answers_optional=True)
    prompt = [{"role": "system", "content": row["system"]}] if row.get("system") else []
    prompt.append({"role": "user", "content": alpaca_prompt(row)})
    names = {f"prompt[{len(prompt) - 1}].content": fields["instruction"]}
    if row.get("system"):
        names["prompt[0].content"] = fields["system"]
    pair = {"prompt": prompt, "chosen": cells[fields["chosen"]], "rejected": cells[fields["rejected"]]}
    return pair, issues or [], column_renamer({**fields, **names})


def _tabular_row(cells: Mapping[str, object], fields: dict[str, str], answers_optional: bool = False) -> dict:
    output = cells[fields["output"]] if "output" in fields else ""
    row = {
        "instruction": cells[fields["instruction"]],
        "input": cells[fields["input"]] if "input" in fields else "",
        "output": NO_ANSWER if answers_optional and output == "" else output,
    }
    if "system" in fields and cells[fields["system"]] != "":
        row["system"] = cells[fields["system"]]
    return row


def header_delimiter(text: str) -> str | None:
    match = _FIRST_NON_BLANK_LINE.search(text)
    header = match[0] if match else ""
    counts = {delimiter: header.count(delimiter) for delimiter in DELIMITER_NAMES}
    best = max(counts, key=lambda delimiter: counts[delimiter])  # ties go to the comma, listed first
    return best if counts[best] else None


def _csv_records(text: str, file: str, delimiter: str) -> list[tuple[int, str, list[str]]]:
    """(line where the record starts, its source text, its cells) for every record, blank ones included."""
    lines = text.split("\n")
    source = [line + "\n" for line in lines[:-1]] + ([lines[-1]] if lines[-1] else [])
    reader = csv.reader(source, delimiter=delimiter)
    previous_limit = csv.field_size_limit(CSV_FIELD_LIMIT)  # long documents in one cell are fine
    try:
        records, consumed = [], 0
        for cells in reader:
            start, consumed = consumed + 1, reader.line_num
            records.append((start, "\n".join(lines[start - 1 : consumed]), cells))
        return records
    except csv.Error as exc:
        raise FormatError(f"{file}:{reader.line_num}: cannot read this line as CSV: {exc}") from exc
    finally:
        csv.field_size_limit(previous_limit)


def _csv_delimiter(text: str, file: str) -> str:
    return "\t" if extension(file) == ".tsv" else header_delimiter(text) or ","


def _csv_header_and_body(text: str, file: str) -> tuple[list[str], list[tuple[int, str, list[str]]]]:
    records = _csv_records(text, file, _csv_delimiter(text, file))
    first = next((i for i, (_, _, cells) in enumerate(records) if cells), None)
    if first is None:
        raise FormatError(f"{file} is empty: a CSV file needs a header line with the column names.")
    header = [name.strip() or f"column {n}" for n, name in enumerate(records[first][2], 1)]
    return header, records[first + 1 :]


def parse_csv(
    text: str, file: str, mapping: ColumnMapping | None, answers_optional: bool = False
) -> tuple[list[SourceRow], list[str], str]:
    """The rows of a CSV/TSV text, notes on how it was read, and the stored kind of its rows."""
    header, body = _csv_header_and_body(text, file)
    fields = _checked_mapping(mapping, header, file, answers_optional)
    delimiter = _csv_delimiter(text, file)
    notes = [] if delimiter == "," else [f"columns separated by {DELIMITER_NAMES[delimiter]}s"]
    records = [record for record in body if any(cell.strip() for cell in record[2])]
    blank = len(body) - len(records)  # blank lines, and rows of empty cells (",,,") as Excel writes them
    if blank:
        notes.append(f"{blank} blank line{'' if blank == 1 else 's'} skipped")
    rows = [_csv_source_row(file, record, header, fields, delimiter, answers_optional) for record in records]
    return rows, notes, tabular_kind(fields)


def _csv_source_row(
    file: str,
    record: tuple[int, str, list[str]],
    header: list[str],
    fields: dict[str, str],
    delimiter: str,
    answers_optional: bool = False,
) -> SourceRow:
    line, raw, cells = record
    padded = dict(zip(header, cells + [""] * (len(header) - len(cells)), strict=False))
    converted = _converted(padded, fields, answers_optional, _cell_count_issues(cells, len(header), delimiter))
    return checked_row(file, line, raw, converted, tabular_kind(fields))


def _cell_count_issues(cells: list[str], columns: int, delimiter: str) -> list[Issue]:
    extra = cells[columns:]
    if len(cells) >= columns and not any(cell.strip() for cell in extra):
        return []
    cell_count = f"{len(cells)} cell{'' if len(cells) == 1 else 's'}"
    problem = (
        f"has {cell_count} but the header has {columns} columns; check the quoting: a cell holding a "
        f"{DELIMITER_NAMES[delimiter]}, a double quote or a line break must be in double quotes, with "
        "inner double quotes doubled"
    )
    return [("row", problem, "error")]


def _read_parquet(data: bytes, file: str, schema_only: bool = False):
    import pyarrow.parquet as pq  # heavy: imported only when a Parquet file is read

    try:
        return pq.read_schema(io.BytesIO(data)) if schema_only else pq.read_table(io.BytesIO(data))
    except Exception as exc:  # pyarrow raises several types for a damaged or foreign file
        raise FormatError(f"cannot read {file} as Parquet: {exc}") from exc


def _parquet_cell(value: object) -> object:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)  # a numeric column is a schema choice, not a typo: CSV would give text too
    return value


def parse_parquet(
    data: bytes, file: str, mapping: ColumnMapping | None, answers_optional: bool = False
) -> ImportResult:
    table = _read_parquet(data, file)
    fields = _checked_mapping(mapping, table.column_names, file, answers_optional)
    rows = []
    for number, record in enumerate(table.to_pylist(), 1):
        cells = {column: _parquet_cell(value) for column, value in record.items()}
        raw = json.dumps(record, ensure_ascii=False, default=str)
        rows.append(checked_row(file, number, raw, _converted(cells, fields, answers_optional), tabular_kind(fields)))
    return import_result(file, "parquet", tabular_kind(fields), "utf-8", rows, ["line numbers are row numbers"])
