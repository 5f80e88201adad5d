"""Checking stored rows (alpaca, chat): every problem with its field, duplicates as warnings."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import replace

from workbench.data.formats.problems import Converted, FormatError, ImportResult, Issue, Problem, SourceRow, has_error
from workbench.data.records import ALPACA_FIELDS, ROLES, STORED_FORMATS

MESSAGE_KEYS = ("role", "content")

_SURROGATE = re.compile("[\ud800-\udfff]")


def unknown_key_issues(obj: dict, known: tuple[str, ...], prefix: str = "") -> list[Issue]:
    return [
        (f"{prefix}{key}", f"unknown key {key!r} (ignored; known keys: {', '.join(known)})", "warning")
        for key in obj
        if key not in known
    ]


def checked_row(file: str, line: int, raw: str, converted: Converted, stored: str) -> SourceRow:
    data, issues, rename = converted
    problems = [Problem(file, line, field, problem, severity) for field, problem, severity in issues]
    if data is not None:
        reported = {p.field for p in problems}  # the source-level problem on a field says it better
        checked = [replace(p, field=rename(p.field)) for p in validate_row(data, stored, file, line)]
        problems += [p for p in checked if p.field not in reported]
        if not has_error(problems):
            data = without_unknown_keys(data, stored)
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


def without_unknown_keys(row: dict, stored: str) -> dict:
    if stored == "chat":
        return {"messages": [{"role": m["role"], "content": m["content"]} for m in row["messages"]]}
    if stored in ("preference", "feedback"):
        prompt = [{"role": m["role"], "content": m["content"]} for m in row["prompt"]]
        keys = ("chosen", "rejected") if stored == "preference" else ("completion", "label")
        return {"prompt": prompt, **{key: row[key] for key in keys}}
    clean = {"instruction": row["instruction"], "input": row.get("input") or "", "output": row["output"]}
    if row.get("system"):
        clean["system"] = row["system"]
    return clean


def import_result(
    file: str, fmt: str, stored: str, encoding: str, rows: list[SourceRow], notes: list[str]
) -> ImportResult:
    duplicates = duplicate_warnings([row.data for row in rows], [row.line for row in rows], file)
    for index, problem in duplicates.items():
        rows[index].problems.append(problem)
    if not rows:
        raise FormatError(f"{file} holds no rows (a header line at most): there is nothing to import.")
    return ImportResult(file, fmt, stored, encoding, rows, notes)


def validate_row(row: dict, fmt: str, file: str, line: int) -> list[Problem]:
    """The problems of one row of a stored kind (records.STORED_FORMATS)."""
    if fmt not in STORED_FORMATS:
        raise FormatError(f"Unknown stored format {fmt!r}; expected one of {', '.join(STORED_FORMATS)}.")
    if not isinstance(row, dict):
        issues = [("row", f"expected a JSON object, got {kind_with_article(row)}", "error")]
    else:
        issues = KIND_ISSUES[fmt](row)
    return [Problem(file, line, field, problem, severity) for field, problem, severity in issues]


def validate_rows(rows: list[dict], fmt: str, file: str, lines: list[int] | None = None) -> list[Problem]:
    """Every row's problems, plus a warning on each exact duplicate of an earlier row."""
    lines = list(range(1, len(rows) + 1)) if lines is None else lines
    if len(lines) != len(rows):
        raise ValueError(f"{len(rows)} rows but {len(lines)} line numbers")
    duplicates = duplicate_warnings(rows, lines, file)
    problems = []
    for index, (row, line) in enumerate(zip(rows, lines, strict=True)):
        problems += validate_row(row, fmt, file, line)
        if index in duplicates:
            problems.append(duplicates[index])
    return problems


def duplicate_warnings(rows: Sequence[object], lines: list[int], file: str) -> dict[int, Problem]:
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


def kind_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    names: dict[type, str] = {str: "string", dict: "object", list: "list"}
    return names.get(type(value), type(value).__name__)


def kind_with_article(value: object) -> str:
    kind = kind_name(value)
    return kind if kind == "null" else f"{'an' if kind[0] in 'aeiou' else 'a'} {kind}"


def _text_issues(field: str, value: object, required: bool) -> list[Issue]:
    if value is None and not required:
        return []
    if not isinstance(value, str):
        return [(field, f"must be a string, got {kind_name(value)}", "error")]
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
    return issues + unknown_key_issues(row, ALPACA_FIELDS)


