"""Statistics and the train/validation split of a dataset's saved revision."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ui.datasets.draft import Draft
from ui.models import base_model_picker, default_base
from workbench.data import repository
from workbench.data.split import SplitSpec, split_overlap
from workbench.data.stats import (
    DatasetStats,
    LengthCheck,
    PairStats,
    check_lengths,
    compute_stats,
    token_histogram_chart,
)
from workbench.evaluation import fields
from workbench.models.loading import ModelLoadError, context_window, load_tokenizer

DEFAULT_MAX_LENGTH = 1024
STATS_KEPT = 16
# Statistics counted per (dataset, revision, sha256, base, max length), newest last, shared by the sessions of
# this server. Not st.cache_data: it would replay the progress bar drawn while counting, which belongs to the
# first session's page, and a second session's visit failed with CacheReplayClosureError.
_COUNTED: dict[tuple, DatasetStats] = {}


def _stats(name: str, n: int, sha256: str, base: str, max_length: int, progress) -> DatasetStats:
    key = (name, n, sha256, base, max_length)
    if key not in _COUNTED:
        info = repository.get_dataset(name)
        rows = repository.load_rows(name, n)
        tokenizer = load_tokenizer(base)
        stats = compute_stats(rows, info.format, tokenizer, max_length=max_length, progress=progress)
        if stats.lengths is not None:
            stats.lengths.context = context_window(base)
        _COUNTED[key] = stats
        while len(_COUNTED) > STATS_KEPT:
            _COUNTED.pop(next(iter(_COUNTED)))
    return _COUNTED[key]


@st.cache_data(show_spinner=False, max_entries=16)
def _lengths(name: str, n: int, sha256: str, base: str, max_length: int) -> LengthCheck:
    info = repository.get_dataset(name)
    check = check_lengths(repository.load_rows(name, n), info.format, load_tokenizer(base), max_length)
    check.context = context_window(base)
    return check


def length_warning(draft: Draft) -> None:
    """Rows of the saved revision that training would truncate or drop, said where the user saves (counted
    with the base and max length chosen under Statistics, or the default base and 1024)."""
    revision = repository.get_revision(draft.name, draft.base)
    if not revision.rows:
        return
    base = st.session_state.get("ds_stats_base") or default_base()
    max_length = int(st.session_state.get("ds_stats_max_len") or DEFAULT_MAX_LENGTH)
    try:
        lengths = _lengths(draft.name, revision.n, revision.sha256, base, max_length)
    except (ModelLoadError, ValueError):
        return  # Statistics says why the tokenizer cannot be read
    message = lengths.message()
    if message:
        st.warning(
            f"{message} (Counted with {base}'s tokenizer; the rows are listed under Statistics.)",
            icon=":material/straighten:",
        )


def _saved_note(draft: Draft) -> None:
    if draft.dirty:
        st.info(
            f"These describe the saved revision {draft.base}; save to include your unsaved edits.",
            icon=":material/info:",
        )


def render_stats(draft: Draft) -> None:
    _saved_note(draft)
    revision = repository.get_revision(draft.name, draft.base)
    if not revision.rows:
        st.info("No rows saved yet: add rows and save to see statistics.")
        return
    left, right = st.columns([3, 1])
    with left:
        base = base_model_picker("Count tokens with the tokenizer and chat template of", key="ds_stats_base")
    max_length = right.number_input(
        "Max sequence length", 64, 131072, DEFAULT_MAX_LENGTH, step=64, key="ds_stats_max_len"
    )
    # Drawn first, where the figures go: counting shows progress here instead of the old figures greyed out.
    counting = st.empty()
    counting.progress(0.0, text=f"Counting tokens of {revision.rows:,} rows with {base}'s tokenizer…")

    def report(done: int, total: int) -> None:
        counting.progress(done / total, text=f"Counting tokens: {done:,} of {total:,} rows…")

    try:
        stats = _stats(draft.name, revision.n, revision.sha256, base, int(max_length), report)
    except ModelLoadError as exc:
        counting.empty()
        st.error(str(exc))
        return
    counting.empty()
    _metrics(stats)
    if stats.pairs is not None:
        _pair_metrics(stats.pairs)
    st.altair_chart(token_histogram_chart(stats), width="stretch")
    _flagged(draft, stats)
    _label_balance(draft.name, revision)


def _metrics(stats: DatasetStats) -> None:
    share = stats.json_valid_share
    cols = st.columns(6 if share is None else 7)
    cols[0].metric("Rows", f"{stats.rows:,}")
    cols[1].metric("Characters", f"{stats.characters:,}")
    cols[2].metric("Tokens", f"{stats.tokens_total:,}")
    cols[3].metric("Mean tokens", f"{stats.tokens_mean:.0f}", help=f"per row; median {stats.tokens_median:.0f}")
    cols[4].metric("Longest row", f"{stats.tokens_max:,}", help=f"95 % of rows have ≤ {stats.tokens_p95} tokens")
    cols[5].metric(f"Over {stats.max_length} tokens", len(stats.over_max))
    if share is not None:  # a dataset of plain-text answers gets no JSON figure at all
        cols[6].metric(
            "JSON outputs",
            f"{share:.0%}",
            help=f"{stats.json_valid:,} of all {stats.rows:,} outputs are valid JSON "
            f"({stats.json_outputs:,} start like JSON)",
        )


def _pair_metrics(pairs: PairStats) -> None:
    cols = st.columns(4)
    cols[0].metric("Mean prompt tokens", f"{pairs.mean(pairs.prompt_tokens):.0f}")
    cols[1].metric("Mean chosen tokens", f"{pairs.mean(pairs.chosen_tokens):.0f}")
    cols[2].metric("Mean rejected tokens", f"{pairs.mean(pairs.rejected_tokens):.0f}")
    cols[3].metric(
        "Sides differing only in whitespace",
        f"{pairs.whitespace_only:,}",
        help="Pairs whose chosen and rejected answers have the same words: little for the model to learn from",
    )
    st.caption("Tokens per row below count each prompt with its chosen answer.")


def _flagged(draft: Draft, stats: DatasetStats) -> None:
    file = f"{draft.name}.jsonl"
    if stats.lengths and (message := stats.lengths.message()):
        st.warning(message, icon=":material/straighten:")
        with st.expander("The rows longer than max_length"):
            st.code("\n".join(stats.lengths.listing(file)[:200]), language=None)
    for label, groups in (("Exact duplicates", stats.exact_duplicates), ("Near duplicates", stats.near_duplicates)):
        if groups:
            with st.expander(f"{label}: {len(groups)} group(s)"):
                st.code("\n".join(", ".join(f"line {i + 1}" for i in g) for g in groups[:200]), language=None)
        else:
            st.caption(f"{label}: none found")


@st.cache_data(show_spinner=False, max_entries=16)
def _balance(name: str, n: int, sha256: str) -> dict:
    return fields.revision_label_balance(name, n)


def _label_balance(name: str, revision: repository.Revision) -> None:
    """Each few-valued JSON field's values over the training and validation rows, rare values named."""
    balance = _balance(name, revision.n, revision.sha256)
    if not balance:
        return
    st.subheader("Label balance")
    st.caption(
        "How often each value of the answers' few-valued fields (a category, a priority, a yes/no) appears, "
        "in the training and validation rows: a value the model rarely sees in training is one it rarely answers."
    )
    for warning in fields.rare_values(balance):
        st.warning(f"{warning}: add rows with it, or expect it to be answered wrong.", icon=":material/balance:")
    columns = st.columns(min(3, len(balance)))
    for i, (path, values) in enumerate(balance.items()):
        frame = pd.DataFrame([{"value": value, **per_split} for value, per_split in values.items()])
        columns[i % len(columns)].dataframe(frame, hide_index=True, width="stretch", key=f"ds_balance_{path}")
        columns[i % len(columns)].caption(path)


