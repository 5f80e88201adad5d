"""Side-by-side chat: one prompt, both answers streaming at once, per-side history, export, add to dataset."""

from __future__ import annotations

import json

import streamlit as st

from ui.compare.judge import render_judge
from ui.compare.ratings import render_ratings
from ui.compare.sides import BASE_SIDE
from ui.text import literal
from workbench.data import repository
from workbench.data.records import SFT_KINDS
from workbench.inference.engine import Engine, GenerationSettings, Side


def settings_form(default_system: str) -> GenerationSettings:
    with st.expander("Generation settings (shared by both sides)"):
        greedy = st.toggle("Greedy decoding (deterministic)", value=True, key="cmp_greedy")
        cols = st.columns(5)
        temperature = cols[0].number_input("Temperature", 0.0, 2.0, 0.7, 0.05, key="cmp_temperature", disabled=greedy)
        top_p = cols[1].number_input("Top p", 0.05, 1.0, 0.9, 0.05, key="cmp_top_p", disabled=greedy)
        max_new = cols[2].number_input("Max new tokens", 1, 4096, 256, 16, key="cmp_max_new")
        repetition = cols[3].number_input("Repetition penalty", 1.0, 2.0, 1.0, 0.05, key="cmp_repetition")
        seed = cols[4].number_input("Seed (same on both sides)", 0, 2**31 - 1, 0, key="cmp_seed")
        system = st.text_area(
            "System prompt",
            value=default_system,
            key="cmp_system",
            height=68,
            help="Defaults to the system prompt the adapter was trained with.",
        )
    return GenerationSettings(
        system_prompt=system,
        temperature=float(temperature),
        top_p=float(top_p),
        max_new_tokens=int(max_new),
        repetition_penalty=float(repetition),
        seed=int(seed),
        greedy=greedy,
    )


def history_keys(base: str, sides: list[str]) -> list[str]:
    """A conversation belongs to a (base, side) pair: "the base" of one model is not the base of another."""
    return [f"{base}::{side}" for side in sides]


def _histories(keys: list[str]) -> list[list[dict]]:
    store = st.session_state.setdefault("cmp_history", {})
    return [store.setdefault(key, []) for key in keys]


def _stats(result: dict | None) -> str:
    """What belongs to this side alone: its first token and its time per token are the batch's (below)."""
    if not result:
        return ""
    return f"{result['tokens']} tokens · done after {result['total']:.1f} s"


def batch_stats(histories: list[list[dict]]) -> str:
    """Both sides decode in one batch, so the first-token time and the speed are one figure for the pair."""
    last = [h[-1]["stats"] for h in histories if h and h[-1].get("stats")]
    if len(last) != len(histories):
        return ""
    tokens = sum(s["tokens"] for s in last)
    seconds = max(s["total"] for s in last)
    rate = tokens / seconds if seconds else 0.0
    return (
        f"Last answers: both sides in one batched generation — first tokens after {last[0]['ttft']:.2f} s, "
        f"{rate:.1f} tok/s for the two together ({tokens} tokens in {seconds:.1f} s)."
    )


def render_chat(
    engine: Engine, sides: list[str], adapter_names: list[str | None], settings: GenerationSettings, labels: list[str]
) -> None:
    keys = history_keys(engine.base, sides)
    histories = _histories(keys)
    columns = st.columns(2)
    for column, label, history in zip(columns, labels, histories, strict=True):
        column.markdown(f"**{label}**")
        for message in history:
            with column.chat_message(message["role"]):
                st.markdown(literal(message["content"]))
                if message.get("stats"):
                    st.caption(_stats(message["stats"]))
    if shared := batch_stats(histories):
        st.caption(shared)
    prompt = st.chat_input("Ask both sides the same thing", key="cmp_prompt")
    if prompt:
        _ask(engine, prompt, histories, adapter_names, settings, columns)
    render_judge(labels, histories, settings.system_prompt)
    render_ratings(labels, histories, settings.system_prompt)
    _tools(keys, labels, histories)


