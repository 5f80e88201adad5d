"""A GRPO run's latest sampled answers and their rewards, in `runs/<run>/samples.json`: written by the trainer
(training/reinforce.py) at every log, read by the Runs page. Light: no torch, no TRL."""

from __future__ import annotations

import json
import statistics

from workbench import fileio, paths, store


def group_spread(batch: list[dict], group_size: int) -> float:
    """Mean standard deviation of the summed reward within each prompt's group (0: nothing to learn from)."""
    groups = [batch[i : i + group_size] for i in range(0, len(batch) - group_size + 1, group_size)]
    spreads = [statistics.pstdev(row["reward"] for row in group) for group in groups if len(group) > 1]
    return sum(spreads) / len(spreads) if spreads else 0.0


def write_samples(run_name: str, step: int, group_size: int, names: list[str], batch: list[dict]) -> None:
    for index, row in enumerate(batch):
        row["group"] = index // max(1, group_size) + 1
    fileio.write_json_atomic(
        paths.samples_path(run_name),
        {"step": step, "written": store.now(), "group_size": group_size, "rewards": names, "samples": batch},
    )


def read_samples(run_name: str) -> dict | None:
    """The latest sampled answers of a GRPO run, or None before its first step (or for other runs)."""
    path = paths.samples_path(run_name)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
