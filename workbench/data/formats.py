"""Read dataset files in any supported format, check every row, and write rows out in any export format.

Input formats: alpaca, chat (OpenAI messages), sharegpt, completion (prompt/completion, plain or
conversational) as JSONL or a JSON array; csv/tsv and parquet through a column mapping. Each row is
converted to one of the two stored formats of `records` ("alpaca" or "chat") and checked; every problem
names the file, the line where the row starts and the field, so the user can find and fix it.
`parse` is pure: bytes in, an `ImportResult` out.
"""

from __future__ import annotations

import bisect
import codecs
import csv
import io
import json
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path, PurePath
from typing import Any

from workbench.data.records import ALPACA_FIELDS, ROLES, STORED_FORMATS, alpaca_prompt, to_messages
from workbench.errors import WorkbenchError

INPUT_FORMATS = ("alpaca", "chat", "sharegpt", "completion", "csv", "parquet")
EXPORT_FORMATS = ("alpaca", "chat", "sharegpt", "completion", "csv")
SPREADSHEET_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # what Excel and LibreOffice run as a formula
MESSAGE_KEYS = ("role", "content")
COMPLETION_KEYS = ("prompt", "completion")
SHAREGPT_KEYS = ("conversations", "system")
SHAREGPT_TURN_KEYS = ("from", "value")
SHAREGPT_ROLES = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "model": "assistant",
    "system": "system",
}
SHAREGPT_SPEAKERS = {"system": "system", "user": "human", "assistant": "gpt"}
MAPPING_GUESSES = {
    "instruction": ("instruction", "prompt", "question"),
    "input": ("input", "context"),
    "output": ("output", "response", "answer", "completion"),
    "system": ("system",),
}
FIELD_MEANINGS = {"instruction": "the instruction or question", "output": "the expected answer"}
DELIMITER_NAMES = {",": "comma", "\t": "tab", ";": "semicolon", "|": "vertical bar"}
DETECT_SAMPLE = 50
CSV_FIELD_LIMIT = 64 * 1024 * 1024
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_JSON_SPACE = re.compile(r"[ \t\n\r]*")
_SURROGATE = re.compile("[\ud800-\udfff]")
# Files that are not text at all, by their first bytes: what they are, and what to do.
_SIGNATURES = (
    (b"PK\x03\x04", "a ZIP archive", "unzip it and import the file inside"),
    (b"PK\x05\x06", "an empty ZIP archive", "unzip it and import the file inside"),
    (b"\x1f\x8b", "gzip-compressed", "decompress it first (gunzip FILE)"),
    (b"BZh", "bzip2-compressed", "decompress it first (bunzip2 FILE)"),
    (b"\xfd7zXZ\x00", "xz-compressed", "decompress it first (unxz FILE)"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive", "extract it and import the file inside"),
    (b"\x89PNG", "a PNG image", "import a JSONL, JSON, CSV, TSV or Parquet file"),
    (b"\xff\xd8\xff", "a JPEG image", "import a JSONL, JSON, CSV, TSV or Parquet file"),
    (b"%PDF-", "a PDF document", "import a JSONL, JSON, CSV, TSV or Parquet file"),
)
MAX_NESTING = "about 1,000"  # Python's JSON decoder gives up (RecursionError) past the interpreter's limit
COLUMNS_NAMED = 20  # in a message listing a file's columns
# Where a file of inputs to answer (prediction) has no answer, `parse(..., answers_optional=True)` puts this
# in the answer's place, so the row reads and validates like a training row; readers map it back to "none".
NO_ANSWER = "\u2063no answer\u2063"


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
_FIRST_NON_BLANK_LINE = re.compile(r"^[^\n]*\S[^\n]*", re.MULTILINE)
_MESSAGE_FIELD = re.compile(r"^messages\[(\d+)\](?:\.(.+))?$")

# A check found before the file and line are known: (field, problem, severity).
Issue = tuple[str, str, str]


def max_import_bytes() -> int:
    """The largest file the importer reads (WORKBENCH_MAX_IMPORT_MB, default 1024, as the upload limit)."""
    try:
        return int(float(os.environ.get("WORKBENCH_MAX_IMPORT_MB", "1024")) * 1024 * 1024)
    except ValueError:
        return 1024 * 1024 * 1024


def _size(n: int) -> str:
    return f"{n / 1024**3:.1f} GB" if n >= 1024**3 else f"{n / 1024**2:.1f} MB"


def check_import_size(size: int, file: str) -> None:
    limit = max_import_bytes()
    if size > limit:
        raise FormatError(
            f"{file} is {_size(size)}, over the import limit of {_size(limit)} (WORKBENCH_MAX_IMPORT_MB): nothing "
            "was read. Split it into smaller files, or raise the limit if this machine has the memory."
        )


def read_import_file(path: Path) -> bytes:
    """A file's bytes for import, refused by its size before anything is read."""
    if not path.is_file():
        raise FormatError(f"{path}: no such file. Check the path (it is read on the machine that runs the app).")
    check_import_size(path.stat().st_size, path.name)
    return path.read_bytes()


class FormatError(WorkbenchError, ValueError):
    """The file cannot be read in the asked format; the message says why and what to do."""


class ExportError(WorkbenchError, ValueError):
    """Rows that cannot be written in the asked export format; the message names the row and why."""


@dataclass(frozen=True)
class Problem:
    file: str
    line: int  # 1-based line where the offending row starts; 0 = the whole file
    field: str
    problem: str
    severity: str = "error"  # "error": the row is unusable; "warning": usable as is

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field}: {self.problem}"


