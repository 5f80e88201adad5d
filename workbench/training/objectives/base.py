"""What an objective declares: the dataset kinds it learns from, its rows, its TRL config and its trainer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from workbench.data import records
from workbench.training.config import TrainConfig


@dataclass
class Objective:
    name: str  # TrainConfig.objective
    label: str  # what the pages call it
    kinds: tuple[str, ...]  # stored dataset kinds it learns from
    learns: str  # one line: what a run with it does
    # (stored rows, their kind, config) -> the rows of TRL's dataset (a kind can give several per stored row)
    rows: Callable[[list[dict], str, TrainConfig], list[dict]]
    # (config, the TrainingArguments every objective shares) -> its TRL config object
    trl_config: Callable[[TrainConfig, dict], Any]
    # its TRL trainer class (imported when called: TRL loads only in the worker)
    trainer_class: Callable[[], type]
    # the reference the trainer measures the adapter against for this run, in words (None: it has none)
    reference: Callable[[TrainConfig], str | None] = lambda config: None
    # what its trainer logs beyond loss and learning rate (the Train page charts them)
    metrics: tuple[str, ...] = ()
    # extra checks once TRL prepared the datasets (SFT: rows dropped by max_length)
    check_prepared: Callable[..., None] | None = None
    # (stored rows, kind, config, dataset name) -> what stops these rows training it (GRPO: rewards that need
    # reference answers the rows lack); checked at launch and again by the worker
    row_problems: Callable[[list[dict], str, TrainConfig, str], list[str]] | None = None
    extra_sequences: int = 1  # sequences per row through the model (memory estimate)
    reference_passes: int = 0  # forward passes without gradients per row (memory estimate)
    # (config, run name, say) -> keyword arguments its trainer takes beyond TRL's common ones (SFT: the label-only
    # loss; GRPO: the reward functions)
    trainer_options: Callable[[TrainConfig, str, Callable[[str], None]], dict] = lambda config, run, say: {}
    # whether it scores the validation rows with its own loss while training (GRPO would sample answers for it;
    # its held-out answers are checked by the task metric instead)
    evaluates: bool = True

    def trainer(
        self, *, model, args, train_dataset, eval_dataset, tokenizer, peft_config, callbacks, config, run_name, say
    ):
        return self.trainer_class()(
            model=model,
            args=args,
            train_dataset=train_dataset,
            eval_dataset=eval_dataset,
            processing_class=tokenizer,
            peft_config=peft_config,
            callbacks=callbacks,
            **self.trainer_options(config, run_name, say),
        )


def conversation(row: dict, fmt: str, config: TrainConfig) -> list[dict]:
    """A stored row's prompt turns (the run's system prompt added where the row has none): for SFT kinds the
    whole conversation, for preference kinds the prompt."""
    messages = records.to_messages(row, fmt) if fmt in records.SFT_KINDS else list(row.get("prompt") or [])
    messages = [{"role": m["role"], "content": str(m["content"])} for m in messages]
    if config.system_prompt.strip() and not any(m["role"] == "system" for m in messages):
        messages.insert(0, {"role": "system", "content": config.system_prompt})
    return messages


def answer(text) -> list[dict]:
    return [{"role": "assistant", "content": str(text)}]
