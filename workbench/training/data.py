"""A dataset revision turned into the rows SFTTrainer learns from.

Every stored row is read into the canonical chat form (`records.to_messages`), then written in one of
TRL's two conversational shapes:
- loss on the completion only (the default): {"prompt": [messages before the last assistant turn],
  "completion": [that assistant turn]}. TRL masks the prompt tokens by itself, no custom collator.
- `train_on_inputs`: {"messages": [the whole conversation]}, loss on every token.
The revision's stored split decides which rows are validation rows; without a split all rows train.
"""

from __future__ import annotations

from workbench.data import formats, records, repository
from workbench.data.split import apply_split
from workbench.data.stats import LengthCheck, check_lengths
from workbench.errors import WorkbenchError
from workbench.models.loading import context_window, load_tokenizer
from workbench.training.config import TrainConfig

MIN_TRAIN_ROWS = 2
SHOWN_PROBLEMS = 5


class TrainingError(WorkbenchError, RuntimeError):
    """A run that cannot train as set up; the message says why and what to do, in plain words."""


def build_datasets(config: TrainConfig, revision_id: int):
    """(train Dataset, validation Dataset or None, info) for the revision with registry id `revision_id`."""
    from datasets import Dataset

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

    train = [training_row(row, fmt, config) for row in train_rows]
    validation = [training_row(row, fmt, config) for row in validation_rows]
    info = {
        "dataset": name,
        "format": fmt,
        "revision_id": revision.id,
        "revision_n": revision.n,
        "revision_sha256": revision.sha256,
        "rows": len(rows),
        "train_rows": len(train),
        "validation_rows": len(validation),
        "split": revision.split.to_dict()["spec"] if revision.split is not None else None,
        "shape": "messages" if config.train_on_inputs else "prompt-completion",
    }
    return Dataset.from_list(train), (Dataset.from_list(validation) if validation else None), info


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


def training_row(row: dict, fmt: str, config: TrainConfig) -> dict:
    """One stored row in the conversational shape SFTTrainer takes (see the module docstring)."""
    messages = [{"role": m["role"], "content": str(m["content"])} for m in records.to_messages(row, fmt)]
    system = config.system_prompt.strip()
    if system and not any(m["role"] == "system" for m in messages):
        messages.insert(0, {"role": "system", "content": config.system_prompt})
    if config.train_on_inputs:
        return {"messages": messages}
    last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")  # validated: there is one
    return {"prompt": messages[:last], "completion": [messages[last]]}


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