@dataclass
class SourceRow:
    line: int
    raw: str  # the row's source text, so the user can fix it by hand
    data: dict | None  # the row in the stored format; None when it could not be read or converted
    problems: list[Problem]


@dataclass
class ColumnMapping:
    """Which source column feeds which alpaca field (csv and parquet)."""

    instruction: str | None = None
    input: str | None = None
    output: str | None = None
    system: str | None = None


@dataclass
class ImportResult:
    file: str
    source_format: str
    stored_format: str
    encoding: str
    rows: list[SourceRow]
    notes: list[str]

    @property
    def problems(self) -> list[Problem]:
        return sorted((p for row in self.rows for p in row.problems), key=lambda p: p.line)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity != "error"]

    @property
    def good_rows(self) -> list[dict]:
        return [row.data for row in self.rows if row.data is not None and not _has_error(row.problems)]

    @property
    def bad_rows(self) -> list[SourceRow]:
        return [row for row in self.rows if row.data is None or _has_error(row.problems)]


def _has_error(problems: list[Problem]) -> bool:
    return any(p.severity == "error" for p in problems)


# ---------------------------------------------------------------------------------------------- decoding


def decode(data: bytes, file: str) -> tuple[str, str, list[str]]:
    """The text of a file, the encoding it was read with, and notes on what was done to read it."""
    _refuse_non_text(data, file)
    text, encoding, notes = _decode_bytes(data, file)
    text, line_notes = _normalise_line_ends(text)
    return text, encoding, notes + line_notes


def _refuse_non_text(data: bytes, file: str) -> None:
    for signature, what, fix in _SIGNATURES:
        if data.startswith(signature):
            raise FormatError(f"{file} is {what}, not a dataset file: {fix}.")
    if any(data.startswith(bom) for bom, _ in _BOMS) or _utf16_without_bom(data):
        return
    nul = data.find(b"\x00")
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        raise FormatError(
            f"{file}:{line}: encoding: a NUL byte (offset {nul}): this is a binary file, or text saved in an "
            "encoding with zero bytes; save it as UTF-8 text."
        )


def _decode_bytes(data: bytes, file: str) -> tuple[str, str, list[str]]:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return _decode_with_bom(data, encoding)
    guessed = _utf16_without_bom(data)
    if guessed:
        text = data.decode(guessed, errors="replace")
        note = f"decoded as {guessed.upper()}: no byte order mark, guessed from the zero bytes"
        return text, guessed, [note]
    try:
        return data.decode("utf-8"), "utf-8", []
    except UnicodeDecodeError as exc:
        where = f"byte 0x{data[exc.start]:02x} at offset {exc.start}"
        if _has_utf8_characters(data):
            line = data.count(b"\n", 0, exc.start) + 1
            raise FormatError(
                f"{file}:{line}: encoding: not valid UTF-8 ({where}), while other characters of the file are "
                f"UTF-8: it mixes encodings. Retype the accented characters of line {line} and save the file as "
                "UTF-8."
            ) from exc
    advice = "check accented characters, and save the file as UTF-8 to be sure"
    try:
        return data.decode("cp1252"), "cp1252", [f"decoded as cp1252: not valid UTF-8 ({where}); {advice}"]
    except UnicodeDecodeError:
        return (
            data.decode("latin-1"),
            "latin-1",
            [f"decoded as latin-1: neither valid UTF-8 ({where}) nor cp1252; {advice}"],
        )


def _has_utf8_characters(data: bytes) -> bool:
    """Whether some non-ASCII bytes form valid UTF-8 characters (a Latin-1 file's accents almost never do)."""
    text = data.decode("utf-8", errors="replace")
    return any(ord(ch) > 127 and ch != "\ufffd" for ch in text)


