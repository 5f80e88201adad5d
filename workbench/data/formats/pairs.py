"""Preference and feedback rows in the shapes other tools write them, turned into the stored kinds
"preference" ({"prompt", "chosen", "rejected"}) and "feedback" ({"prompt", "completion", "label"}).

Shapes read: TRL's explicit prompt (`prompt`, `chosen`, `rejected`, as text or as conversations), TRL's
implicit prompt (`chosen` and `rejected` whole conversations sharing a prefix, or Anthropic-HH text),
LLaMA-Factory's ranking rows (a ShareGPT `conversations` list or OpenAI `messages`, plus `chosen` and
`rejected` turns), and unpaired feedback for KTO (TRL's `prompt`/`completion`/`label`, LLaMA-Factory's
`messages` + `label`). Each converter returns the stored row, the problems only the source shape can
name, and a renamer from stored fields to the source's own (so `prompt[0].content` reads
`conversations[0].value` in a LLaMA-Factory file).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from workbench.data.formats.conversion import SHAREGPT_ROLES
from workbench.data.formats.problems import Converted, Issue
from workbench.data.formats.validation import kind_with_article, unknown_key_issues

_HH_TURN = re.compile(r"\n\n(Human|Assistant): ")
_HH_ROLES = {"Human": "user", "Assistant": "assistant"}


def _renamer(names: dict[str, str]) -> Callable[[str], str]:
    return lambda field: names.get(field, field)


def _answer(value: object, side: str, issues: list[Issue]) -> object:
    """An answer given as text, as one assistant message, or as a list holding one."""
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, dict):
        text = value.get("content", value.get("value"))
        return text if text is not None else value
    if isinstance(value, list):
        issues.append(
            (side, f"expected the answer as text or one assistant message, got {len(value)} messages", "error")
        )
    return value


def _prompt(value: object) -> object:
    """A prompt given as text (one user turn) or as a list of messages."""
    return [{"role": "user", "content": value}] if isinstance(value, str) else value


def from_explicit(row: dict, stored: str) -> Converted:
    """TRL: {"prompt", "chosen", "rejected"}."""
    issues = unknown_key_issues(row, ("prompt", "chosen", "rejected"))
    converted = {"prompt": _prompt(row.get("prompt")), **_sides(row, issues)}
    names = {"prompt[0].content": "prompt"} if isinstance(row.get("prompt"), str) else {}
    return converted, issues, _renamer(names)


def _sides(row: dict, issues: list[Issue]) -> dict:
    return {side: _answer(row[side], side, issues) for side in ("chosen", "rejected") if side in row}


def from_implicit(row: dict, stored: str) -> Converted:
    """TRL's implicit prompt: two whole conversations (or Anthropic-HH texts) sharing their first turns."""
    issues = unknown_key_issues(row, ("chosen", "rejected"))
    chosen, rejected = (_conversation(row.get(side)) for side in ("chosen", "rejected"))
    if not isinstance(chosen, list) or not isinstance(rejected, list):
        got = kind_with_article(row.get("chosen"))
        issues.append(
            ("chosen", f"must be a conversation (a list of messages or Human:/Assistant: text), got {got}", "error")
        )
        return None, issues, _renamer({})
    shared = 0
    while shared < min(len(chosen), len(rejected)) and chosen[shared] == rejected[shared]:
        shared += 1
    if shared == 0:
        problem = "the chosen and rejected conversations share no prompt: they must start with the same turns"
        return None, [*issues, ("chosen", f"{problem} and differ only in the last answer", "error")], _renamer({})
    if len(chosen) - shared != 1 or len(rejected) - shared != 1:
        problem = (
            f"the conversations differ before their last answer (from turn {shared + 1}): only the answer may differ"
        )
        return None, [*issues, ("rejected", problem, "error")], _renamer({})
    answers = {"chosen": _answer(chosen[-1], "chosen", issues), "rejected": _answer(rejected[-1], "rejected", issues)}
    return {"prompt": chosen[:shared], **answers}, issues, _renamer({})


def _conversation(value: object) -> object:
    if not isinstance(value, str):
        return value
    parts = _HH_TURN.split(value if value.startswith("\n\n") else "\n\n" + value)
    if len(parts) < 3:
        return value
    return [
        {"role": _HH_ROLES[speaker], "content": text} for speaker, text in zip(parts[1::2], parts[2::2], strict=True)
    ]


