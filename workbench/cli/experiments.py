"""`python -m workbench train ... --sweep ...` and `python -m workbench experiments list|show|cancel|resume|extend`."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from workbench.evaluation import jobs as eval_jobs
from workbench.experiments import group, ranking
from workbench.experiments.estimate import estimate_lines
from workbench.experiments.sweep import SweepSpec
from workbench.jobs import queue, registry
from workbench.training import runs
from workbench.training.config import TrainConfig

COLUMNS = ("exact_match", "field_f1", "json_valid", "rouge_l", "eval_loss")


def add_sweep_arguments(train) -> None:
    """The `train` options that make it a sweep (an experiment of several runs)."""
    train.add_argument(
        "--sweep",
        action="append",
        default=[],
        metavar="KEY=V1,V2",
        help="vary a setting over these values (up to three --sweep; every combination runs)",
    )
    train.add_argument("--trials", type=int, default=0, help="random draws over the --range settings")
    train.add_argument(
        "--range", action="append", default=[], metavar="KEY=LOW:HIGH[:log]", help="a range to draw from"
    )
    train.add_argument("--sweep-file", type=Path, help="a YAML file with sweep:, ranges:, trials:")
    train.add_argument("--experiment", help="the experiment's name (default: the run name or dataset-time)")
    train.add_argument("--metric", default="exact_match", choices=group.RANK_METRICS, help="rank the runs by")


def is_sweep(args) -> bool:
    return bool(args.sweep or args.trials or args.range or args.sweep_file)


def sweep_spec(args) -> SweepSpec:
    if args.sweep_file:
        return SweepSpec.from_yaml(args.sweep_file.read_text(encoding="utf-8"), str(args.sweep_file))
    return SweepSpec.parse(args.sweep, args.range, args.trials)


def start_sweep(args, config: TrainConfig) -> int:
    spec = sweep_spec(args)
    trials = spec.configs(config)
    name = args.experiment or args.name or f"{config.dataset}-sweep-{time.strftime('%m%d-%H%M%S')}"
    print(f"Experiment {name}: {len(trials)} runs, one after another, ranked by {args.metric}.")
    for line in group.plan_lines(trials) + estimate_lines(config, trials):
        print(f"  {line}")
    experiment_id = group.create_experiment(name, config, spec, args.metric)
    print(f"Queued. Follow it with `python -m workbench experiments show {name}` or on the Experiments page.")
    if not args.wait:
        return 0
    return follow(experiment_id)


def follow(experiment_id: int, poll: float = 2.0) -> int:
    """Wait until every run of the experiment and its evaluation ended, printing each as it ends."""
    said: set[int] = set()
    try:
        while True:
            registry.sweep_lost()
            queue.schedule()
            members = group.experiment_runs(experiment_id)
            for run in members:
                if run["status"] in registry.TERMINAL and run["id"] not in said:
                    said.add(run["id"])
                    print(f"{run['name']}: {ranking.outcome(run)}", flush=True)
                    # Its worker queues the evaluation just after marking it completed: wait for that job,
                    # or the table below could be printed before the run has a score.
                    eval_jobs.evaluation_after_training(run)
            evaluating = registry.list_jobs(kind="evaluate", statuses=registry.ACTIVE)
            if group.status_of(members) != "running" and not {job["run_id"] for job in evaluating} & {
                run["id"] for run in members
            }:
                break
            time.sleep(poll)
    except KeyboardInterrupt:
        print("\nStopped waiting; the experiment goes on.", file=sys.stderr)
        return 130
    print(table(experiment_id))
    return 0


def add_parser(commands) -> None:
    parser = commands.add_parser("experiments", help="list, show, cancel, resume or extend experiments (sweeps)")
    sub = parser.add_subparsers(dest="experiments_command", required=True, metavar="ACTION")
    sub.add_parser("list", help="every experiment with its runs' state").set_defaults(handler=_list)
    show = sub.add_parser("show", help="the ranked table of an experiment")
    show.add_argument("experiment", help="experiment name or id")
    show.add_argument("--metric", choices=group.RANK_METRICS, help="rank by this metric (default: the experiment's)")
    show.set_defaults(handler=_show)
    for action, text in (
        ("cancel", "cancel every queued or running run of the experiment"),
        ("resume", "queue again its interrupted, failed or cancelled runs"),
    ):
        one = sub.add_parser(action, help=text)
        one.add_argument("experiment", help="experiment name or id")
        one.set_defaults(handler=globals()[f"_{action}"])
    extend = sub.add_parser("extend", help="add values or trials to an experiment (same base settings)")
    extend.add_argument("experiment", help="experiment name or id")
    extend.add_argument("--sweep", action="append", default=[], metavar="KEY=V1,V2")
    extend.add_argument("--trials", type=int, default=0)
    extend.add_argument("--range", action="append", default=[], metavar="KEY=LOW:HIGH[:log]")
    extend.add_argument("--sweep-file", type=Path)
    extend.set_defaults(handler=_extend)


def table(name_or_id, metric: str | None = None) -> str:
    experiment, rows = ranking.ranked(name_or_id, metric)
    varied = group.spec_of(experiment).varied
    metric = metric or experiment["metric"]
    header = ["", "run", *varied, "status", "time", "tok/s", *COLUMNS]
    lines = [header]
    for row in rows:
        lines.append(
            [
                "*" if row["best"] else (str(row["rank"]) if row["rank"] else "-"),
                row["run"],
                *(_cell(row.get(key)) for key in varied),
                row["status"],
                _seconds(row["seconds"]),
                _cell(row["tokens_per_second"], ".0f"),
                *(_cell(row.get(key), ".3f") for key in COLUMNS),
            ]
        )
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
    text = "\n".join(
        "  ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True)) for line in lines
    )
    best = next((row for row in rows if row["best"]), None)
    tail = f"\nbest by {metric}: {best['run']}" if best else f"\nno run has a score by {metric} yet"
    return f"Experiment {experiment['name']} ({group.status_of(group.experiment_runs(experiment['id']))})\n{text}{tail}"


def _cell(value, fmt: str = "g") -> str:
    if value is None:
        return "-"
    return format(value, fmt) if isinstance(value, float) else str(value)


def _seconds(value) -> str:
    return "-" if value is None else f"{value:.0f} s"


def _list(args) -> int:
    found = group.list_experiments()
    if not found:
        print("No experiments yet: start one with `python -m workbench train --dataset D --sweep lora_r=8,16`.")
        return 0
    for experiment in found:
        print(f"{experiment['name']:30} {experiment['runs']:3} runs  {experiment['status']:9} {experiment['created']}")
    return 0


def _show(args) -> int:
    print(table(args.experiment, args.metric))
    return 0


def _cancel(args) -> int:
    lines = group.cancel_experiment(args.experiment)
    print("\n".join(lines) if lines else "Nothing to cancel: no run of it is queued or running.")
    return 0


def _resume(args) -> int:
    print("\n".join(group.resume_experiment(args.experiment)))
    runs.schedule()
    return 0


def _extend(args) -> int:
    created = group.extend_experiment(args.experiment, sweep_spec(args))
    print(f"{len(created)} runs added: " + ", ".join(runs.get_run(run_id)["name"] for run_id in created))
    return 0