def _decode_with_bom(data: bytes, encoding: str) -> tuple[str, str, list[str]]:
    label = {"utf-8-sig": "UTF-8", "utf-16": "UTF-16", "utf-32": "UTF-32"}[encoding]
    notes = [
        "UTF-8 byte order mark (BOM) removed"
        if label == "UTF-8"
        else f"decoded as {label} (byte order mark found and removed)"
    ]
    try:
        return data.decode(encoding), encoding, notes
    except UnicodeDecodeError:
        notes.append(f"some bytes are not valid {label} and were replaced with '\ufffd'")
        return data.decode(encoding, errors="replace"), encoding, notes


def _utf16_without_bom(data: bytes) -> str | None:
    """Mostly-ASCII UTF-16 text has a zero in every other byte; UTF-8 text has none."""
    sample = data[:4096]
    if len(sample) < 4 or 0 not in sample:
        return None
    half = len(sample) // 2
    even_zeros, odd_zeros = sample[0::2].count(0), sample[1::2].count(0)
    if odd_zeros >= 0.3 * half and even_zeros <= 0.05 * half:
        return "utf-16-le"
    if even_zeros >= 0.3 * half and odd_zeros <= 0.05 * half:
        return "utf-16-be"
    return None


def _normalise_line_ends(text: str) -> tuple[str, list[str]]:
    notes = []
    if "\r\n" in text:
        notes.append("CRLF (Windows) line ends converted to LF")
        text = text.replace("\r\n", "\n")
    if "\r" in text:
        notes.append("CR line ends converted to LF")
        text = text.replace("\r", "\n")
    return text, notes


# ------------------------------------------------------------------------------------------ JSON records


@dataclass
class _Record:
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


def _json_records(text: str, limit: int | None = None) -> tuple[list[_Record], list[str]]:
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


def _jsonl_records(text: str, limit: int | None) -> tuple[list[_Record], list[str]]:
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()  # the end of the last line, not a blank line
    records: list[_Record] = []
    blank = 0
    for number, line in enumerate(lines, 1):
        if limit is not None and len(records) >= limit:
            break
        if not line.strip():
            blank += 1
            continue
        try:
            records.append(_Record(number, line, _JSON_DECODER.decode(line)))
        except json.JSONDecodeError as exc:
            error = f"not valid JSON: {exc.msg} (column {exc.colno}); make this line one complete JSON object"
            records.append(_Record(number, line, error=error))
        except (_DuplicateKey, RecursionError) as exc:
            records.append(_Record(number, line, error=_structure_error(exc)))
    return records, [f"{blank} blank line{'' if blank == 1 else 's'} skipped"] if blank else []


def _decode_value(text: str, pos: int, line_of: Callable[[int], int]) -> tuple[_Record, int | None]:
    """The JSON value at pos and where it ends; on bad JSON a record with the error and end None."""
    try:
        value, end = _JSON_DECODER.raw_decode(text, pos)
    except json.JSONDecodeError as exc:
        raw = text[pos : _line_end(text, exc.pos)]
        error = f"{_json_error(exc)}; the rest of the file was not read"
        return _Record(line_of(pos), raw, error=error), None
    except (_DuplicateKey, RecursionError) as exc:
        error = f"{_structure_error(exc)}; the rest of the file was not read"
        return _Record(line_of(pos), text[pos : _line_end(text, pos)], error=error), None
    return _Record(line_of(pos), text[pos:end], value), end


def _array_records(text: str, start: int, limit: int | None) -> tuple[list[_Record], list[str]]:
    line_of, records, notes = _line_finder(text), list[_Record](), list[str]()
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
            records.append(_Record(line_of(pos), text[pos : _line_end(text, pos)], error=error))
            break
    return records, notes


def _text_after_array(text: str, pos: int, line_of: Callable[[int], int]) -> list[_Record]:
    if pos >= len(text):
        return []
    return [
        _Record(
            line_of(pos),
            text[pos : _line_end(text, pos)],
            error="unexpected text after the closing ']' of the JSON array; delete it",
        )
    ]


def _stream_records(text: str, limit: int | None) -> list[_Record]:
    line_of, records = _line_finder(text), list[_Record]()
    pos = _skip_space(text, 0)
    while pos < len(text) and (limit is None or len(records) < limit):
        record, end = _decode_value(text, pos, line_of)
        records.append(record)
        if end is None:
            break
        pos = _skip_space(text, end)
    return records


# --------------------------------------------------------------------------------------------- detection


def _extension(file: str) -> str:
    return PurePath(file).suffix.lower()


def _is_parquet(data: bytes, file: str) -> bool:
    return data.startswith(b"PAR1") or _extension(file) in (".parquet", ".pq")


