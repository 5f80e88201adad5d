"""The CPU preset's budget over seeds: held-out exact match of each (epochs, learning rate) on a task.

    .venv/bin/python bench/preset_sweep.py --data bench/data/tickets-soporte.jsonl \
        --budget 2:2e-3 --budget 3:2e-3 --seeds 1,2,42 [--set KEY=VALUE]   (these are the defaults; about 50 min)

Each run is variant (c) of bench/train_throughput.py (the workbench's defaults, its own process, the same
30 held-out rows) with that many epochs, that learning rate and that seed. One line per run as it ends,
then per budget the worst, median and best exact match over the seeds and the mean training time. A
budget is off the knee when its worst seed is as good as its best, within a row or two: one seed is not
enough on these tasks (on tickets-soporte, 2 epochs at 2e-3 gave 29/30 with seed 42 and 16/30 with seed 1).
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULT = re.compile(
    r"wall\s+([\d.]+) s.*validation loss ([\d.]+)\s+held-out exact (\d+)/(\d+) \([\d.]+\)\s+field F1 ([\d.—]+)"
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT / "bench" / "data" / "tickets-soporte.jsonl")
    parser.add_argument("--holdout", type=int, default=30, help="rows held out and scored (seeded, every run alike)")
    parser.add_argument("--rows", type=int, help="training rows (default: all the others)")
    parser.add_argument("--base", help="base model (default: smollm2-135m-instruct when prepared, else demo)")
    parser.add_argument("--budget", action="append", help="EPOCHS:LEARNING_RATE, repeatable (default: 2:2e-3, 3:2e-3)")
    parser.add_argument("--seeds", default="1,2,42", help="comma list of training seeds")
    parser.add_argument("--set", action="append", default=[], help="KEY=VALUE: a TrainConfig setting, every run")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    args.budget = args.budget or ["2:2e-3", "3:2e-3"]
    print(f"data {args.data}, seeds {seeds}", flush=True)
    results: dict[str, list[dict]] = {}
    for budget in args.budget:
        epochs, _, rate = budget.partition(":")
        for seed in seeds:
            result = run_once(args, float(epochs), float(rate), seed)
            results.setdefault(budget, []).append(result)
            print(f"{budget:>10}  seed {seed:>3}  {describe(result)}", flush=True)
    print()
    for budget, rows in results.items():
        print(summarise(budget, rows))
    return 0


def run_once(args: argparse.Namespace, epochs: float, rate: float, seed: int) -> dict:
    """Variant (c) once; its wall time, validation loss, exact rows of the held-out rows and field F1."""
    command = [
        sys.executable,
        str(ROOT / "bench" / "train_throughput.py"),
        "--variants=c",
        f"--data={args.data}",
        f"--holdout={args.holdout}",
        f"--epochs={epochs:g}",
        f"--seed={seed}",
        f"--set=learning_rate={rate:g}",
        *(f"--set={pair}" for pair in args.set),
        *([f"--rows={args.rows}"] if args.rows else []),
        *([f"--base={args.base}"] if args.base else []),
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    found = RESULT.search(done.stdout)
    if done.returncode != 0 or not found:
        raise SystemExit(
            f"run failed ({done.returncode}): {' '.join(command)}\n{done.stdout[-2000:]}{done.stderr[-3000:]}"
        )
    return parse(found)


def parse(found: re.Match) -> dict:
    wall, loss, exact, rows, f1 = found.groups()
    return {
        "wall": float(wall),
        "loss": float(loss),
        "exact": int(exact),
        "rows": int(rows),
        "f1": None if f1 == "—" else float(f1),
    }


def describe(result: dict) -> str:
    f1 = "—" if result["f1"] is None else f"{result['f1']:.3f}"
    return (
        f"held-out exact {result['exact']:>2}/{result['rows']}  field F1 {f1}  "
        f"validation loss {result['loss']:.4f}  training {result['wall']:.0f} s"
    )


def summarise(budget: str, rows: list[dict]) -> str:
    """Worst, median and best exact match over the seeds, and the mean training time."""
    exact = sorted(r["exact"] for r in rows)
    return (
        f"budget {budget}: held-out exact worst {exact[0]}/{rows[0]['rows']}, median {statistics.median(exact):g}, "
        f"best {exact[-1]} over {len(rows)} seeds; mean training {statistics.mean(r['wall'] for r in rows):.0f} s"
    )


if __name__ == "__main__":
    raise SystemExit(main())