def from_sharegpt_ranking(row: dict, stored: str) -> Converted:
    """LLaMA-Factory: {"conversations": [{"from", "value"}...], "chosen": {"from", "value"}, "rejected": …}."""
    issues = unknown_key_issues(row, ("conversations", "chosen", "rejected", "system"))
    turns = row.get("conversations")
    if not isinstance(turns, list):
        return (
            None,
            [*issues, ("conversations", f"must be a list of turns, got {kind_with_article(turns)}", "error")],
            _renamer({}),
        )
    prompt, names = [], {}
    if isinstance(row.get("system"), str) and row["system"]:
        prompt.append({"role": "system", "content": row["system"]})
        names["prompt[0].content"] = "system"
    for i, turn in enumerate(turns):
        where, at = f"conversations[{i}]", len(prompt)
        if isinstance(turn, dict):
            speaker = turn.get("from", turn.get("role"))
            role = SHAREGPT_ROLES.get(speaker.lower()) if isinstance(speaker, str) else None
            if isinstance(speaker, str) and role is None:
                issues.append((f"{where}.from", f"unknown speaker {speaker!r}; use human, gpt or system", "error"))
            turn = {"role": role or speaker, "content": turn.get("value", turn.get("content"))}
        prompt.append(turn)
        names.update({f"prompt[{at}].role": f"{where}.from", f"prompt[{at}].content": f"{where}.value"})
        names[f"prompt[{at}]"] = where
    names.update({"chosen": "chosen.value", "rejected": "rejected.value"})
    return {"prompt": prompt, **_sides(row, issues)}, issues, _renamer(names)


def from_chat_ranking(row: dict, stored: str) -> Converted:
    """LLaMA-Factory's OpenAI-role variant: {"messages": [...], "chosen": {"role", "content"}, "rejected": …}."""
    issues = unknown_key_issues(row, ("messages", "chosen", "rejected"))
    names = {"chosen": "chosen.content", "rejected": "rejected.content"}
    names.update(
        {
            f"prompt[{i}]{part}": f"messages[{i}]{part}"
            for i in range(_length(row.get("messages")))
            for part in ("", ".role", ".content")
        }
    )
    return {"prompt": row.get("messages"), **_sides(row, issues)}, issues, _renamer(names)


def _length(value: object) -> int:
    return len(value) if isinstance(value, list) else 0


def from_feedback(row: dict, stored: str) -> Converted:
    """TRL's unpaired rows for KTO: {"prompt", "completion", "label"}."""
    issues = unknown_key_issues(row, ("prompt", "completion", "label"))
    converted = {"prompt": _prompt(row.get("prompt")), "label": row.get("label")}
    if "completion" in row:
        converted["completion"] = _answer(row["completion"], "completion", issues)
    if "label" not in row:
        del converted["label"]
    names = {"prompt[0].content": "prompt"} if isinstance(row.get("prompt"), str) else {}
    return converted, issues, _renamer(names)


def from_chat_feedback(row: dict, stored: str) -> Converted:
    """LLaMA-Factory's KTO rows: {"messages": [... ending with the answer], "label": bool}."""
    issues = unknown_key_issues(row, ("messages", "label"))
    messages = row.get("messages")
    if not isinstance(messages, list) or not messages:
        return (
            None,
            [
                *issues,
                (
                    "messages",
                    f"must be a list of messages ending with the answer, got {kind_with_article(messages)}",
                    "error",
                ),
            ],
            _renamer({}),
        )
    last = messages[-1]
    if not (isinstance(last, dict) and last.get("role") == "assistant"):
        where = f"messages[{len(messages) - 1}]"
        return (
            None,
            [*issues, (where, "the last message must be the assistant's answer that the label judges", "error")],
            _renamer({}),
        )
    converted = {"prompt": messages[:-1], "completion": last.get("content")}
    if "label" in row:
        converted["label"] = row["label"]
    names = {
        f"prompt[{i}]{part}": f"messages[{i}]{part}" for i in range(len(messages)) for part in ("", ".role", ".content")
    }
    names["completion"] = f"messages[{len(messages) - 1}].content"
    return converted, issues, _renamer(names)