def detect_format(data: bytes, file: str, answers_optional: bool = False) -> str:
    if _is_parquet(data, file):
        return "parquet"
    if _extension(file) in (".csv", ".tsv"):
        return "csv"
    text, _, _ = decode(data, file)
    if not text.strip():
        raise FormatError(f"{file} is empty: there is nothing to import.")
    records, _ = _json_records(text, DETECT_SAMPLE)
    objects = [record.value for record in records if record.error is None and isinstance(record.value, dict)]
    preference = next((obj for obj in objects if _preference_keys(obj)), None)
    if preference is not None:  # checked first: LLaMA-Factory's pairs also carry 'conversations'
        raise FormatError(_preference_message(file, preference))
    for obj in objects:
        fmt = _format_of_keys(obj) or ("completion" if answers_optional and "prompt" in obj else None)
        if fmt:
            return fmt
    if not objects and text.lstrip()[:1] not in ("{", "[") and _header_delimiter(text):
        return "csv"
    raise FormatError(_undetected_message(file, records, objects))


def _format_of_keys(obj: dict) -> str | None:
    if "messages" in obj:
        return "chat"
    if "conversations" in obj:
        return "sharegpt"
    if "prompt" in obj and "completion" in obj:
        return "completion"
    if "instruction" in obj or "output" in obj:
        return "alpaca"
    return None


def _preference_keys(obj: dict) -> bool:
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


def _undetected_message(file: str, records: list[_Record], objects: list[dict]) -> str:
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


# ------------------------------------------------------------------------------------------ tabular files


def tabular_columns(data: bytes, file: str) -> list[str]:
    if _is_parquet(data, file):
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
    for field in ("instruction",) if answers_optional else ("instruction", "output"):
        if getattr(mapping, field) is None:
            raise FormatError(
                f"{file}: no column is mapped to {field!r}. The columns are: {available}. "
                f"Choose the column that holds {FIELD_MEANINGS[field]}."
            )
    fields = {field: getattr(mapping, field) for field in ALPACA_FIELDS}
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


def _header_delimiter(text: str) -> str | None:
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
    return "\t" if _extension(file) == ".tsv" else _header_delimiter(text) or ","


def _csv_header_and_body(text: str, file: str) -> tuple[list[str], list[tuple[int, str, list[str]]]]:
    records = _csv_records(text, file, _csv_delimiter(text, file))
    first = next((i for i, (_, _, cells) in enumerate(records) if cells), None)
    if first is None:
        raise FormatError(f"{file} is empty: a CSV file needs a header line with the column names.")
    header = [name.strip() or f"column {n}" for n, name in enumerate(records[first][2], 1)]
    return header, records[first + 1 :]


def _parse_csv(
    text: str, file: str, mapping: ColumnMapping | None, answers_optional: bool = False
) -> tuple[list[SourceRow], list[str]]:
    header, body = _csv_header_and_body(text, file)
    fields = _checked_mapping(mapping, header, file, answers_optional)
    delimiter = _csv_delimiter(text, file)
    notes = [] if delimiter == "," else [f"columns separated by {DELIMITER_NAMES[delimiter]}s"]
    records = [record for record in body if any(cell.strip() for cell in record[2])]
    blank = len(body) - len(records)  # blank lines, and rows of empty cells (",,,") as Excel writes them
    if blank:
        notes.append(f"{blank} blank line{'' if blank == 1 else 's'} skipped")
    rows = [_csv_source_row(file, record, header, fields, delimiter, answers_optional) for record in records]
    return rows, notes


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
    converted = (
        _tabular_row(padded, fields, answers_optional),
        _cell_count_issues(cells, len(header), delimiter),
        _column_renamer(fields),
    )
    return _checked_row(file, line, raw, converted, "alpaca")


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


def _column_renamer(fields: dict[str, str]) -> Callable[[str], str]:
    return lambda field: fields.get(field, field)


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


def _parse_parquet(
    data: bytes, file: str, mapping: ColumnMapping | None, answers_optional: bool = False
) -> ImportResult:
    table = _read_parquet(data, file)
    fields = _checked_mapping(mapping, table.column_names, file, answers_optional)
    rows = []
    for number, record in enumerate(table.to_pylist(), 1):
        cells = {column: _parquet_cell(value) for column, value in record.items()}
        raw = json.dumps(record, ensure_ascii=False, default=str)
        converted: Converted = (_tabular_row(cells, fields, answers_optional), [], _column_renamer(fields))
        rows.append(_checked_row(file, number, raw, converted, "alpaca"))
    return _result(file, "parquet", "alpaca", "utf-8", rows, ["line numbers are row numbers"])


# ------------------------------------------------------------------------------------- JSON conversions

# A converter turns one source object into (stored row or None, source-level issues, field renamer).
Converted = tuple[dict | None, list[Issue], Callable[[str], str]]


def _same_field(field: str) -> str:
    return field


def _unknown_key_issues(obj: dict, known: tuple[str, ...], prefix: str = "") -> list[Issue]:
    return [
        (f"{prefix}{key}", f"unknown key {key!r} (ignored; known keys: {', '.join(known)})", "warning")
        for key in obj
        if key not in known
    ]


