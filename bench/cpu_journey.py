"""The whole journey on CPU with a real model: fetch, prepare, train, evaluate — from the CLI, timed.

    .venv/bin/python bench/cpu_journey.py [--base smollm2-135m-instruct] [--dataset informes-proyectos]
                                           [--import FILE.jsonl] [--validation 30] [--limit 30] [--home DIR]

Runs `python -m workbench models get`, `datasets split NAME --count 30`, `train ... --wait` (the CPU
preset, the default without a GPU) and `eval RUN --limit N` as a user would, in a scratch
WORKBENCH_HOME, and prints each step's time against its budget (train ≤ 12 min, evaluate ≤ 5 min on
2 cores) and the held-out scores of the adapter against the base measured in the same run.
`--import bench/data/tickets-soporte.jsonl` runs the second task (fields to infer, not copy).

`--trl` then trains the same split with plain TRL, variant (a) of bench/train_throughput.py (SFTTrainer
with TRL's defaults, the same LoRA, epochs and learning rate), scores it with the same `eval`, and prints
how long each took to an adapter with the exact match plain TRL reached, and the ratio. Its last line ends
with `quality_parity=ok|FAIL`: ok when the workbench's adapter answers at least as many held-out rows
exactly as plain TRL's, within one row.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUDGETS = {"prepare": None, "train": 12 * 60, "evaluate": 5 * 60, "train TRL": 12 * 60}


def step(label: str, args: list[str], env: dict, script: list[str] | None = None) -> float:
    started = time.perf_counter()
    command = [sys.executable, *script] if script else [sys.executable, "-m", "workbench", *args]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{label} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    budget = BUDGETS.get(label)
    ratio = f"  {seconds / budget:.2f} of budget ({budget // 60} min)" if budget else ""
    print(f"{label:10} {seconds:8.1f} s{ratio}", flush=True)
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default="smollm2-135m-instruct")
    parser.add_argument("--dataset", default="informes-proyectos")
    parser.add_argument("--import", dest="import_file", type=Path, help="import this dataset file first")
    parser.add_argument("--validation", type=int, default=30, help="validation rows of a fresh split")
    parser.add_argument("--limit", type=int, default=30)
    parser.add_argument("--home", help="workspace to use (default: a new temporary folder)")
    parser.add_argument("--set", action="append", default=[], help="extra train settings, KEY=VALUE")
    parser.add_argument("--trl", action="store_true", help="also train and score plain TRL (its defaults)")
    parser.add_argument(
        "--reuse-trl",
        metavar="HOME",
        help="with --trl: take plain TRL's time and score from an earlier journey's workspace (its trl.json)",
    )
    parser.add_argument("--trl-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.trl_child:
        return trl_child(args.trl_child)
    home = args.home or tempfile.mkdtemp(prefix="wb-journey-")
    env = {**os.environ, "WORKBENCH_HOME": home}
    print(f"workspace {home}, {os.cpu_count()} CPU cores, base {args.base}, dataset {args.import_file or args.dataset}")
    if not Path(args.base).is_dir() and args.base != "demo":
        step("prepare", ["models", "get", args.base], env)
    dataset = args.dataset
    if args.import_file:
        dataset = args.import_file.stem
        step("import", ["datasets", "import", str(args.import_file.resolve()), "--name", dataset], env)
    step("split", ["datasets", "split", dataset, "--count", str(args.validation), "--seed", "42"], env)
    run = f"journey-{int(time.time())}"
    extra = [x for pair in args.set for x in ("--set", pair)]
    train_seconds = step(
        "train",
        [
            "train",
            "--dataset",
            dataset,
            "--base",
            args.base,
            "--name",
            run,
            "--set",
            "auto_evaluate=false",
            *extra,
            "--wait",
        ],
        env,
    )
    step("evaluate", ["eval", run, "--split", "validation", "--limit", str(args.limit)], env)
    os.environ["WORKBENCH_HOME"] = home
    sys.path.insert(0, str(ROOT))
    from workbench.training import runs

    record = runs.get_run(run)
    losses = [m["value"] for m in runs.run_metrics(record["id"], ("loss",))]
    evals = [m["value"] for m in runs.run_metrics(record["id"], ("eval_loss",))]
    print(
        f"train: {len(losses)} steps, loss {losses[0]:.3f} -> {losses[-1]:.3f}"
        + (f", eval loss {evals[-1]:.3f}" if evals else "")
    )
    print_stop(record)
    workbench_match = print_scores(record["id"])
    if args.trl:
        trl_seconds, trl_match = plain_trl(run, args, env, home)
        if workbench_match >= trl_match:
            train_seconds = earliest_checkpoint_at(run, trl_match, train_seconds, args.limit, env)
        print(time_to_match(train_seconds, workbench_match, trl_seconds, trl_match, args.limit))
    return 0


def plain_trl(run: str, args, env: dict, home: str) -> tuple[float, float]:
    """Train and score plain TRL on the same split (saved in the workspace's trl.json), or read an earlier
    journey's (--reuse-trl: same split seed and rows, so the same held-out rows)."""
    import json

    if args.reuse_trl:
        saved = json.loads((Path(args.reuse_trl) / "trl.json").read_text())
        print(f"train TRL  {saved['seconds']:8.1f} s  (from {args.reuse_trl}, measured {saved['measured']})")
        print(f"plain TRL held-out exact match {saved['match']:.3f}")
        return saved["seconds"], saved["match"]
    from workbench.training import runs

    seconds = step("train TRL", [], env, script=[__file__, "--trl-child", run])
    step("evaluate", ["eval", f"{run}-trl", "--split", "validation", "--limit", str(args.limit)], env)
    match = print_scores(runs.get_run(f"{run}-trl")["id"])
    record = {"seconds": seconds, "match": match, "measured": time.strftime("%Y-%m-%d %H:%M")}
    (Path(home) / "trl.json").write_text(json.dumps(record))
    return seconds, match


def earliest_checkpoint_at(run_name: str, target: float, full_seconds: float, limit: int, env: dict) -> float:
    """Seconds from the workbench run's start to its first epoch checkpoint whose held-out exact match
    reaches `target` (each scored by the same `eval`, registered as RUN-CHECKPOINT); else `full_seconds`."""
    from datetime import datetime

    from workbench import paths
    from workbench.training import runs

    source = runs.get_run(run_name)
    started = datetime.fromisoformat(source["started"]).timestamp()
    folder = paths.runs_dir() / run_name / "checkpoints"
    checkpoints = sorted(folder.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))[:-1]  # last = final
    for checkpoint in checkpoints:
        name = f"{run_name}-{checkpoint.name}"
        runs.register_finished_run(
            name,
            runs.run_config(source),
            source["dataset_revision_id"],
            checkpoint,
            note=f"{run_name} {checkpoint.name}",
        )
        step(f"evaluate {checkpoint.name}", ["eval", name, "--split", "validation", "--limit", str(limit)], env)
        match = print_scores(runs.get_run(name)["id"])
        if match >= target:
            return (checkpoint / "trainer_state.json").stat().st_mtime - started
    return full_seconds


