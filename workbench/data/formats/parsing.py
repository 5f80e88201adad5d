"""`parse`: a file's bytes to an ImportResult, every row in the stored format with its problems."""

from __future__ import annotations

from workbench.data.formats.conversion import with_answer_slot
from workbench.data.formats.decoding import decode
from workbench.data.formats.detection import INPUT_FORMATS, detect_format
from workbench.data.formats.json_records import Record, json_records
from workbench.data.formats.kinds import BY_NAME
from workbench.data.formats.problems import ColumnMapping, FormatError, ImportResult, Problem, SourceRow
from workbench.data.formats.tabular import parse_csv, parse_parquet
from workbench.data.formats.validation import checked_row, import_result, kind_with_article


def _json_source_row(record: Record, fmt: str, stored: str, file: str, answers_optional: bool = False) -> SourceRow:
    if record.error:
        return SourceRow(record.line, record.raw, None, [Problem(file, record.line, "json", record.error)])
    if not isinstance(record.value, dict):
        problem = f"expected a JSON object, got {kind_with_article(record.value)}"
        return SourceRow(record.line, record.raw, None, [Problem(file, record.line, "row", problem)])
    value = with_answer_slot(record.value, fmt) if answers_optional else record.value
    return checked_row(file, record.line, record.raw, BY_NAME[fmt].convert(value, stored), stored)


def parse(
    data: bytes,
    file: str,
    fmt: str | None = None,
    mapping: ColumnMapping | None = None,
    *,
    answers_optional: bool = False,
) -> ImportResult:
    """Every row of a file in the stored format, with its problems. `answers_optional`: a file of inputs to
    answer, whose rows may lack the answer (NO_ANSWER stands in its place)."""
    fmt = fmt or detect_format(data, file, answers_optional)
    if fmt not in INPUT_FORMATS:
        raise FormatError(f"Unknown format {fmt!r}; expected one of {', '.join(INPUT_FORMATS)}.")
    if fmt == "parquet":
        return parse_parquet(data, file, mapping, answers_optional)
    if data.startswith(b"PAR1"):
        raise FormatError(f"{file} is a Parquet file: read it with the parquet format.")
    text, encoding, notes = decode(data, file)
    if fmt == "csv":
        rows, more_notes, kind = parse_csv(text, file, mapping, answers_optional)
        return import_result(file, fmt, kind, encoding, rows, notes + more_notes)
    records, more_notes = json_records(text)
    stored = BY_NAME[fmt].stored(records)
    rows = [_json_source_row(record, fmt, stored, file, answers_optional) for record in records]
    return import_result(file, fmt, stored, encoding, rows, notes + more_notes)