def _message_renamer(top: str, sources: list[tuple[str, dict[str, str]]]) -> Callable[[str], str]:
    """Names a stored-chat field after its source field: messages[2].content -> conversations[2].value."""

    def rename(field: str) -> str:
        if field == "messages":
            return top
        match = _MESSAGE_FIELD.match(field)
        if not match or int(match[1]) >= len(sources):
            return field
        prefix, keys = sources[int(match[1])]
        return prefix if match[2] is None else prefix + keys.get(match[2], f".{match[2]}")

    return rename


def _from_stored(row: dict, stored: str) -> Converted:
    return row, [], _same_field


def _from_completion(row: dict, stored: str) -> Converted:
    issues = _unknown_key_issues(row, COMPLETION_KEYS)
    missing = [(key, "missing field", "error") for key in COMPLETION_KEYS if key not in row]
    if missing:
        return None, missing + issues, _same_field
    prompt, completion = row["prompt"], row["completion"]
    if stored == "chat":
        return _from_conversational_completion(prompt, completion, issues)
    mixed = next((key for key in COMPLETION_KEYS if isinstance(row[key], list)), None)
    if mixed:
        problem = (
            "must be a string like the other rows of this file (plain prompt/completion strings and "
            "message lists cannot be mixed in one file)"
        )
        return None, [(mixed, problem, "error")] + issues, _same_field
    stored_row = {"instruction": prompt, "input": "", "output": completion}
    return stored_row, issues, _column_renamer({"instruction": "prompt", "output": "completion"})


def _from_conversational_completion(prompt: Any, completion: Any, issues: list[Issue]) -> Converted:
    for key, value in (("prompt", prompt), ("completion", completion)):
        if not isinstance(value, list):
            return (
                None,
                [
                    (
                        key,
                        f"must be a list of messages like the other rows of this file, got {_kind_with_article(value)}",
                        "error",
                    )
                ]
                + issues,
                _same_field,
            )
    sources: list[tuple[str, dict]] = [(f"prompt[{i}]", {}) for i in range(len(prompt))]
    sources += [(f"completion[{i}]", {}) for i in range(len(completion))]
    return {"messages": prompt + completion}, issues, _message_renamer("prompt", sources)


def _from_sharegpt(row: dict, stored: str) -> Converted:
    issues = _unknown_key_issues(row, SHAREGPT_KEYS)
    turns = row.get("conversations")
    if "conversations" not in row:
        return None, [("conversations", "missing field", "error")] + issues, _same_field
    if not isinstance(turns, list):
        return (
            None,
            [
                (
                    "conversations",
                    'must be a list of turns like {"from": "human", "value": "..."}, '
                    f"got {_kind_with_article(turns)}",
                    "error",
                )
            ]
            + issues,
            _same_field,
        )
    messages, sources = _sharegpt_system(row, issues)
    for i, turn in enumerate(turns):
        message, keys = _sharegpt_message(turn, f"conversations[{i}]", issues)
        messages.append(message)
        sources.append((f"conversations[{i}]", keys))
    return {"messages": messages}, issues, _message_renamer("conversations", sources)


def _sharegpt_system(row: dict, issues: list[Issue]) -> tuple[list, list]:
    """Some ShareGPT files keep the system prompt in a top-level "system" key."""
    system = row.get("system")
    if system is None or system == "":
        return [], []
    if not isinstance(system, str):
        issues.append(("system", f"must be a string, got {_kind(system)}", "error"))
        return [], []
    return [{"role": "system", "content": system}], [("system", {"role": "", "content": ""})]


def _sharegpt_message(turn: object, where: str, issues: list[Issue]) -> tuple[object, dict[str, str]]:
    if not isinstance(turn, dict):
        return turn, {}
    # Some files use OpenAI's role/content names inside "conversations"; accept both spellings.
    speaker_key = "role" if "role" in turn and "from" not in turn else "from"
    text_key = "content" if "content" in turn and "value" not in turn else "value"
    issues += _unknown_key_issues(
        {k: v for k, v in turn.items() if k not in (speaker_key, text_key)}, SHAREGPT_TURN_KEYS, f"{where}."
    )
    message = {}
    if speaker_key in turn:
        speaker = turn[speaker_key]
        role = SHAREGPT_ROLES.get(speaker.lower()) if isinstance(speaker, str) else None
        if isinstance(speaker, str) and role is None:
            issues.append(
                (
                    f"{where}.{speaker_key}",
                    f"unknown speaker {speaker!r}; use human, gpt or system "
                    "(user, assistant and model are accepted too)",
                    "error",
                )
            )
        message["role"] = role or speaker
    if text_key in turn:
        message["content"] = turn[text_key]
    return message, {"role": f".{speaker_key}", "content": f".{text_key}"}


