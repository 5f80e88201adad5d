"""JSON text to records with their line numbers: a JSON array, JSONL, or multi-line objects one after another;
duplicate keys, nesting too deep and broken JSON each named at their line."""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Callable
from dataclasses import dataclass

_JSON_SPACE = re.compile(r"[ \t\n\r]*")

MAX_NESTING = "about 1,000"  # Python's JSON decoder gives up (RecursionError) past the interpreter's limit


class _DuplicateKey(ValueError):
    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    """json's default keeps the last of two equal keys and drops the other without a word."""
    row = dict(pairs)
    if len(row) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return row


_JSON_DECODER = json.JSONDecoder(object_pairs_hook=_unique_keys)


@dataclass
class Record:
    line: int
    raw: str
    value: object = None
    error: str | None = None  # why the text is not valid JSON


def _line_finder(text: str) -> Callable[[int], int]:
    starts = [0] + [match.end() for match in re.finditer("\n", text)]
    return lambda offset: bisect.bisect_right(starts, offset)


def _skip_space(text: str, pos: int) -> int:
    match = _JSON_SPACE.match(text, pos)  # matches the empty string too: never None
    return match.end() if match else pos


def _line_end(text: str, pos: int) -> int:
    end = text.find("\n", pos)
    return len(text) if end < 0 else end


def _json_error(exc: json.JSONDecodeError) -> str:
    return f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"


def _structure_error(exc: Exception) -> str:
    if isinstance(exc, _DuplicateKey):
        return f"the key {exc.key!r} appears twice in one object (JSON would keep only the last); keep one"
    return f"nested more than {MAX_NESTING} levels deep: no dataset row is; this is not a dataset file"


def json_records(text: str, limit: int | None = None) -> tuple[list[Record], list[str]]:
    """Records of a JSON array, of JSONL, or of JSON objects written one after another over many lines."""
    start = _skip_space(text, 0)
    if text.startswith("[", start):
        return _array_records(text, start, limit)
    records, notes = _jsonl_records(text, limit)
    if any(record.error for record in records):
        stream = _stream_records(text, limit)
        if any(record.error is None and "\n" in record.raw for record in stream):
            return stream, ["read as multi-line JSON objects one after another (not one object per line)"]
    return records, notes


def _jsonl_records(text: str, limit: int | None) -> tuple[list[Record], list[str]]:
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()  # the end of the last line, not a blank line
    records: list[Record] = []
    blank = 0
    for number, line in enumerate(lines, 1):
        if limit is not None and len(records) >= limit:
            break
        if not line.strip():
            blank += 1
            continue
        try:
            records.append(Record(number, line, _JSON_DECODER.decode(line)))
        except json.JSONDecodeError as exc:
            error = f"not valid JSON: {exc.msg} (column {exc.colno}); make this line one complete JSON object"
            records.append(Record(number, line, error=error))
        except (_DuplicateKey, RecursionError) as exc:
            records.append(Record(number, line, error=_structure_error(exc)))
    return records, [f"{blank} blank line{'' if blank == 1 else 's'} skipped"] if blank else []


def _decode_value(text: str, pos: int, line_of: Callable[[int], int]) -> tuple[Record, int | None]:
    """The JSON value at pos and where it ends; on bad JSON a record with the error and end None."""
    try:
        value, end = _JSON_DECODER.raw_decode(text, pos)
    except json.JSONDecodeError as exc:
        raw = text[pos : _line_end(text, exc.pos)]
        error = f"{_json_error(exc)}; the rest of the file was not read"
        return Record(line_of(pos), raw, error=error), None
    except (_DuplicateKey, RecursionError) as exc:
        error = f"{_structure_error(exc)}; the rest of the file was not read"
        return Record(line_of(pos), text[pos : _line_end(text, pos)], error=error), None
    return Record(line_of(pos), text[pos:end], value), end


def _array_records(text: str, start: int, limit: int | None) -> tuple[list[Record], list[str]]:
    line_of, records, notes = _line_finder(text), list[Record](), list[str]()
    pos = _skip_space(text, start + 1)
    while limit is None or len(records) < limit:
        if pos >= len(text):
            notes.append("the JSON array has no closing ']'; the elements before the end were read")
            break
        if text[pos] == "]":
            records += _text_after_array(text, _skip_space(text, pos + 1), line_of)
            break
        record, end = _decode_value(text, pos, line_of)
        records.append(record)
        if end is None:
            break
        pos = _skip_space(text, end)
        if text.startswith(",", pos):
            pos = _skip_space(text, pos + 1)
            if text.startswith("]", pos):
                notes.append("trailing comma before the closing ']' ignored")
        elif pos < len(text) and text[pos] != "]":
            error = (
                f"not valid JSON: expected ',' or ']' after the element that starts on line "
                f"{record.line}; the rest of the file was not read"
            )
            records.append(Record(line_of(pos), text[pos : _line_end(text, pos)], error=error))
            break
    return records, notes


def _text_after_array(text: str, pos: int, line_of: Callable[[int], int]) -> list[Record]:
    if pos >= len(text):
        return []
    return [
        Record(
            line_of(pos),
            text[pos : _line_end(text, pos)],
            error="unexpected text after the closing ']' of the JSON array; delete it",
        )
    ]


def _stream_records(text: str, limit: int | None) -> list[Record]:
    line_of, records = _line_finder(text), list[Record]()
    pos = _skip_space(text, 0)
    while pos < len(text) and (limit is None or len(records) < limit):
        record, end = _decode_value(text, pos, line_of)
        records.append(record)
        if end is None:
            break
        pos = _skip_space(text, end)
    return records
