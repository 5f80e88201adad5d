"""Training objectives, one module each (the way TRL keeps one config and one trainer per method): what
each learns from, its rows, its TRL config and its trainer. The worker picks one from TrainConfig.objective."""

from __future__ import annotations

from workbench.data import records
from workbench.training.config import TrainConfig
from workbench.training.data import TrainingError, read_split
from workbench.training.objectives import dpo, grpo, kto, orpo, sft
from workbench.training.objectives.base import Objective

OBJECTIVES: dict[str, Objective] = {
    o.name: o for o in (sft.OBJECTIVE, dpo.OBJECTIVE, orpo.OBJECTIVE, kto.OBJECTIVE, grpo.OBJECTIVE)
}


def objective_for(config: TrainConfig) -> Objective:
    return OBJECTIVES[config.objective]


def objectives_for_kind(kind: str) -> list[Objective]:
    """The objectives that learn from a stored dataset kind."""
    return [o for o in OBJECTIVES.values() if kind in o.kinds]


def wrong_kind(dataset: str, kind: str, objective: Objective) -> str:
    """Why a dataset cannot train an objective, and what to do instead."""
    fits = ", ".join(f"{o.name} ({o.label})" for o in objectives_for_kind(kind))
    wanted = " or ".join(records.KIND_PURPOSE[k] for k in objective.kinds)
    return (
        f"Dataset {dataset!r} holds {records.KIND_PURPOSE[kind]}; objective {objective.name!r} ({objective.label}) "
        f"learns from {wanted}. Pick such a dataset, or train this one with objective {fits}."
    )


def build_datasets(config: TrainConfig, revision_id: int):
    """(train Dataset, validation Dataset or None, info) of a run: its revision's split rows in the shape its
    objective's TRL trainer takes."""
    from datasets import Dataset

    train_rows, validation_rows, fmt, info = read_split(config, revision_id)
    objective = objective_for(config)
    if fmt not in objective.kinds:
        raise TrainingError(wrong_kind(info["dataset"], fmt, objective))
    problems = objective.row_problems(train_rows, fmt, config, info["dataset"]) if objective.row_problems else []
    if problems:
        raise TrainingError("\n".join(problems))
    train = objective.rows(train_rows, fmt, config)
    validation = objective.rows(validation_rows, fmt, config) if validation_rows else []
    info = {**info, "train_rows": len(train), "validation_rows": len(validation), "objective": objective.name}
    if objective.name == "sft":
        info["shape"] = "messages" if config.train_on_inputs else "prompt-completion"
    elif objective.name == "grpo":
        info["shape"] = "prompt-reference"
    else:
        info["shape"] = "prompt-chosen-rejected" if objective.name in ("dpo", "orpo") else "prompt-completion-label"
    return (
        Dataset.from_list(train),
        (Dataset.from_list(validation) if validation and objective.evaluates else None),
        info,
    )
