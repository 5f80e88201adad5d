"""One evaluated row as a card: prompt, reference, and both answers with what differs from the reference marked."""

from __future__ import annotations

import difflib

import streamlit as st

from ui.text import html_literal, literal


def highlight(text: str, reference: str) -> str:
    """The text with the parts that differ from the reference marked."""
    out = []
    matcher = difflib.SequenceMatcher(a=reference, b=text, autojunk=False)
    for tag, _, _, b0, b1 in matcher.get_opcodes():
        piece = html_literal(text[b0:b1])
        out.append(piece if tag == "equal" else f"<mark>{piece}</mark>")
    return "".join(out) or "<em>(empty)</em>"


def row_card(row: dict) -> None:
    verdict = row["details"].get("verdict", "")
    with st.expander(f"Row {row['row_index'] + 1} — {verdict}"):
        st.markdown(f"**Prompt**\n\n{literal(row['prompt'])}")
        cols = st.columns(3)
        style = "white-space: pre-wrap; font-family: monospace; font-size: 0.85em"
        cols[0].markdown(
            f"**Reference**<div style='{style}'>{html_literal(row['reference'])}</div>", unsafe_allow_html=True
        )
        cols[1].markdown(
            f"**Base**<div style='{style}'>{highlight(row['base_output'], row['reference'])}</div>",
            unsafe_allow_html=True,
        )
        cols[2].markdown(
            f"**Adapter**<div style='{style}'>{highlight(row['adapter_output'], row['reference'])}</div>",
            unsafe_allow_html=True,
        )