def render_split(draft: Draft) -> None:
    _saved_note(draft)
    revision = repository.get_revision(draft.name, draft.base)
    if revision.rows < 2:
        st.info("A split needs at least two saved rows.")
        return
    if revision.split:
        _split_summary(draft, revision)
    # The form starts from the revision's own split (a split proposed on save is by count), not a ratio of 0.1.
    current = revision.split.spec if revision.split else None
    by_count = current is not None and current.validation_count is not None
    ratio = current.validation_ratio if current and current.validation_ratio else 0.1
    count = current.validation_count if current and current.validation_count is not None else 10
    # Outside the form, so that the form shows only the input of the way chosen.
    method = st.radio(
        "Validation size by", ["Ratio", "Count"], index=int(by_count), horizontal=True, key="ds_split_method"
    )
    with st.form("ds_split_form"):
        left, right = st.columns(2)
        if method == "Ratio":
            size = left.number_input("Validation ratio", 0.0, 0.9, min(ratio, 0.9), step=0.05, key="ds_split_ratio")
        else:
            size = left.number_input(
                "Validation rows", 0, revision.rows - 1, min(count, revision.rows - 1), key="ds_split_count"
            )
        seed = right.number_input("Seed", 0, 2**31 - 1, current.seed if current else 42, key="ds_split_seed")
        submitted = st.form_submit_button("Split revision " + str(revision.n), type="primary")
    if submitted:
        spec = (
            SplitSpec(seed=int(seed), validation_ratio=float(size))
            if method == "Ratio"
            else SplitSpec(seed=int(seed), validation_ratio=None, validation_count=int(size))
        )
        try:
            repository.make_split(draft.name, revision.n, spec)
        except ValueError as exc:
            st.error(str(exc))
            return
        st.rerun()


def _split_summary(draft: Draft, revision: repository.Revision) -> None:
    split = revision.split
    rows = repository.read_revision_rows(revision)
    overlap = split_overlap(rows, draft.format, split)
    a, b, c = st.columns(3)
    a.metric("Train rows", len(split.train))
    b.metric("Validation rows", len(split.validation))
    c.metric("Validation rows also in train", len(overlap))
    spec = split.spec
    how = (
        f"{spec.validation_count} rows held out"
        if spec.validation_count is not None
        else f"validation ratio {spec.validation_ratio:g}"
    )
    st.caption(
        f"Revision {revision.n} is split into {len(split.train)} training and {len(split.validation)} validation "
        f"rows ({how}, seed {spec.seed})."
    )
    if overlap:
        st.warning(
            "The same prompt appears on both sides, so validation scores will look better than they "
            "are. Remove or edit these rows:",
            icon=":material/warning:",
        )
        file = f"{draft.name}.jsonl"
        st.dataframe(
            pd.DataFrame(
                [{"validation row": f"{file}:{v + 1}", "train row": f"{file}:{t + 1}"} for v, t in overlap[:200]]
            ),
            hide_index=True,
        )
