"""Rows added from what the user sees (the Compare page): a preference pair appended to a dataset of pairs,
as a new revision, or to a new dataset of that name. A row that would not validate is refused, unsaved."""

from __future__ import annotations

from workbench.data import formats, repository
from workbench.data.records import KIND_PURPOSE

KIND = "preference"


def pair_row(prompt: list[dict], chosen: str, rejected: str, system_prompt: str = "") -> dict:
    """A stored preference row: the conversation up to the user's last turn (with the system prompt the
    answers were generated with, where the conversation has none), and the two answers."""
    turns = [{"role": m["role"], "content": m["content"]} for m in prompt]
    if system_prompt.strip() and not any(m["role"] == "system" for m in turns):
        turns.insert(0, {"role": "system", "content": system_prompt})
    return {"prompt": turns, "chosen": chosen, "rejected": rejected}


def add_pairs(dataset: str, rows: list[dict], note: str) -> repository.Revision:
    """Append `rows` to the preference dataset `dataset` (created when there is none of that name)."""
    for row in rows:
        problems = [p for p in formats.validate_row(row, KIND, f"{dataset}.jsonl", 0) if p.severity == "error"]
        if problems:
            raise repository.DatasetError(f"Not added: {problems[0].field}: {problems[0].problem}.")
    if dataset not in repository.dataset_names():
        return repository.create_dataset(dataset, KIND, rows, note=note)
    info = repository.get_dataset(dataset)
    if info.format != KIND:
        raise repository.DatasetError(
            f"Dataset {dataset!r} holds {KIND_PURPOSE[info.format]}, not preference pairs: pick a dataset of "
            "pairs, or name a new one."
        )
    existing = repository.read_revision_rows(info.latest)
    return repository.save_rows(dataset, existing + rows, info.latest.n, note=note)
