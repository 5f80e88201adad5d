"""The stored row kinds and the canonical chat form every format is read into.

A dataset is stored as JSONL in one of four kinds, each saying what it is for:
- "alpaca":     {"instruction", "input", "output", optional "system"}          supervised answers (SFT)
- "chat":       {"messages": [{"role": "system"|"user"|"assistant", "content": str}, ...]}   SFT
- "preference": {"prompt": [messages ending with the user's], "chosen": str, "rejected": str}  DPO, ORPO
- "feedback":   {"prompt": [messages ending with the user's], "completion": str, "label": bool}  KTO

`to_messages` gives the canonical chat form used for token counts, search and evaluation (a preference
row reads as its prompt and the chosen answer; a feedback row as its prompt and its completion).
"""

from __future__ import annotations

SFT_KINDS = ("alpaca", "chat")
PREFERENCE_KINDS = ("preference", "feedback")
STORED_FORMATS = SFT_KINDS + PREFERENCE_KINDS
KIND_PURPOSE = {
    "alpaca": "instruction rows (supervised fine-tuning)",
    "chat": "conversations (supervised fine-tuning)",
    "preference": "preference pairs, a chosen and a rejected answer per prompt (DPO, ORPO)",
    "feedback": "answers labelled good or bad (KTO)",
}
ALPACA_FIELDS = ("instruction", "input", "output", "system")
ROLES = ("system", "user", "assistant")


def alpaca_prompt(row: dict) -> str:
    """The user turn of an Alpaca row: the instruction, then the input after a blank line."""
    instruction = str(row.get("instruction") or "").strip()
    extra = str(row.get("input") or "").strip()
    return f"{instruction}\n\n{extra}" if extra else instruction


def to_messages(row: dict, fmt: str) -> list[dict]:
    if fmt == "alpaca":
        messages = []
        if str(row.get("system") or "").strip():
            messages.append({"role": "system", "content": row["system"]})
        messages.append({"role": "user", "content": alpaca_prompt(row)})
        messages.append({"role": "assistant", "content": str(row.get("output") or "")})
        return messages
    if fmt == "chat":
        return [{"role": m.get("role"), "content": m.get("content")} for m in row.get("messages", [])]
    if fmt in PREFERENCE_KINDS:
        answer = row.get("chosen") if fmt == "preference" else row.get("completion")
        prompt = [{"role": m.get("role"), "content": m.get("content")} for m in row.get("prompt", [])]
        return [*prompt, {"role": "assistant", "content": answer}]
    raise ValueError(f"Unknown stored format {fmt!r}; expected one of {', '.join(STORED_FORMATS)}")


def prompt_and_reference(row: dict, fmt: str) -> tuple[list[dict], str]:
    """Split a row into the conversation up to the last assistant turn, and that turn's text."""
    messages = to_messages(row, fmt)
    last = max((i for i, m in enumerate(messages) if m["role"] == "assistant"), default=None)
    if last is None:
        return messages, ""
    return messages[:last], str(messages[last]["content"])


def empty_row(fmt: str) -> dict:
    if fmt == "alpaca":
        return {"instruction": "", "input": "", "output": ""}
    if fmt == "chat":
        return {"messages": [{"role": "user", "content": ""}, {"role": "assistant", "content": ""}]}
    if fmt == "preference":
        return {"prompt": [{"role": "user", "content": ""}], "chosen": "", "rejected": ""}
    if fmt == "feedback":
        return {"prompt": [{"role": "user", "content": ""}], "completion": "", "label": True}
    raise ValueError(f"Unknown stored format {fmt!r}; expected one of {', '.join(STORED_FORMATS)}")


def row_text(row: dict, fmt: str) -> str:
    """All of a row's text, for search, duplicate detection and character counts."""
    text = "\n".join(f"{m['role']}: {m['content']}" for m in to_messages(row, fmt))
    return f"{text}\nrejected: {row.get('rejected')}" if fmt == "preference" else text
