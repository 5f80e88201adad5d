"""Stored rows written out in any export format: supervised rows as alpaca, chat, sharegpt or completion,
preference pairs and feedback in TRL's explicit conversational shape, and any kind as CSV for a spreadsheet."""

from __future__ import annotations

import csv
import io
import json

from workbench.data.formats.conversion import SHAREGPT_SPEAKERS
from workbench.data.formats.problems import ExportError
from workbench.data.formats.validation import kind_with_article, without_unknown_keys
from workbench.data.records import PREFERENCE_KINDS, STORED_FORMATS, alpaca_prompt, to_messages

EXPORT_FORMATS = ("alpaca", "chat", "sharegpt", "completion", "preference", "feedback", "csv")
SFT_TARGETS = ("alpaca", "chat", "sharegpt", "completion", "csv")

SPREADSHEET_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # what Excel and LibreOffice run as a formula


def export_targets(stored_format: str) -> tuple[str, ...]:
    """The export formats rows of a stored kind can be written as (the first is the default)."""
    return (stored_format, "csv") if stored_format in PREFERENCE_KINDS else SFT_TARGETS


def export_rows(rows: list[dict], stored_format: str, target: str, file: str = "dataset") -> list[dict]:
    """Stored rows written as the target format; ExportError naming the first row that cannot be."""
    if stored_format not in STORED_FORMATS:
        raise ExportError(f"Unknown stored format {stored_format!r}; expected one of {', '.join(STORED_FORMATS)}.")
    if target not in EXPORT_FORMATS:
        raise ExportError(f"Unknown export format {target!r}; expected one of {', '.join(EXPORT_FORMATS)}.")
    allowed = export_targets(stored_format)
    if target not in allowed:
        raise ExportError(f"{file} holds {stored_format} rows, which export as {' or '.join(allowed)}, not {target}.")
    if stored_format in PREFERENCE_KINDS:
        return [_pair_row(row, stored_format, target) for row in rows]
    shape = "alpaca" if target == "csv" else target  # a CSV holds alpaca's columns
    return [_export_row(row, stored_format, shape, f"{file}: row {n}") for n, row in enumerate(rows, 1)]


def dumps_export(rows: list[dict], target: str) -> str:
    """Exported rows as the file's text: CSV for "csv", JSONL for every other format."""
    return dumps_csv(rows) if target == "csv" else dumps_jsonl(rows)


def export_suffix(target: str) -> str:
    return ".csv" if target == "csv" else ".jsonl"


def _pair_row(row: dict, stored: str, target: str) -> dict:
    """A preference or feedback row in TRL's explicit conversational shape, or as CSV cells."""
    answers = ("chosen", "rejected") if stored == "preference" else ("completion",)
    if target == "csv":
        prompt = row["prompt"]
        system = next((m["content"] for m in prompt if m["role"] == "system"), None)
        turns = [m for m in prompt if m["role"] != "system"]
        text = turns[0]["content"] if len(turns) == 1 else "\n\n".join(f"{m['role']}: {m['content']}" for m in turns)
        cells = {"prompt": text, **{key: row[key] for key in answers}}
        if stored == "feedback":
            cells["label"] = "true" if row["label"] else "false"
        return {**cells, "system": system} if system else cells
    exported = {"prompt": row["prompt"], **{key: [{"role": "assistant", "content": row[key]}] for key in answers}}
    return {**exported, "label": row["label"]} if stored == "feedback" else exported


def dumps_csv(rows: list[dict]) -> str:
    """Rows as CSV for a spreadsheet (alpaca's columns, or a pair's). A cell a spreadsheet would run as a
    formula (`=cmd|...`, `+`, `-`, `@`) starts with an apostrophe, so it opens as the text it is."""
    first = rows[0] if rows else {}
    if "prompt" in first:
        named = [key for key in ("prompt", "chosen", "rejected", "completion", "label") if key in first]
    else:
        named = ["instruction", "input", "output"]
    columns = named + (["system"] if any(r.get("system") for r in rows) else [])
    buffer = io.StringIO()
    writer = csv.writer(buffer)  # CRLF line ends: a cell holding a lone CR is quoted too (RFC 4180)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([spreadsheet_safe(str(row.get(column) or "")) for column in columns])
    return buffer.getvalue()


def spreadsheet_safe(cell: str) -> str:
    """The cell as a spreadsheet shows it: never run as a formula, NUL characters (which cut a cell short
    in some spreadsheets) left out."""
    cell = cell.replace("\x00", "")
    return f"'{cell}" if cell.startswith(SPREADSHEET_FORMULA_START) else cell


def _export_row(row: dict, stored: str, target: str, where: str) -> dict:
    _check_exportable(row, stored, where)
    if stored == target == "alpaca":
        return without_unknown_keys(row, "alpaca")
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
        raise ExportError(f"{where} is {kind_with_article(row)}, not a JSON object.")
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
