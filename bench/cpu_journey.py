"""The whole journey on CPU with a real model: fetch, prepare, train, evaluate — from the CLI, timed.

    .venv/bin/python bench/cpu_journey.py [--base smollm2-135m-instruct] [--dataset informes-proyectos]
                                           [--import FILE.jsonl] [--validation 30] [--limit 30] [--home DIR]

Runs `python -m workbench models get`, `datasets split NAME --count 30`, `train ... --wait` (the CPU
preset, the default without a GPU) and `eval RUN --limit N` as a user would, in a scratch
WORKBENCH_HOME, and prints each step's time against its budget (train ≤ 12 min, evaluate ≤ 5 min on
2 cores) and the held-out scores of the adapter against the base measured in the same run.
`--import bench/data/tickets-soporte.jsonl` runs the second task (fields to infer, not copy).
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
BUDGETS = {"prepare": None, "train": 12 * 60, "evaluate": 5 * 60}


def step(label: str, args: list[str], env: dict) -> float:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "workbench", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True)
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
    args = parser.parse_args()
    home = args.home or tempfile.mkdtemp(prefix="wb-journey-")
    env = {**os.environ, "WORKBENCH_HOME": home}
    print(f"workspace {home}, {os.cpu_count()} CPU cores, base {args.base}, "
          f"dataset {args.import_file or args.dataset}")
    if not Path(args.base).is_dir() and args.base != "demo":
        step("prepare", ["models", "get", args.base], env)
    dataset = args.dataset
    if args.import_file:
        dataset = args.import_file.stem
        step("import", ["datasets", "import", str(args.import_file.resolve()), "--name", dataset], env)
    step("split", ["datasets", "split", dataset, "--count", str(args.validation), "--seed", "42"], env)
    run = f"journey-{int(time.time())}"
    extra = [x for pair in args.set for x in ("--set", pair)]
    step("train", ["train", "--dataset", dataset, "--base", args.base, "--name", run,
                   "--set", "auto_evaluate=false", *extra, "--wait"], env)
    step("evaluate", ["eval", run, "--split", "validation", "--limit", str(args.limit)], env)
    os.environ["WORKBENCH_HOME"] = home
    sys.path.insert(0, str(ROOT))
    from workbench.evaluation import runner
    from workbench.training import runs

    record = runs.get_run(run)
    losses = [m["value"] for m in runs.run_metrics(record["id"], ("loss",))]
    evals = [m["value"] for m in runs.run_metrics(record["id"], ("eval_loss",))]
    print(f"train: {len(losses)} steps, loss {losses[0]:.3f} -> {losses[-1]:.3f}"
          + (f", eval loss {evals[-1]:.3f}" if evals else ""))
    print(f"\n{'metric':18} {'base':>8} {'adapter':>8} {'delta':>8}")
    for row in runner.results(record["id"]):
        cells = [f"{v:8.3f}" if isinstance(v, float) else f"{'—':>8}" for v in (row["base"], row["adapter"],
                                                                                 row["delta"])]
        print(f"{row['metric']:18} {' '.join(cells)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
