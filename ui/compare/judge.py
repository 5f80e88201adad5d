"""Under the chat's latest pair of answers: which one is better, kept as a preference pair in a dataset."""

from __future__ import annotations

import json

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
            _endorse(histories[0], histories[0][-1]["content"])
            _add(dataset, [_pair(histories, 0, 1, system_prompt)], f"{labels[0]} better than {labels[1]}")
        if right.button(f"Right is better ({labels[1]})", key="cmp_judge_right"):
            _endorse(histories[1], histories[1][-1]["content"])
            _add(dataset, [_pair(histories, 1, 0, system_prompt)], f"{labels[1]} better than {labels[0]}")
        if both.toggle("Both wrong: write the right one", key="cmp_judge_both"):
            turn = _turn_key(histories[0])
            if st.session_state.get("cmp_judge_written_turn") != turn or "cmp_judge_written" not in st.session_state:
                # Each question starts from its own left answer (the last one's correction once stayed in the box)
                st.session_state["cmp_judge_written_turn"] = turn
                st.session_state["cmp_judge_written"] = histories[0][-1]["content"]
            written = st.text_area("The right answer", key="cmp_judge_written")
            if st.button("Keep it, against both answers", key="cmp_judge_add"):
                _endorse(histories[0], written)
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
    st.success(f"Kept in {dataset}: now {rows:,} pair{'' if rows == 1 else 's'} (revision {revision}).")
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


ENDORSED = "cmp_judge_endorsed"  # {the questions of a conversation so far: the answer the user kept as right}


def _turn_key(history: list[dict]) -> str:
    """A turn of the chat by its questions up to it: both sides share them, and a new chat never matches."""
    return json.dumps([m["content"] for m in history if m["role"] == "user"], ensure_ascii=False)


def _endorse(history: list[dict], answer: str) -> None:
    st.session_state.setdefault(ENDORSED, {})[_turn_key(history)] = answer


def prompt_of(history: list[dict]) -> list[dict]:
    """The side's conversation up to its last user turn (the question both answers reply to), each earlier
    answer the user kept as right (written or chosen) in place of the side's own: pairs of a later turn once
    carried the base's wrong answers to the earlier ones in their prompt."""
    last_user = max(i for i, m in enumerate(history) if m["role"] == "user")
    endorsed = st.session_state.get(ENDORSED, {})
    prompt = []
    for i, message in enumerate(history[: last_user + 1]):
        content = message["content"]
        if message["role"] == "assistant":
            content = endorsed.get(_turn_key(history[:i]), content)
        prompt.append({"role": message["role"], "content": content})
    return prompt


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