_CONVERTERS: dict[str, Callable[[dict, str], Converted]] = {
    "alpaca": _from_stored,
    "chat": _from_stored,
    "completion": _from_completion,
    "sharegpt": _from_sharegpt,
}


def _stored_format(fmt: str, records: list[_Record]) -> str:
    if fmt == "completion":
        # Conversational prompt/completion (message lists) is stored as chat; the first row decides.
        first = next((r.value for r in records if isinstance(r.value, dict) and "prompt" in r.value), {})
        return "chat" if isinstance(first.get("prompt"), list) else "alpaca"
    return "chat" if fmt in ("chat", "sharegpt") else "alpaca"


def _json_source_row(record: _Record, fmt: str, stored: str, file: str, answers_optional: bool = False) -> SourceRow:
    if record.error:
        return SourceRow(record.line, record.raw, None, [Problem(file, record.line, "json", record.error)])
    if not isinstance(record.value, dict):
        problem = f"expected a JSON object, got {_kind_with_article(record.value)}"
        return SourceRow(record.line, record.raw, None, [Problem(file, record.line, "row", problem)])
    value = _with_answer_slot(record.value, fmt) if answers_optional else record.value
    return _checked_row(file, record.line, record.raw, _CONVERTERS[fmt](value, stored), stored)


def _with_answer_slot(row: dict, fmt: str) -> dict:
    """A row of inputs to answer, with NO_ANSWER where it has no answer (no output, no completion, or a
    conversation that ends with the user's turn)."""
    if fmt == "alpaca" and row.get("output") in (None, ""):
        return {**row, "output": NO_ANSWER}
    if fmt == "completion" and row.get("completion") in (None, "", []):
        prompt = row.get("prompt")
        answer = [{"role": "assistant", "content": NO_ANSWER}] if isinstance(prompt, list) else NO_ANSWER
        return {**row, "completion": answer}
    if fmt == "chat" and _ends_with(row.get("messages"), "role", ("user",)):
        return {**row, "messages": [*row["messages"], {"role": "assistant", "content": NO_ANSWER}]}
    if fmt == "sharegpt" and _ends_with(row.get("conversations"), "from", ("human", "user")):
        return {**row, "conversations": [*row["conversations"], {"from": "gpt", "value": NO_ANSWER}]}
    return row


def _ends_with(turns: object, speaker: str, names: tuple[str, ...]) -> bool:
    return isinstance(turns, list) and bool(turns) and isinstance(turns[-1], dict) and turns[-1].get(speaker) in names


def _checked_row(file: str, line: int, raw: str, converted: Converted, stored: str) -> SourceRow:
    data, issues, rename = converted
    problems = [Problem(file, line, field, problem, severity) for field, problem, severity in issues]
    if data is not None:
        reported = {p.field for p in problems}  # the source-level problem on a field says it better
        checked = [replace(p, field=rename(p.field)) for p in validate_row(data, stored, file, line)]
        problems += [p for p in checked if p.field not in reported]
        if not _has_error(problems):
            data = _without_unknown_keys(data, stored)
    if "\ufffd" in raw:
        problems.append(
            Problem(
                file,
                line,
                "encoding",
                "contains '\ufffd', the mark of text lost to a wrong "
                "encoding before this file was saved; retype those "
                "characters",
                "warning",
            )
        )
    return SourceRow(line, raw, data, problems)


def _without_unknown_keys(row: dict, stored: str) -> dict:
    if stored == "chat":
        return {"messages": [{"role": m["role"], "content": m["content"]} for m in row["messages"]]}
    clean = {"instruction": row["instruction"], "input": row.get("input") or "", "output": row["output"]}
    if row.get("system"):
        clean["system"] = row["system"]
    return clean


# ----------------------------------------------------------------------------------------------- parsing


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
        return _parse_parquet(data, file, mapping, answers_optional)
    if data.startswith(b"PAR1"):
        raise FormatError(f"{file} is a Parquet file: read it with the parquet format.")
    text, encoding, notes = decode(data, file)
    if fmt == "csv":
        rows, more_notes = _parse_csv(text, file, mapping, answers_optional)
        return _result(file, fmt, "alpaca", encoding, rows, notes + more_notes)
    records, more_notes = _json_records(text)
    stored = _stored_format(fmt, records)
    rows = [_json_source_row(record, fmt, stored, file, answers_optional) for record in records]
    return _result(file, fmt, stored, encoding, rows, notes + more_notes)


def _result(file: str, fmt: str, stored: str, encoding: str, rows: list[SourceRow], notes: list[str]) -> ImportResult:
    duplicates = _duplicate_warnings([row.data for row in rows], [row.line for row in rows], file)
    for index, problem in duplicates.items():
        rows[index].problems.append(problem)
    if not rows:
        raise FormatError(f"{file} holds no rows (a header line at most): there is nothing to import.")
    return ImportResult(file, fmt, stored, encoding, rows, notes)


