"""Rows added from what the user sees (the Compare page): a preference pair appended to a dataset of pairs, or
an answer rated good or bad appended to a feedback dataset (KTO), as a new revision, or to a new dataset of
that name. A row that would not validate is refused, unsaved."""

from __future__ import annotations

from workbench.data import formats, repository
from workbench.data.records import KIND_PURPOSE

KIND = "preference"
FEEDBACK = "feedback"


def pair_row(prompt: list[dict], chosen: str, rejected: str, system_prompt: str = "") -> dict:
    """A stored preference row: the conversation up to the user's last turn (with the system prompt the
    answers were generated with, where the conversation has none), and the two answers."""
    turns = [{"role": m["role"], "content": m["content"]} for m in prompt]
    if system_prompt.strip() and not any(m["role"] == "system" for m in turns):
        turns.insert(0, {"role": "system", "content": system_prompt})
    return {"prompt": turns, "chosen": chosen, "rejected": rejected}


def feedback_row(prompt: list[dict], completion: str, good: bool, system_prompt: str = "") -> dict:
    """A stored feedback row: the conversation up to the user's last turn, one answer and whether it is good."""
    turns = pair_row(prompt, "", "", system_prompt)["prompt"]
    return {"prompt": turns, "completion": completion, "label": bool(good)}


def add_pairs(dataset: str, rows: list[dict], note: str) -> repository.Revision:
    """Append `rows` to the preference dataset `dataset` (created when there is none of that name)."""
    return add_rows(dataset, KIND, rows, note)


def add_feedback(dataset: str, rows: list[dict], note: str) -> repository.Revision:
    """Append rated answers to the feedback dataset `dataset` (created when there is none of that name)."""
    return add_rows(dataset, FEEDBACK, rows, note)


def add_rows(dataset: str, kind: str, rows: list[dict], note: str) -> repository.Revision:
    for row in rows:
        problems = [p for p in formats.validate_row(row, kind, f"{dataset}.jsonl", 0) if p.severity == "error"]
        if problems:
            raise repository.DatasetError(f"Not added: {problems[0].field}: {problems[0].problem}.")
    if dataset not in repository.dataset_names():
        return repository.create_dataset(dataset, kind, rows, note=note)
    info = repository.get_dataset(dataset)
    if info.format != kind:
        raise repository.DatasetError(
            f"Dataset {dataset!r} holds {KIND_PURPOSE[info.format]}, not {KIND_PURPOSE[kind]}: pick such a "
            "dataset, or name a new one."
        )
    existing = repository.read_revision_rows(info.latest)
    return repository.save_rows(dataset, existing + rows, info.latest.n, note=note)