def _chat_issues(row: dict) -> list[Issue]:
    unknown = unknown_key_issues(row, ("messages",))
    messages = row.get("messages")
    if "messages" not in row:
        return [("messages", "missing field", "error")] + unknown
    if not isinstance(messages, list):
        return [("messages", f"must be a list of messages, got {kind_with_article(messages)}", "error"), *unknown]
    if not messages:
        return [("messages", "empty: a conversation needs a user message and an assistant reply", "error"), *unknown]
    issues = [issue for i, message in enumerate(messages) for issue in _message_issues(i, message)]
    if all(isinstance(m, dict) and m.get("role") in ROLES for m in messages):
        issues += _role_order_issues([m["role"] for m in messages])
    return issues + unknown


def _message_issues(i: int, message: object) -> list[Issue]:
    where = f"messages[{i}]"
    if not isinstance(message, dict):
        return [(where, f"expected a JSON object with role and content, got {kind_with_article(message)}", "error")]
    issues = []
    role = message.get("role")
    if "role" not in message:
        issues.append((f"{where}.role", "missing field", "error"))
    elif not isinstance(role, str):
        issues.append((f"{where}.role", f"must be a string, got {kind_name(role)}", "error"))
    elif role not in ROLES:
        issues.append((f"{where}.role", f"unknown role {role!r}; use system, user or assistant", "error"))
    if "content" not in message:
        issues.append((f"{where}.content", "missing field", "error"))
    else:
        issues += _text_issues(f"{where}.content", message["content"], required=True)
    return issues + unknown_key_issues(message, MESSAGE_KEYS, f"{where}.")


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


PAIR_KEYS = ("prompt", "chosen", "rejected")
FEEDBACK_KEYS = ("prompt", "completion", "label")


def _prompt_issues(row: dict) -> list[Issue]:
    """A preference or feedback row's prompt: messages as in a chat, the last one the user's."""
    prompt = row.get("prompt")
    if "prompt" not in row:
        return [("prompt", "missing field", "error")]
    if not isinstance(prompt, list) or not prompt:
        got = "an empty list" if prompt == [] else kind_with_article(prompt)
        return [("prompt", f"must be a list of messages ending with the user's, got {got}", "error")]
    issues = [
        (field.replace("messages", "prompt", 1), problem, severity)
        for i, message in enumerate(prompt)
        for field, problem, severity in _message_issues(i, message)
    ]
    if issues or not all(isinstance(m, dict) and m.get("role") in ROLES for m in prompt):
        return issues
    roles = [m["role"] for m in prompt]
    if roles[-1] != "user":
        return [
            (
                f"prompt[{len(roles) - 1}].role",
                f"the prompt's last turn must be the user's (the question the answers reply to), got "
                f"'{roles[-1]}'; move that turn into the answers or add the user's question",
                "error",
            )
        ]
    order = _role_order_issues([*roles, "assistant"])
    return [(field.replace("messages", "prompt", 1), problem, severity) for field, problem, severity in order]


def _preference_issues(row: dict) -> list[Issue]:
    issues = _prompt_issues(row)
    for side in ("chosen", "rejected"):
        if side not in row:
            issues.append((side, "missing field", "error"))
        else:
            issues += _text_issues(side, row[side], required=True)
    chosen, rejected = row.get("chosen"), row.get("rejected")
    if isinstance(chosen, str) and isinstance(rejected, str) and chosen.strip() and rejected.strip():
        if chosen == rejected:
            issues.append(("rejected", "the same answer as chosen: a pair teaches only where they differ", "error"))
        elif chosen.split() == rejected.split():
            issues.append(("rejected", "differs from chosen only in whitespace: little to learn from", "warning"))
    return issues + unknown_key_issues(row, PAIR_KEYS)


def _feedback_issues(row: dict) -> list[Issue]:
    issues = _prompt_issues(row)
    if "completion" not in row:
        issues.append(("completion", "missing field", "error"))
    else:
        issues += _text_issues("completion", row["completion"], required=True)
    label = row.get("label")
    if "label" not in row:
        issues.append(("label", "missing field", "error"))
    elif not isinstance(label, bool):
        issues.append(("label", f"must be true or false (is the answer good?), got {label!r}", "error"))
    return issues + unknown_key_issues(row, FEEDBACK_KEYS)


KIND_ISSUES = {
    "alpaca": _alpaca_issues,
    "chat": _chat_issues,
    "preference": _preference_issues,
    "feedback": _feedback_issues,
}