def _ask(engine, prompt, histories, adapter_names, settings, columns) -> None:
    placeholders = []
    for column, history in zip(columns, histories, strict=True):
        history.append({"role": "user", "content": prompt})
        with column.chat_message("user"):
            st.markdown(literal(prompt))
        with column.chat_message("assistant"):
            placeholders.append(st.empty())
    conversation = [[{"role": m["role"], "content": m["content"]} for m in h] for h in histories]
    texts = ["", ""]
    stream = engine.stream([Side(a, c) for a, c in zip(adapter_names, conversation, strict=True)], settings)
    try:
        for side, delta in stream:
            texts[side] += delta
            placeholders[side].markdown(literal(texts[side]) + "▌")
    except BaseException:
        # A click while the answers stream reruns the page (Streamlit raises in the next st call): finish the
        # answers without drawing them and keep them, so that the question is never left without its answers.
        for _ in stream:
            pass
        _keep_answers(histories, engine.last_results)
        raise
    for placeholder, text in zip(placeholders, texts, strict=True):
        placeholder.markdown(literal(text))
    _keep_answers(histories, engine.last_results)
    st.rerun()


def _keep_answers(histories: list[list[dict]], results: list) -> None:
    for history, result in zip(histories, results, strict=True):
        history.append(
            {
                "role": "assistant",
                "content": result.text,
                "stats": {
                    "ttft": result.time_to_first_token_s,
                    "tps": result.tokens_per_second,
                    "tokens": result.tokens,
                    "total": result.total_s,
                },
            }
        )


def _tools(keys: list[str], labels: list[str], histories: list[list[dict]]) -> None:
    if not any(histories):
        return
    cols = st.columns(3)
    if cols[0].button("Clear both conversations", key="cmp_clear"):
        for key in keys:
            st.session_state["cmp_history"][key] = []
        st.rerun()
    for i, (label, history) in enumerate(zip(labels, histories, strict=True)):
        clean = [{"role": m["role"], "content": m["content"]} for m in history]
        cols[1 + i].download_button(
            f"Export {label.split(' ')[0]} side (JSONL)",
            json.dumps({"messages": clean}, ensure_ascii=False) + "\n",
            file_name=f"conversation-{keys[i].split('::', 1)[1].replace(BASE_SIDE, 'base')}.jsonl",
            key=f"cmp_export_{i}",
        )
    _add_to_dataset(labels, histories)


def _add_to_dataset(labels: list[str], histories: list[list[dict]]) -> None:
    with st.expander("Add an answer to a dataset (edit it first)"):
        side = st.radio("Answer from", [0, 1], format_func=lambda i: labels[i], horizontal=True, key="cmp_add_side")
        history = histories[side]
        answers = [i for i, m in enumerate(history) if m["role"] == "assistant"]
        if not answers:
            st.caption("No answer on that side yet.")
            return
        last = answers[-1]
        prompt = history[last - 1]["content"] if last else ""
        names = repository.dataset_names(kinds=SFT_KINDS)
        with st.form("cmp_add_form"):
            dataset = st.selectbox("Dataset", names, key="cmp_add_dataset")
            question = st.text_area("Instruction / user message", prompt, key=f"cmp_add_q_{side}_{last}")
            answer = st.text_area("Answer", history[last]["content"], key=f"cmp_add_a_{side}_{last}", height=150)
            added = st.form_submit_button("Add as a new row")
        if added:
            info = repository.get_dataset(dataset)
            row = (
                {"instruction": question, "input": "", "output": answer}
                if info.format == "alpaca"
                else {"messages": [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]}
            )
            rows = repository.read_revision_rows(info.latest) + [row]
            revision = repository.save_rows(dataset, rows, info.latest.n, note="added from Compare")
            st.session_state.get("ds_drafts", {}).pop(dataset, None)
            st.success(f"Added to {dataset} as row {len(rows)} (revision {revision.n}).")
