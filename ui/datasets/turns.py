"""The text boxes of a conversation's turns (role, text, remove) and adding the next turn: shared by the chat
form and the prompt of a preference or feedback row."""

from __future__ import annotations

import streamlit as st

from ui.datasets.draft import Draft
from workbench.data.records import ROLES


def turn_fields(messages: list, key: str, label: str = "Message", height: int = 120) -> list[dict]:
    """One role choice and text box per turn (inside the caller's form); returns the turns as edited."""
    edited = []
    for i, message in enumerate(messages):
        message = message if isinstance(message, dict) else {}
        left, right = st.columns([1, 5])
        role = message.get("role") if message.get("role") in ROLES else "user"
        new_role = left.selectbox("Role", ROLES, index=ROLES.index(role), key=f"{key}_role_{i}")
        remove = left.checkbox("Remove", key=f"{key}_remove_{i}")
        text = message.get("content")
        content = right.text_area(
            f"{label} {i + 1}", "" if text is None else str(text), height=height, key=f"{key}_content_{i}"
        )
        if not remove:
            edited.append({"role": new_role, "content": content})
    return edited


def add_turn(draft: Draft, row: dict, field: str) -> None:
    """Append the turn that comes next (the user's after an answer, else an answer) to `row[field]`."""
    messages = row.get(field) if isinstance(row.get(field), list) else []
    last = messages[-1].get("role") if messages and isinstance(messages[-1], dict) else "assistant"
    row[field] = [*messages, {"role": "assistant" if last == "user" else "user", "content": ""}]
    draft.touch()
    st.rerun()