def print_stop(record: dict) -> None:
    """Why the run stopped and what its task checks cost (stop when good)."""
    import json

    from workbench import paths

    saved = json.loads((paths.home() / record["adapter_dir"] / "workbench_run.json").read_text())
    final = saved.get("final_metrics") or {}
    checks = final.get("task_checks")
    print(f"stopped: {saved.get('stopped_because') or 'ran all its epochs'}")
    if checks:
        values = ", ".join(f"{c['value']:.2f}@{c['step']}" for c in checks["checks"])
        print(
            f"task checks ({checks['metric']}, {checks['rows']} rows every {checks['every']} steps): {values}; "
            f"{checks['seconds']:.0f} s, {100 * (checks['share'] or 0):.0f} % of the training time"
        )


def print_scores(run_id: int) -> float:
    """Print the held-out table of a run; returns the adapter's exact match."""
    from workbench.evaluation import results as eval_results

    print(f"\n{'metric':18} {'base':>8} {'adapter':>8} {'delta':>8}")
    exact = float("nan")
    for row in eval_results.results(run_id):
        cells = [
            f"{v:8.3f}" if isinstance(v, float) else f"{'—':>8}" for v in (row["base"], row["adapter"], row["delta"])
        ]
        print(f"{row['metric']:18} {' '.join(cells)}")
        if row["metric"] == "exact_match":
            exact = row["adapter"]
    return exact


def time_to_match(
    workbench_seconds: float, workbench_match: float, trl_seconds: float, trl_match: float, rows: int
) -> str:
    """Time to an adapter as good as plain TRL's (held-out exact match), each way, and the ratio; then
    quality_parity: ok when the workbench's final adapter is within one held-out row of plain TRL's."""
    from workbench.evaluation.quality import rows_within

    parity = "ok" if rows_within(round(workbench_match * rows), round(trl_match * rows)) else "FAIL"
    line = f"\ntime to the plain-TRL adapter's exact match {trl_match:.3f}: plain TRL {trl_seconds:.0f} s, workbench "
    if workbench_match >= trl_match:
        return line + (
            f"{workbench_seconds:.0f} s (its final adapter reached {workbench_match:.3f}); "
            f"time_ratio={workbench_seconds / trl_seconds:.2f} quality_parity={parity}"
        )
    return line + (
        f"did not reach it (reached {workbench_match:.3f} in {workbench_seconds:.0f} s); "
        f"time_ratio=n/a quality_parity={parity}"
    )


def trl_child(run_name: str) -> int:
    """Train the workbench run's dataset revision with plain TRL, variant (a), and register it as RUN-trl."""
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "bench"))
    from train_throughput import Meter, trl_trainer

    from workbench.jobs.worker import quiet_libraries
    from workbench.training import runs
    from workbench.training.objectives import build_datasets
    from workbench.training.worker import save_adapter

    quiet_libraries()
    source = runs.get_run(run_name)
    config = runs.run_config(source)
    train_ds, _, info = build_datasets(config, source["dataset_revision_id"])
    trainer, settings = trl_trainer("a", config, train_ds, Meter())
    print(f"plain TRL: {settings}", flush=True)
    trainer.train()
    name = f"{run_name}-trl"
    record = {
        "run": name,
        "status": "completed",
        "config": config.to_dict(),
        "base_model": config.base_model,
        "chat_template": config.chat_template,
        "trained_with": f"plain TRL SFTTrainer ({settings})",
        "dataset": info["dataset"],
        "dataset_revision": info["revision_n"],
    }
    target = save_adapter(trainer.model, trainer.processing_class, name, record, [])
    runs.register_finished_run(name, config, source["dataset_revision_id"], target, note="plain TRL")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
