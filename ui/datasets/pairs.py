"""Preference pairs and feedback rows in the editor: their table columns and their form (the prompt, and the
two answers side by side with a button that swaps which one wins; or the answer and its good/bad label)."""

from __future__ import annotations

import streamlit as st

from ui.datasets.draft import Draft
from ui.datasets.turns import add_turn, turn_fields

PAIR_COLUMNS = {"preference": ["prompt", "chosen", "rejected"], "feedback": ["prompt", "completion", "label"]}


def pair_record(row: dict, fmt: str) -> dict:
    """A row's cells in the table: the prompt's last user turn (with the turn count when longer), the answers."""
    prompt = row.get("prompt") if isinstance(row.get("prompt"), list) else []
    users = [m.get("content") for m in prompt if isinstance(m, dict) and m.get("role") == "user"]
    question = _text(users[-1]) if users else ""
    turns = len([m for m in prompt if isinstance(m, dict) and m.get("role") != "system"])
    record = {"prompt": question if turns <= 1 else f"({turns} turns) {question}"}
    if fmt == "preference":
        return {**record, "chosen": _text(row.get("chosen")), "rejected": _text(row.get("rejected"))}
    label = row.get("label")
    return {
        **record,
        "completion": _text(row.get("completion")),
        "label": "good" if label is True else "bad" if label is False else _text(label),
    }


def pair_form(draft: Draft, row: dict, key: str) -> None:
    prompt = row.get("prompt") if isinstance(row.get("prompt"), list) else []
    with st.form(key):
        st.caption("The prompt: every turn before the answers, the last one the user's.")
        edited = turn_fields(prompt, key, label="Turn", height=100)
        if draft.format == "preference":
            left, right = st.columns(2)
            chosen = left.text_area("Chosen (the better answer)", _text(row.get("chosen")), height=200)
            rejected = right.text_area("Rejected (the worse answer)", _text(row.get("rejected")), height=200)
            answers = {"chosen": chosen, "rejected": rejected}
        else:
            completion = st.text_area("Answer", _text(row.get("completion")), height=200)
            good = st.toggle("A good answer", value=row.get("label") is not False, key=f"{key}_label")
            answers = {"completion": completion, "label": good}
        if st.form_submit_button("Apply changes", type="primary"):
            row["prompt"] = edited
            row.update(answers)
            draft.touch()
            st.rerun()
    left, right = st.columns(2)
    if draft.format == "preference" and left.button(
        "Swap chosen and rejected", key=f"{key}_swap", icon=":material/swap_horiz:"
    ):
        row["chosen"], row["rejected"] = row.get("rejected", ""), row.get("chosen", "")
        draft.touch()
        st.rerun()
    if right.button("Add a turn to the prompt", key=f"{key}_add_turn"):
        add_turn(draft, row, "prompt")


def _text(value) -> str:
    return "" if value is None else value if isinstance(value, str) else str(value)
