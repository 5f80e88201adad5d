"""Every JSON input format, one declaration each: how its rows are recognised, the stored kind they become,
and its converter. Adding a format is one entry here (and its converter)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from workbench.data.formats import conversion, pairs
from workbench.data.formats.json_records import Record
from workbench.data.formats.problems import Converted


def _completion_stored(records: list[Record]) -> str:
    """Conversational prompt/completion (message lists) is stored as chat; the first row decides."""
    first = next((r.value for r in records if isinstance(r.value, dict) and "prompt" in r.value), {})
    return "chat" if isinstance(first.get("prompt"), list) else "alpaca"


@dataclass(frozen=True)
class JsonFormat:
    """One JSON input format: everything the importer knows of it."""

    name: str
    recognise: Callable[[dict], bool]
    """Whether a record's keys are this format's (tried in JSON_FORMATS order; the first match names it)."""
    stored: Callable[[list[Record]], str]
    """The stored kind its rows become (records.STORED_FORMATS), from the file's records."""
    convert: Callable[[dict, str], Converted]
    """One source object to (stored row or None, source-level issues, field renamer), given the stored kind."""


def _kind(name: str) -> Callable[[list[Record]], str]:
    return lambda records: name


def _paired(obj: dict) -> bool:
    return "chosen" in obj or "rejected" in obj


# Preference shapes first: LLaMA-Factory's pairs carry 'conversations' or 'messages' too, and TRL's
# feedback rows 'prompt' and 'completion'.
JSON_FORMATS = (
    JsonFormat(
        "sharegpt-ranking",
        lambda o: "conversations" in o and _paired(o),
        _kind("preference"),
        pairs.from_sharegpt_ranking,
    ),
    JsonFormat("chat-ranking", lambda o: "messages" in o and _paired(o), _kind("preference"), pairs.from_chat_ranking),
    JsonFormat(
        "chat-feedback", lambda o: "messages" in o and "label" in o, _kind("feedback"), pairs.from_chat_feedback
    ),
    JsonFormat("preference", lambda o: "prompt" in o and _paired(o), _kind("preference"), pairs.from_explicit),
    JsonFormat(
        "preference-implicit", lambda o: {"chosen", "rejected"} <= o.keys(), _kind("preference"), pairs.from_implicit
    ),
    JsonFormat("feedback", lambda o: {"prompt", "label"} <= o.keys(), _kind("feedback"), pairs.from_feedback),
    JsonFormat("chat", lambda o: "messages" in o, _kind("chat"), conversion.from_stored),
    JsonFormat("sharegpt", lambda o: "conversations" in o, _kind("chat"), conversion.from_sharegpt),
    JsonFormat(
        "completion", lambda o: {"prompt", "completion"} <= o.keys(), _completion_stored, conversion.from_completion
    ),
    JsonFormat("alpaca", lambda o: "instruction" in o or "output" in o, _kind("alpaca"), conversion.from_stored),
)
BY_NAME = {spec.name: spec for spec in JSON_FORMATS}
NAMES = tuple(BY_NAME)


def format_of_keys(obj: dict) -> str | None:
    """The JSON format whose keys a record has, if any."""
    return next((spec.name for spec in JSON_FORMATS if spec.recognise(obj)), None)
