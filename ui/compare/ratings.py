"""Under each of the chat's latest answers: thumbs up or down, kept as a rated answer in a feedback dataset
(what KTO learns from)."""

from __future__ import annotations

import streamlit as st

from ui.compare.judge import dataset_choice, prompt_of
from ui.links import page_link
from workbench.data import collect
from workbench.errors import WorkbenchError

DEFAULT_NAME = "feedback-from-compare"


def render_ratings(labels: list[str], histories: list[list[dict]], system_prompt: str) -> None:
    if not all(history and history[-1]["role"] == "assistant" for history in histories):
        return
    with st.expander("Rate one answer: good or bad (a feedback dataset, for KTO)"):
        said = st.session_state.pop("cmp_rate_kept", None)
        if said:
            dataset, rows, revision, error = said
            if error:
                st.error(error)
            else:
                st.success(f"Kept in {dataset}: now {rows:,} rated answers (revision {revision}).")
                page_link("pages/datasets.py", f"Open {dataset}", dataset=dataset)
        dataset = dataset_choice(
            collect.FEEDBACK, "cmp_rate", "Into the feedback dataset", DEFAULT_NAME, "rated answer"
        )
        rated = st.session_state.setdefault("cmp_rated", set())
        for column, label, history, side in zip(st.columns(2), labels, histories, ("left", "right"), strict=True):
            column.caption(label)
            answer = (side, len(history), history[-1]["content"])  # a new answer can be rated again
            good, bad = column.columns(2)
            for widget, verdict, icon in ((good, True, ":material/thumb_up:"), (bad, False, ":material/thumb_down:")):
                if widget.button(
                    "Good" if verdict else "Bad",
                    icon=icon,
                    key=f"cmp_rate_{side}_{'up' if verdict else 'down'}",
                    disabled=answer in rated,
                ):
                    _rate(dataset, history, verdict, system_prompt, label)
                    rated.add(answer)
                    st.rerun()


def _rate(dataset: str, history: list[dict], good: bool, system_prompt: str, label: str) -> None:
    """Keep the side's answer with its rating; say how it went after the rerun."""
    row = collect.feedback_row(prompt_of(history), history[-1]["content"], good, system_prompt)
    note = f"from Compare: {label}'s answer rated {'good' if good else 'bad'}"
    try:
        revision = collect.add_feedback(dataset, [row], note=note)
    except WorkbenchError as exc:
        st.session_state["cmp_rate_kept"] = (dataset, 0, 0, str(exc))
        return
    st.session_state["cmp_rate_kept"] = (dataset, revision.rows, revision.n, None)
    st.session_state["cmp_rate_goto"] = dataset
    st.session_state.get("ds_drafts", {}).pop(dataset, None)  # the Datasets page reopens it as saved
