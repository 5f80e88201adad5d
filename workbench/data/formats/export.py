"""Stored rows written out in any export format (alpaca, chat, sharegpt, completion, CSV for a spreadsheet)."""

from __future__ import annotations

import csv
import io
import json

from workbench.data.formats.conversion import SHAREGPT_SPEAKERS
from workbench.data.formats.problems import ExportError
from workbench.data.formats.validation import kind_with_article, without_unknown_keys
from workbench.data.records import STORED_FORMATS, alpaca_prompt, to_messages

EXPORT_FORMATS = ("alpaca", "chat", "sharegpt", "completion", "csv")

SPREADSHEET_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # what Excel and LibreOffice run as a formula


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
