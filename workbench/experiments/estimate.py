"""How long a sweep's runs will train, before anything starts: the dataset's training tokens per epoch (counted
with the base's tokenizer) at the speed of the newest finished run of the same base on this machine."""

from __future__ import annotations

from workbench.data import repository
from workbench.errors import WorkbenchError
from workbench.jobs import devices
from workbench.training import runs
from workbench.training.config import TrainConfig
from workbench.training.data import length_check


def tokens_per_epoch(config: TrainConfig) -> int:
    """Training tokens of one pass over the training rows (each row cut at max_length)."""
    check = length_check(config)
    revision = repository.get_revision(config.dataset, config.dataset_revision)
    rows = revision.split.train if revision.split is not None else range(len(check.tokens))
    return sum(min(check.tokens[i], config.max_length) for i in rows if i < len(check.tokens))


def measured_speed(base_model: str, objective: str = "sft") -> tuple[float, str] | None:
    """(tokens per second, run name) of the newest completed run of `base_model` with `objective`, or None. Not
    another objective's: a GRPO run's 1,363 tokens/s (most of its time is sampling) once priced an SFT sweep that
    trained at about 5,000."""
    for run in runs.list_runs():
        if run["status"] != "completed" or run["base_model"] != base_model:
            continue
        if runs.run_config(run).objective == objective:
            speed = runs.training_outcome(run).get("tokens_per_second")
            if speed:
                return float(speed), run["name"]
    return None


def estimate_lines(base: TrainConfig, trials: list[tuple[dict, TrainConfig]]) -> list[str]:
    """What the sweep costs, in words: its runs' training time at most (a run that stops when good takes
    less), or why it cannot be estimated yet."""
    speed = measured_speed(base.base_model, base.objective)
    if speed is None:
        return [
            f"Time: no {base.objective.upper()} run of {base.base_model} has finished here yet, so there is no speed "
            "to estimate from."
        ]
    try:
        per_epoch = tokens_per_epoch(base)
    except (WorkbenchError, ValueError, OSError) as exc:
        return [f"Time: not estimated ({exc})."]
    seconds = sum(per_epoch * config.num_epochs / speed[0] for _, config in trials)
    stops = any(config.task_metric != "off" and (config.stop_at or config.stop_patience) for _, config in trials)
    gpus = devices.gpu_count()
    side_by_side = (
        f"; about {_duration(seconds / gpus)} on this machine's {gpus} GPUs, a run on each" if gpus > 1 else ""
    )
    return [
        f"Time: about {_duration(seconds)} of training in all{' at most' if stops else ''} "
        f"({per_epoch:,} tokens an epoch at {speed[0]:.0f} tokens/s, the speed of run {speed[1]}{side_by_side}), "
        "plus each run's held-out evaluation."
    ]


def _duration(seconds: float) -> str:
    minutes = seconds / 60
    if minutes < 1:
        return f"{seconds:.0f} s"
    if minutes < 90:
        return f"{minutes:.0f} min"
    return f"{minutes / 60:.1f} h"
