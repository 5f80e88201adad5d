"""An experiment's answer in one table: a row per run with its varied settings, how it ended, its time and
speed, its eval loss and its held-out scores, ranked by the metric the user picks, the best marked."""

from __future__ import annotations

import math

from workbench.evaluation import results as eval_results
from workbench.experiments.group import experiment_runs, get_experiment
from workbench.training import runs

HELD_OUT = ("exact_match", "field_f1", "json_valid", "rouge_l")
LOWER_IS_BETTER = ("eval_loss",)


def outcome(run: dict) -> str:
    """How a run ended, in a word or two: completed, stopped when good, stopped early, failed, running, ..."""
    if run["status"] != "completed":
        return run["status"]
    reason = runs.training_outcome(run).get("stopped_because") or ""
    if reason.startswith("reached"):
        return "stopped when good"
    if reason.startswith("no better"):
        return "stopped early"
    if reason.startswith("pruned"):
        return "pruned"
    return "completed"


def run_row(run: dict) -> dict:
    final = runs.training_outcome(run)
    scores = {row["metric"]: row["adapter"] for row in eval_results.results(run["id"]) if row["metric"] in HELD_OUT}
    checks = final.get("task_checks") or {}
    return {
        "run": run["name"],
        "run_id": run["id"],
        **run["trial"],
        "status": outcome(run),
        "seconds": final.get("runtime_seconds"),
        "tokens_per_second": final.get("tokens_per_second"),
        "eval_loss": final.get("eval_loss"),
        **{metric: scores.get(metric) for metric in HELD_OUT},
        "best_check": checks.get("best"),
        "stopped_because": final.get("stopped_because"),
    }


def ranked(name_or_id: str | int, metric: str | None = None) -> tuple[dict, list[dict]]:
    """(the experiment, its rows best first by `metric`, default the experiment's own); each row has `rank`
    (None while it has no value) and `best`."""
    experiment = get_experiment(name_or_id)
    metric = metric or experiment["metric"]
    rows = [run_row(run) for run in experiment_runs(experiment["id"])]
    scored = [row for row in rows if row.get(metric) is not None]
    sign = 1 if metric in LOWER_IS_BETTER else -1
    scored.sort(key=lambda row: (sign * row[metric], *tie_break(row["eval_loss"], row["run_id"])))
    for rank, row in enumerate(scored, 1):
        row["rank"], row["best"] = rank, rank == 1
    rest = [row for row in rows if row.get(metric) is None]
    for row in rest:
        row["rank"], row["best"] = None, False
    return experiment, scored + rest


def tie_break(eval_loss: float | None, run_id: int) -> tuple[float, int]:
    """Of runs with the same score: the lower final eval loss, then the newer run. One rule for every page that
    names a best run (two runs at 0 % once got a different "best" on the Experiments and Start pages)."""
    return (eval_loss if eval_loss is not None else math.inf, -run_id)


def best_run(name_or_id: str | int, metric: str | None = None) -> dict | None:
    """The top run by `metric`, or None while none has a score."""
    _, rows = ranked(name_or_id, metric)
    return rows[0] if rows and rows[0]["best"] else None
