"""Direct preference optimisation: TRL's DPOTrainer raises the chosen answer's likelihood over the rejected
one's, measured against a reference (the starting adapter, or the base with the new adapter switched off)."""

from __future__ import annotations

from workbench.training.config import TrainConfig
from workbench.training.objectives.base import Objective, answer, conversation

REWARD_METRICS = ("rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies")


def rows(stored: list[dict], fmt: str, config: TrainConfig) -> list[dict]:
    """TRL's explicit-prompt conversational shape: {"prompt": [turns], "chosen": [answer], "rejected": [answer]}."""
    return [
        {"prompt": conversation(row, fmt, config), "chosen": answer(row["chosen"]), "rejected": answer(row["rejected"])}
        for row in stored
    ]


def trl_config(config: TrainConfig, common: dict):
    # Heavy: TRL loads only in the worker.
    from trl import DPOConfig

    return DPOConfig(
        **common,
        max_length=config.max_length,  # prompt + answer; TRL keeps the start and cuts the end
        beta=config.beta,
        # 'a+b' is TRL's combination of losses, equally weighted (sigmoid+sft: RPO)
        loss_type=["sigmoid"] if config.loss_type == "auto" else config.loss_type.split("+"),
    )


def trainer_class() -> type:
    from trl import DPOTrainer

    return DPOTrainer


def reference(config: TrainConfig) -> str:
    return (
        "a frozen copy of the starting adapter (PEFT's 'ref' adapter on the same base)"
        if config.start_from
        else "the base itself (the new adapter switched off): no second copy of the base in memory"
    )


OBJECTIVE = Objective(
    name="dpo",
    label="DPO",
    kinds=("preference",),
    learns="prefers the chosen answer of each pair over the rejected one, staying near its reference",
    rows=rows,
    trl_config=trl_config,
    trainer_class=trainer_class,
    reference=reference,
    metrics=REWARD_METRICS,
    extra_sequences=2,  # chosen and rejected
    reference_passes=2,
)