# -------------------------------------------------------------------------------------------- validation


def validate_row(row: dict, fmt: str, file: str, line: int) -> list[Problem]:
    """The problems of one row in a stored format ("alpaca" or "chat")."""
    if fmt not in STORED_FORMATS:
        raise FormatError(f"Unknown stored format {fmt!r}; expected one of {', '.join(STORED_FORMATS)}.")
    if not isinstance(row, dict):
        issues = [("row", f"expected a JSON object, got {_kind_with_article(row)}", "error")]
    else:
        issues = _alpaca_issues(row) if fmt == "alpaca" else _chat_issues(row)
    return [Problem(file, line, field, problem, severity) for field, problem, severity in issues]


def validate_rows(rows: list[dict], fmt: str, file: str, lines: list[int] | None = None) -> list[Problem]:
    """Every row's problems, plus a warning on each exact duplicate of an earlier row."""
    lines = list(range(1, len(rows) + 1)) if lines is None else lines
    if len(lines) != len(rows):
        raise ValueError(f"{len(rows)} rows but {len(lines)} line numbers")
    duplicates = _duplicate_warnings(rows, lines, file)
    problems = []
    for index, (row, line) in enumerate(zip(rows, lines, strict=True)):
        problems += validate_row(row, fmt, file, line)
        if index in duplicates:
            problems.append(duplicates[index])
    return problems


def _duplicate_warnings(rows: Sequence[object], lines: list[int], file: str) -> dict[int, Problem]:
    first_line: dict[str, int] = {}
    warnings: dict[int, Problem] = {}
    for index, (row, line) in enumerate(zip(rows, lines, strict=True)):
        if row is None:
            continue
        key = json.dumps(row, sort_keys=True, ensure_ascii=False, default=str)
        if key in first_line:
            warnings[index] = Problem(file, line, "row", f"duplicate of line {first_line[key]}", "warning")
        else:
            first_line[key] = line
    return warnings


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    names: dict[type, str] = {str: "string", dict: "object", list: "list"}
    return names.get(type(value), type(value).__name__)


def _kind_with_article(value: object) -> str:
    kind = _kind(value)
    return kind if kind == "null" else f"{'an' if kind[0] in 'aeiou' else 'a'} {kind}"


def _text_issues(field: str, value: object, required: bool) -> list[Issue]:
    if value is None and not required:
        return []
    if not isinstance(value, str):
        return [(field, f"must be a string, got {_kind(value)}", "error")]
    if required and not value.strip():
        return [(field, "empty", "error")]
    if _SURROGATE.search(value):
        return [
            (
                field,
                "holds a lone UTF-16 surrogate (an escape such as \\ud800 alone), not a character; remove it",
                "error",
            )
        ]
    return []


def _alpaca_issues(row: dict) -> list[Issue]:
    issues = []
    for field in ALPACA_FIELDS:
        required = field in ("instruction", "output")
        if field in row:
            issues += _text_issues(field, row[field], required)
        elif required:
            issues.append((field, "missing field", "error"))
    return issues + _unknown_key_issues(row, ALPACA_FIELDS)


def _chat_issues(row: dict) -> list[Issue]:
    unknown = _unknown_key_issues(row, ("messages",))
    messages = row.get("messages")
    if "messages" not in row:
        return [("messages", "missing field", "error")] + unknown
    if not isinstance(messages, list):
        return [("messages", f"must be a list of messages, got {_kind_with_article(messages)}", "error"), *unknown]
    if not messages:
        return [("messages", "empty: a conversation needs a user message and an assistant reply", "error"), *unknown]
    issues = [issue for i, message in enumerate(messages) for issue in _message_issues(i, message)]
    if all(isinstance(m, dict) and m.get("role") in ROLES for m in messages):
        issues += _role_order_issues([m["role"] for m in messages])
    return issues + unknown


def _message_issues(i: int, message: object) -> list[Issue]:
    where = f"messages[{i}]"
    if not isinstance(message, dict):
        return [(where, f"expected a JSON object with role and content, got {_kind_with_article(message)}", "error")]
    issues = []
    role = message.get("role")
    if "role" not in message:
        issues.append((f"{where}.role", "missing field", "error"))
    elif not isinstance(role, str):
        issues.append((f"{where}.role", f"must be a string, got {_kind(role)}", "error"))
    elif role not in ROLES:
        issues.append((f"{where}.role", f"unknown role {role!r}; use system, user or assistant", "error"))
    if "content" not in message:
        issues.append((f"{where}.content", "missing field", "error"))
    else:
        issues += _text_issues(f"{where}.content", message["content"], required=True)
    return issues + _unknown_key_issues(message, MESSAGE_KEYS, f"{where}.")


