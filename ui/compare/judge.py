"""Under the chat's latest pair of answers: which one is better, kept as a preference pair in a dataset."""

from __future__ import annotations

import streamlit as st

from ui.links import page_link
from workbench.data import collect, repository
from workbench.errors import WorkbenchError

NEW = "New dataset…"
DEFAULT_NAME = "pairs-from-compare"


def render_judge(labels: list[str], histories: list[list[dict]], system_prompt: str) -> None:
    if not all(history and history[-1]["role"] == "assistant" for history in histories):
        return
    with st.container(border=True):
        st.markdown("**Which answer is better?** Each choice keeps the question and both answers as a preference pair.")
        _said()
        dataset = dataset_choice(collect.KIND, "cmp_judge", "Into the dataset of pairs", DEFAULT_NAME, "pair")
        left, right, both = st.columns(3)
        if left.button(f"Left is better ({labels[0]})", key="cmp_judge_left"):
            _add(dataset, [_pair(histories, 0, 1, system_prompt)], f"{labels[0]} better than {labels[1]}")
        if right.button(f"Right is better ({labels[1]})", key="cmp_judge_right"):
            _add(dataset, [_pair(histories, 1, 0, system_prompt)], f"{labels[1]} better than {labels[0]}")
        if both.toggle("Both wrong: write the right one", key="cmp_judge_both"):
            written = st.text_area("The right answer", histories[0][-1]["content"], key="cmp_judge_written")
            if st.button("Keep it, against both answers", key="cmp_judge_add"):
                prompt = prompt_of(histories[0])
                # an empty answer cannot be a rejected side: the pair is kept against the other one alone
                answers = [h[-1]["content"] for h in histories if h[-1]["content"].strip()]
                rows = [collect.pair_row(prompt, written, answer, system_prompt) for answer in answers]
                unique = [row for i, row in enumerate(rows) if row not in rows[:i]]
                if not unique:
                    st.error("Both answers are empty: there is nothing to prefer the written answer over.")
                    return
                _add(dataset, unique, "written answer better than both sides")


def _said() -> None:
    """What the last choice kept (said after the rerun that shows the dataset's new size)."""
    kept = st.session_state.pop("cmp_judge_kept", None)
    if kept is None:
        return
    dataset, rows, revision = kept
    st.success(f"Kept in {dataset}: now {rows:,} pairs (revision {revision}).")
    page_link("pages/datasets.py", f"Open {dataset}", dataset=dataset)


def dataset_choice(kind: str, prefix: str, label: str, default_name: str, noun: str) -> str:
    """A dataset of `kind` to add rows to, or a new one's name; says how many `noun`s it holds. The keys are
    `<prefix>_dataset`, `<prefix>_new_name`; `<prefix>_goto` selects a dataset on the next run."""
    names = repository.dataset_names(kinds=(kind,))
    goto = st.session_state.pop(f"{prefix}_goto", None)
    if goto in names:
        st.session_state[f"{prefix}_dataset"] = goto
    choice = st.selectbox(label, [*names, NEW], key=f"{prefix}_dataset")
    if choice != NEW:
        rows = repository.get_dataset(choice).latest.rows
        st.caption(f"{choice} holds {rows:,} {noun}{'' if rows == 1 else 's'}.")
        return choice
    return st.text_input("Name of the new dataset", default_name, key=f"{prefix}_new_name").strip()


def prompt_of(history: list[dict]) -> list[dict]:
    """The side's conversation up to its last user turn (the question both answers reply to)."""
    last_user = max(i for i, m in enumerate(history) if m["role"] == "user")
    return [{"role": m["role"], "content": m["content"]} for m in history[: last_user + 1]]


def _pair(histories: list[list[dict]], better: int, worse: int, system_prompt: str) -> dict:
    return collect.pair_row(
        prompt_of(histories[better]), histories[better][-1]["content"], histories[worse][-1]["content"], system_prompt
    )


def _add(dataset: str, rows: list[dict], why: str) -> None:
    try:
        revision = collect.add_pairs(dataset, rows, note=f"from Compare: {why}")
    except WorkbenchError as exc:
        st.error(str(exc))
        return
    st.session_state["cmp_judge_goto"] = dataset
    st.session_state["cmp_judge_kept"] = (dataset, revision.rows, revision.n)
    st.session_state.get("ds_drafts", {}).pop(dataset, None)  # the Datasets page reopens it as saved
    st.rerun()
