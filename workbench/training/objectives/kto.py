"""Kahneman-Tversky optimisation: TRL's KTOTrainer learns from single answers labelled good or bad, against
a reference; preference pairs are read as one good and one bad answer each (TRL's unpair_preference_dataset)."""

from __future__ import annotations

from workbench.training.config import TrainConfig
from workbench.training.objectives import dpo
from workbench.training.objectives.base import Objective, answer, conversation


def rows(stored: list[dict], fmt: str, config: TrainConfig) -> list[dict]:
    """TRL's unpaired shape: {"prompt": [turns], "completion": [answer], "label": bool}."""
    if fmt == "preference":
        from datasets import Dataset
        from trl.data_utils import unpair_preference_dataset

        return list(unpair_preference_dataset(Dataset.from_list(dpo.rows(stored, fmt, config))))
    return [
        {"prompt": conversation(row, fmt, config), "completion": answer(row["completion"]), "label": row["label"]}
        for row in stored
    ]


def trl_config(config: TrainConfig, common: dict):
    # Heavy: TRL loads only in the worker.
    from trl import KTOConfig

    return KTOConfig(
        **common,
        max_length=config.max_length,
        beta=config.beta,
        loss_type="kto" if config.loss_type == "auto" else config.loss_type,
        desirable_weight=config.desirable_weight,
        undesirable_weight=config.undesirable_weight,
        # The KL term pairs each answer with another row's prompt, prepared once in order: TRL requires it.
        train_sampling_strategy="sequential",
    )


def trainer_class() -> type:
    from trl import KTOTrainer

    return KTOTrainer


OBJECTIVE = Objective(
    name="kto",
    label="KTO",
    kinds=("feedback", "preference"),
    learns="raises the answers labelled good and lowers the bad ones, staying near its reference",
    rows=rows,
    trl_config=trl_config,
    trainer_class=trainer_class,
    reference=dpo.reference,
    metrics=("rewards/chosen", "rewards/rejected", "rewards/margins", "kl"),
    extra_sequences=2,  # the answer and its KL pairing
    reference_passes=2,
)