def _role_order_issues(roles: list[str]) -> list[Issue]:
    """An optional leading system message, then user and assistant turns in turn, ending with assistant."""
    previous = None
    for i, role in enumerate(roles):
        if i == 0 and role == "system":
            previous = role
            continue
        expected = "assistant" if previous == "user" else "user"
        if role != expected:
            return [(f"messages[{i}].role", _order_problem(expected, previous, role), "error")]
        previous = role
    if roles[-1] != "assistant":
        problem = (
            f"the last message must be the 'assistant' reply to learn, got '{roles[-1]}'; "
            "add the reply or remove this message"
        )
        return [(f"messages[{len(roles) - 1}].role", problem, "error")]
    return []


def _order_problem(expected: str, previous: str | None, role: str) -> str:
    if role == "system":
        return "a system message can only be the first message; merge it into the first one"
    after = f"after '{previous}'" if previous else "first (after an optional system message)"
    return f"expected '{expected}' {after}, got '{role}'"


# ------------------------------------------------------------------------------------------------ export


def export_rows(rows: list[dict], stored_format: str, target: str, file: str = "dataset") -> list[dict]:
    """Stored rows written as the target format; ExportError naming the first row that cannot be."""
    if stored_format not in STORED_FORMATS:
        raise ExportError(f"Unknown stored format {stored_format!r}; expected one of {', '.join(STORED_FORMATS)}.")
    if target not in EXPORT_FORMATS:
        raise ExportError(f"Unknown export format {target!r}; expected one of {', '.join(EXPORT_FORMATS)}.")
    shape = "alpaca" if target == "csv" else target  # a CSV holds alpaca's columns
    return [_export_row(row, stored_format, shape, f"{file}: row {n}") for n, row in enumerate(rows, 1)]


def dumps_export(rows: list[dict], target: str) -> str:
    """Exported rows as the file's text: CSV for "csv", JSONL for every other format."""
    return dumps_csv(rows) if target == "csv" else dumps_jsonl(rows)


def export_suffix(target: str) -> str:
    return ".csv" if target == "csv" else ".jsonl"


def dumps_csv(rows: list[dict]) -> str:
    """Alpaca rows as CSV for a spreadsheet. A cell a spreadsheet would run as a formula (`=cmd|...`,
    `+`, `-`, `@`) starts with an apostrophe, so it opens as the text it is."""
    columns = ["instruction", "input", "output"] + (["system"] if any(r.get("system") for r in rows) else [])
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([spreadsheet_safe(str(row.get(column) or "")) for column in columns])
    return buffer.getvalue()


def spreadsheet_safe(cell: str) -> str:
    return f"'{cell}" if cell.startswith(SPREADSHEET_FORMULA_START) else cell


def _export_row(row: dict, stored: str, target: str, where: str) -> dict:
    _check_exportable(row, stored, where)
    if stored == target == "alpaca":
        return _without_unknown_keys(row, "alpaca")
    messages = to_messages(row, stored)
    if target == "chat":
        return {"messages": messages}
    if target == "sharegpt":
        return {
            "conversations": [
                {"from": SHAREGPT_SPEAKERS.get(m["role"], m["role"]), "value": m["content"]} for m in messages
            ]
        }
    system, user, assistant = _single_turn(messages, target, where)
    if target == "completion":
        if system is not None:
            raise ExportError(
                f"{where} has a system prompt, which the prompt/completion format cannot hold; "
                "export as alpaca, chat or sharegpt instead."
            )
        return {"prompt": alpaca_prompt(row) if stored == "alpaca" else user, "completion": assistant}
    exported = {"instruction": user, "input": "", "output": assistant}
    return exported if system is None else {**exported, "system": system}


def _check_exportable(row: object, stored: str, where: str) -> None:
    if not isinstance(row, dict):
        raise ExportError(f"{where} is {_kind_with_article(row)}, not a JSON object.")
    messages = row.get("messages")
    if stored == "chat" and not (isinstance(messages, list) and all(isinstance(m, dict) for m in messages)):
        raise ExportError(f"{where} has no valid 'messages' list; fix it in the editor first.")


def _single_turn(messages: list[dict], target: str, where: str) -> tuple[str | None, str, str]:
    """(system or None, user, assistant) of a one-question conversation; ExportError for anything else."""
    roles = [m["role"] for m in messages]
    system = messages[0]["content"] if roles[:1] == ["system"] else None
    rest = messages[1:] if system is not None else messages
    if [m["role"] for m in rest] != ["user", "assistant"]:
        users = roles.count("user")
        turns = f"{users} user turn{'' if users == 1 else 's'}: {', '.join(map(str, roles))}"
        raise ExportError(
            f"{where} is a conversation of {len(messages)} messages ({turns}); {target} holds "
            "one user message and one assistant reply. Export as chat or sharegpt instead."
        )
    return system, rest[0]["content"], rest[1]["content"]


def dumps_jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
