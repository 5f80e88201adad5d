"""Which input format a file is in, from its extension and the keys of its first records."""

from __future__ import annotations

from workbench.data.formats.conversion import format_of_keys
from workbench.data.formats.decoding import decode
from workbench.data.formats.json_records import Record, json_records
from workbench.data.formats.problems import FormatError
from workbench.data.formats.tabular import extension, header_delimiter, is_parquet

INPUT_FORMATS = ("alpaca", "chat", "sharegpt", "completion", "csv", "parquet")

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
    preference = next((obj for obj in objects if preference_keys(obj)), None)
    if preference is not None:  # checked first: LLaMA-Factory's pairs also carry 'conversations'
        raise FormatError(_preference_message(file, preference))
    for obj in objects:
        fmt = format_of_keys(obj) or ("completion" if answers_optional and "prompt" in obj else None)
        if fmt:
            return fmt
    if not objects and text.lstrip()[:1] not in ("{", "[") and header_delimiter(text):
        return "csv"
    raise FormatError(_undetected_message(file, records, objects))


def preference_keys(obj: dict) -> bool:
    """A preference pair (chosen/rejected, TRL's or LLaMA-Factory's) or KTO feedback (a boolean label)."""
    paired = {"chosen", "rejected"} <= obj.keys()
    feedback = isinstance(obj.get("label"), bool) and ("completion" in obj or "messages" in obj)
    return paired or feedback


def _preference_message(file: str, obj: dict) -> str:
    keys = ", ".join(repr(key) for key in obj)
    kind = "preference pairs" if "chosen" in obj else "feedback rows (a true/false label per answer)"
    return (
        f"{file} holds {kind} ({keys}): they are for preference tuning, which this workbench does not train yet. "
        "To learn the preferred answers instead, keep only the chosen one: rename 'chosen' to 'completion' (or to "
        "the assistant turn of 'messages'), drop 'rejected' and 'label', and import the file again."
    )


def _undetected_message(file: str, records: list[Record], objects: list[dict]) -> str:
    expected = (
        "Expected 'instruction' and 'output' (alpaca), 'messages' (chat), 'conversations' (ShareGPT) "
        "or 'prompt' and 'completion'."
    )
    if objects:
        keys = ", ".join(repr(key) for key in objects[0]) or "no keys"
        return f"Cannot tell the format of {file}: its first record has {keys}. {expected}"
    first = f" (line {records[0].line}: {records[0].error or 'not a JSON object'})" if records else ""
    return (
        f"Cannot tell the format of {file}: no JSON object found{first}. Expected JSONL (one JSON object "
        "per line), a JSON array, CSV, TSV or Parquet."
    )
