"""Supervised fine-tuning: TRL's SFTTrainer (with the workbench's label-only loss) copies the answers."""

from __future__ import annotations

from workbench.data import records
from workbench.training.config import TrainConfig
from workbench.training.data import TrainingError
from workbench.training.objectives.base import Objective, conversation


def rows(stored: list[dict], fmt: str, config: TrainConfig) -> list[dict]:
    return [training_row(row, fmt, config) for row in stored]


def training_row(row: dict, fmt: str, config: TrainConfig) -> dict:
    """Loss on the completion only (the default): {"prompt": [turns before the last assistant turn],
    "completion": [that turn]}, TRL masks the prompt itself. `train_on_inputs`: {"messages": [all turns]}."""
    messages = conversation(row, fmt, config)
    if config.train_on_inputs:
        return {"messages": messages}
    last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")  # validated: there is one
    return {"prompt": messages[:last], "completion": [messages[last]]}


def trl_config(config: TrainConfig, common: dict):
    # Heavy: TRL loads only in the worker.
    from trl import SFTConfig

    return SFTConfig(
        **common,
        max_length=config.max_length,
        packing=config.packing,
        # Prompt/completion rows: loss on the completion only. `messages` rows (train_on_inputs): every token.
        completion_only_loss=not config.train_on_inputs,
        assistant_only_loss=False,
        # Rows in random order. Length-grouped batches (less padding) never scored better on two ticket tasks'
        # held-out rows at the same seed (5-10 rows of 30 worse at seed 42), for at most 1.18x (bench/README.md).
        train_sampling_strategy="random",
    )


def trainer_class() -> type:
    from workbench.training.trainer import WorkbenchSFTTrainer

    return WorkbenchSFTTrainer


def trainer_options(config: TrainConfig, run_name: str, say) -> dict:
    from workbench.training.model_load import cuda_available

    # On CUDA, TRL's own fused LM head already scores only the labelled positions, in chunks, with its Triton
    # kernel (never holding the full logits); elsewhere it scores every position.
    return {"label_only_loss": not cuda_available()}


def check_prepared(trainer, config: TrainConfig, info: dict, say) -> None:
    """TRL drops rows whose completion was cut off entirely by max_length: say so, and stop if none are left."""
    for split, dataset, count in (
        ("training", trainer.train_dataset, info["train_rows"]),
        ("validation", trainer.eval_dataset, info["validation_rows"]),
    ):
        if dataset is None or not count:
            continue
        left = len(dataset)
        if left == 0:
            raise TrainingError(
                f"No {split} row fits in max_length ({config.max_length} tokens): every prompt is so long that "
                "nothing of the answer is left to learn from after truncation. Raise max_length or shorten "
                "the prompts."
            )
        if not config.packing and left < count:
            say(
                f"Note: {count - left} of {count} {split} rows were dropped: their prompt fills max_length "
                f"({config.max_length} tokens), leaving no answer tokens to learn from."
            )


OBJECTIVE = Objective(
    name="sft",
    label="SFT",
    kinds=records.SFT_KINDS,
    learns="copies the answers of instruction or chat rows (supervised fine-tuning)",
    rows=rows,
    trl_config=trl_config,
    trainer_class=trainer_class,
    trainer_options=trainer_options,
    check_prepared=check_prepared,
)
