"""Which rows of a run's dataset an evaluation scores, and each row's prompt as the run trained on it."""

from __future__ import annotations

from pathlib import Path

from workbench import paths
from workbench.data import repository
from workbench.errors import WorkbenchError
from workbench.training import runs
from workbench.training.data import training_prompt

SPLITS = ("validation", "train", "all")


class EvalError(WorkbenchError, ValueError):
    """An evaluation that cannot be done; the message says why and what to do."""


def select_indices(revision: repository.Revision, split: str, limit: int | None, dataset: str) -> list[int]:
    """Row indices (0-based, in dataset order) that a job evaluates."""
    if split not in SPLITS:
        raise EvalError(f"Unknown split {split!r}: use one of {', '.join(SPLITS)}.")
    n = revision.rows
    if split == "all":
        indices = list(range(n))
    elif revision.split is None:
        if split == "validation":
            raise EvalError(
                f"Dataset {dataset!r} revision {revision.n} has no validation split, so there are no held-out "
                f"rows to score. Make a split on the Datasets page (or `python -m workbench datasets split "
                f"{dataset}`), or evaluate on the 'train' or 'all' rows."
            )
        indices = list(range(n))  # without a split, every row trained
    else:
        if max(revision.split.train + revision.split.validation, default=-1) >= n:
            raise EvalError(
                f"The split of dataset {dataset!r} revision {revision.n} does not fit its {n} rows: "
                "make a new split on the Datasets page."
            )
        indices = sorted(revision.split.validation if split == "validation" else revision.split.train)
    if not indices:
        raise EvalError(
            f"Dataset {dataset!r} revision {revision.n} has no {split} rows: make a split with "
            "validation rows on the Datasets page, or evaluate on 'all'."
        )
    return indices[:limit] if limit else indices


def adapter_path(run: dict) -> Path:
    if not run.get("adapter_dir"):
        raise EvalError(
            f"Run {run['name']!r} ({run['status']}) has no adapter yet, so there is nothing to "
            "compare with the base: wait for it to complete (or train it) and evaluate then."
        )
    path = paths.in_home(run["adapter_dir"])
    if not (path / "adapter_config.json").is_file():
        raise EvalError(
            f"The adapter of run {run['name']!r} is missing from {path}: it was moved or deleted. "
            "Train the run again (clone its config) to evaluate it."
        )
    return path


def heldout_prompts(run: dict, count: int, split: str = "validation") -> list[tuple[list[dict], str]]:
    """(messages, reference) of the first `count` held-out rows of the run's dataset revision ([] if none)."""
    config = runs.run_config(run)
    dataset, revision = repository.revision_by_id(runs.evaluation_revision_id(run))
    try:
        indices = select_indices(revision, split, count, dataset)
    except EvalError:
        return []
    fmt = repository.get_dataset(dataset).format
    rows = repository.read_revision_rows(revision)
    return [training_prompt(rows[i], fmt, config) for i in indices]
