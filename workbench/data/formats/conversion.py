"""The supervised JSON formats (alpaca, chat, ShareGPT, prompt/completion) turned into stored rows, with where
their fields came from, so that a problem names the source file's own field. Declared in `kinds`."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from workbench.data.formats.problems import Converted, Issue
from workbench.data.formats.validation import kind_name, kind_with_article, unknown_key_issues

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

# Where a file of inputs to answer (prediction) has no answer, `parse(..., answers_optional=True)` puts this
# in the answer's place, so the row reads and validates like a training row; readers map it back to "none".
NO_ANSWER = "\u2063no answer\u2063"

_MESSAGE_FIELD = re.compile(r"^messages\[(\d+)\](?:\.(.+))?$")


def column_renamer(fields: dict[str, str]) -> Callable[[str], str]:
    return lambda field: fields.get(field, field)


def same_field(field: str) -> str:
    return field


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


def from_stored(row: dict, stored: str) -> Converted:
    return row, [], same_field


def from_completion(row: dict, stored: str) -> Converted:
    issues = unknown_key_issues(row, COMPLETION_KEYS)
    missing = [(key, "missing field", "error") for key in COMPLETION_KEYS if key not in row]
    if missing:
        return None, missing + issues, same_field
    prompt, completion = row["prompt"], row["completion"]
    if stored == "chat":
        return _from_conversational_completion(prompt, completion, issues)
    mixed = next((key for key in COMPLETION_KEYS if isinstance(row[key], list)), None)
    if mixed:
        problem = (
            "must be a string like the other rows of this file (plain prompt/completion strings and "
            "message lists cannot be mixed in one file)"
        )
        return None, [(mixed, problem, "error")] + issues, same_field
    stored_row = {"instruction": prompt, "input": "", "output": completion}
    return stored_row, issues, column_renamer({"instruction": "prompt", "output": "completion"})


def _from_conversational_completion(prompt: Any, completion: Any, issues: list[Issue]) -> Converted:
    for key, value in (("prompt", prompt), ("completion", completion)):
        if not isinstance(value, list):
            return (
                None,
                [
                    (
                        key,
                        f"must be a list of messages like the other rows of this file, got {kind_with_article(value)}",
                        "error",
                    )
                ]
                + issues,
                same_field,
            )
    sources: list[tuple[str, dict]] = [(f"prompt[{i}]", {}) for i in range(len(prompt))]
    sources += [(f"completion[{i}]", {}) for i in range(len(completion))]
    return {"messages": prompt + completion}, issues, _message_renamer("prompt", sources)


def from_sharegpt(row: dict, stored: str) -> Converted:
    issues = unknown_key_issues(row, SHAREGPT_KEYS)
    turns = row.get("conversations")
    if "conversations" not in row:
        return None, [("conversations", "missing field", "error")] + issues, same_field
    if not isinstance(turns, list):
        return (
            None,
            [
                (
                    "conversations",
                    f'must be a list of turns like {{"from": "human", "value": "..."}}, got {kind_with_article(turns)}',
                    "error",
                )
            ]
            + issues,
            same_field,
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
        issues.append(("system", f"must be a string, got {kind_name(system)}", "error"))
        return [], []
    return [{"role": "system", "content": system}], [("system", {"role": "", "content": ""})]


def _sharegpt_message(turn: object, where: str, issues: list[Issue]) -> tuple[object, dict[str, str]]:
    if not isinstance(turn, dict):
        return turn, {}
    # Some files use OpenAI's role/content names inside "conversations"; accept both spellings.
    speaker_key = "role" if "role" in turn and "from" not in turn else "from"
    text_key = "content" if "content" in turn and "value" not in turn else "value"
    issues += unknown_key_issues(
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


def with_answer_slot(row: dict, fmt: str) -> dict:
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
