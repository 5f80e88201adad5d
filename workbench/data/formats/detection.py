"""Which input format a file is in, from its extension and the keys of its first records."""

from __future__ import annotations

from workbench.data.formats.decoding import decode
from workbench.data.formats.json_records import Record, json_records
from workbench.data.formats.kinds import NAMES, format_of_keys
from workbench.data.formats.problems import FormatError
from workbench.data.formats.tabular import extension, header_delimiter, is_parquet

INPUT_FORMATS = (*NAMES, "csv", "parquet")

DETECT_SAMPLE = 50


def detect_format(data: bytes, file: str, answers_optional: bool = False) -> str:
    if is_parquet(data, file):
        return "parquet"
    if extension(file) in (".csv", ".tsv"):
        return "csv"
    text, _, _ = decode(data, file)
    if not text.strip():
        raise FormatError(f"{file} is empty: there is nothing to import.")
    records, _ = json_records(text, DETECT_SAMPLE)
    objects = [record.value for record in records if record.error is None and isinstance(record.value, dict)]
    for obj in objects:
        fmt = format_of_keys(obj) or ("completion" if answers_optional and "prompt" in obj else None)
        if fmt:
            return fmt
    if not objects and text.lstrip()[:1] not in ("{", "[") and header_delimiter(text):
        return "csv"
    raise FormatError(_undetected_message(file, records, objects))


def _undetected_message(file: str, records: list[Record], objects: list[dict]) -> str:
    expected = (
        "Expected 'instruction' and 'output' (alpaca), 'messages' (chat), 'conversations' (ShareGPT), "
        "'prompt' and 'completion', or preference rows: 'chosen' and 'rejected' (with 'prompt', "
        "'conversations' or 'messages'), or 'label' feedback."
    )
    if objects:
        keys = ", ".join(repr(key) for key in objects[0]) or "no keys"
        return f"Cannot tell the format of {file}: its first record has {keys}. {expected}"
    first = f" (line {records[0].line}: {records[0].error or 'not a JSON object'})" if records else ""
    return (
        f"Cannot tell the format of {file}: no JSON object found{first}. Expected JSONL (one JSON object "
        "per line), a JSON array, CSV, TSV or Parquet."
    )
