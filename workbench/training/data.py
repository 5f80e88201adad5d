"""A run's dataset revision read for training: its rows checked and split, which rows fit max_length, and a
row's prompt as the run sees it.

The revision's stored split decides which rows are validation rows; without a split all rows train. Each
objective (`training/objectives/`) writes the rows in the shape its TRL trainer takes.
"""

from __future__ import annotations

from workbench.data import formats, repository
from workbench.data.records import prompt_and_reference
from workbench.data.split import apply_split
from workbench.data.stats import LengthCheck, check_lengths
from workbench.errors import WorkbenchError
from workbench.models.loading import context_window, load_tokenizer
from workbench.training.config import TrainConfig

MIN_TRAIN_ROWS = 2
SHOWN_PROBLEMS = 5


class TrainingError(WorkbenchError, RuntimeError):
    """A run that cannot train as set up; the message says why and what to do, in plain words."""


def read_split(config: TrainConfig, revision_id: int) -> tuple[list[dict], list[dict], str, dict]:
    """(training rows, validation rows, stored kind, info) of the revision with registry id `revision_id`,
    checked: every row valid, at least MIN_TRAIN_ROWS training rows. The objective shapes them
    (`training/objectives`)."""
    name, revision = repository.revision_by_id(revision_id)
    fmt = repository.get_dataset(name).format
    rows = repository.read_revision_rows(revision)
    _check_rows(name, revision.n, rows, fmt)

    if revision.split is not None:
        try:
            train_rows, validation_rows = apply_split(rows, revision.split)
        except ValueError as exc:
            raise TrainingError(f"Dataset {name!r} revision {revision.n}: {exc} (on the Datasets page).") from exc
    else:
        train_rows, validation_rows = rows, []
    if len(train_rows) < MIN_TRAIN_ROWS:
        raise TrainingError(
            f"The dataset is too small: {name!r} revision {revision.n} has {len(train_rows)} training row(s) "
            f"({len(rows)} in all, {len(validation_rows)} held out for validation). Add at least "
            f"{MIN_TRAIN_ROWS} training rows on the Datasets page (a few dozen to learn anything useful)."
        )
    info = {
        "dataset": name,
        "format": fmt,
        "revision_id": revision.id,
        "revision_n": revision.n,
        "revision_sha256": revision.sha256,
        "rows": len(rows),
        "split": revision.split.to_dict()["spec"] if revision.split is not None else None,
    }
    return train_rows, validation_rows, fmt, info


def training_prompt(row: dict, fmt: str, config: TrainConfig) -> tuple[list[dict], str]:
    """The messages to answer (with the run's system prompt where the row has none, as in training)."""
    messages, reference = prompt_and_reference(row, fmt)
    messages = [{"role": m["role"], "content": str(m["content"])} for m in messages]
    system = config.system_prompt.strip()
    if system and not any(m["role"] == "system" for m in messages):
        messages.insert(0, {"role": "system", "content": config.system_prompt})
    return messages, reference


def length_check(config: TrainConfig) -> LengthCheck:
    """Which rows of the run's dataset revision do not fit its max_length, counted with the base's tokenizer
    and the run's system prompt. With the loss on every token or with packing no row is dropped, only cut."""
    revision = repository.get_revision(config.dataset, config.dataset_revision)
    rows = repository.read_revision_rows(revision)
    fmt = repository.get_dataset(config.dataset).format
    tokenizer = load_tokenizer(config.base_model, trust_remote_code=config.trust_remote_code)
    check = check_lengths(rows, fmt, tokenizer, config.max_length, config.system_prompt)
    check.context = context_window(config.base_model)
    if config.train_on_inputs or config.packing:
        check.prompt_tokens = [0] * len(check.tokens)
    return check


def _check_rows(name: str, n: int, rows: list[dict], fmt: str) -> None:
    file = f"{name}.jsonl"
    errors = [
        p
        for line, row in enumerate(rows, start=1)
        for p in formats.validate_row(row, fmt, file, line)
        if p.severity == "error"
    ]
    if not errors:
        return
    bad_rows = len({p.line for p in errors})
    shown = "\n".join(f"- {p}" for p in errors[:SHOWN_PROBLEMS])
    more = f"\n- … and {len(errors) - SHOWN_PROBLEMS} more" if len(errors) > SHOWN_PROBLEMS else ""
    raise TrainingError(
        f"Dataset {name!r} revision {n} has {len(errors)} problem(s) in {bad_rows} row(s) that make them "
        f"unusable for training; fix them on the Datasets page and start the run again:\n{shown}{more}"
    )
