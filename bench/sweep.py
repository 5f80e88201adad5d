"""A sweep as a user runs it, from the CLI: `train --sweep ... --wait`, timed, its ranked table printed.

    .venv/bin/python bench/sweep.py                      # 4 runs on the demo model: the plumbing, seconds a run
    .venv/bin/python bench/sweep.py --base smollm2-135m-instruct --sweep learning_rate=1e-3,2e-3,4e-3 \
        [--sweep num_epochs=2,3] [--fixed] [--validation 30] [--home DIR]

In a scratch WORKBENCH_HOME it splits the dataset (30 validation rows, seed 42), runs the sweep with the
defaults of this machine (on a CPU the CPU preset, which stops each run when its answers are right), and with
`--fixed` the same sweep again with stop-when-good off (every run trains all its epochs), so that the two
times compare in one script. Each run is evaluated on the same held-out rows as it completes. It prints each
sweep's table and time, the best run against the preset's own settings (learning rate and epochs of
`cpu_preset()`, when the sweep holds them), and `time_ratio` = stop-when-good time / fixed time.
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
DEMO_SWEEP = ["learning_rate=5e-3,2e-2", "lora_r=4,8"]
FIXED = ["--set", "task_metric=off", "--set", "stop_at=0", "--set", "stop_patience=0"]


def cli(args: list[str], env: dict) -> tuple[str, float]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "workbench", *args], cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(
            f"{' '.join(args[:3])} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    return done.stdout, seconds


def sweep(name: str, args, env: dict, extra: list[str]) -> float:
    sweeps = [x for pair in (args.sweep or (DEMO_SWEEP if args.base == "demo" else [])) for x in ("--sweep", pair)]
    settings = [x for pair in args.set for x in ("--set", pair)]
    command = ["train", "--dataset", args.dataset, "--base", args.base, *sweeps, *settings, *extra]
    # Each run is evaluated on the validation rows as it completes (auto_evaluate), as in the app.
    out, seconds = cli([*command, "--experiment", name, "--wait"], env)
    print(out[out.index(f"Experiment {name} (") :] if f"Experiment {name} (" in out else out)
    print(f"{name}: {seconds:.0f} s for the sweep, its runs' evaluations included\n", flush=True)
    return seconds


def best_against_preset(name: str, env: dict) -> str:
    os.environ["WORKBENCH_HOME"] = env["WORKBENCH_HOME"]
    sys.path.insert(0, str(ROOT))
    from workbench.experiments import ranking
    from workbench.training.config import cpu_preset

    preset = cpu_preset()
    _, rows = ranking.ranked(name)
    best = next((row for row in rows if row["best"]), None)
    own = next(
        (
            row
            for row in rows
            if row.get("learning_rate", preset.learning_rate) == preset.learning_rate
            and row.get("num_epochs", preset.num_epochs) == preset.num_epochs
        ),
        None,
    )
    if best is None:
        return "no run was scored"
    text = f"best: {best['run']} ({best.get('exact_match')})"
    if own is None:
        return text + "; the preset's settings are not in this sweep"
    verdict = "beats" if (best.get("exact_match") or 0) > (own.get("exact_match") or 0) else "does not beat"
    return text + f"; the preset's settings ({own['run']}): {own.get('exact_match')} — the winner {verdict} the preset"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default="demo")
    parser.add_argument("--dataset", default="informes-proyectos")
    parser.add_argument("--sweep", action="append", default=[], metavar="KEY=V1,V2")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--fixed", action="store_true", help="also run the sweep with stop-when-good off")
    parser.add_argument("--validation", type=int, default=30, help="held-out rows (each run is scored on them)")
    parser.add_argument("--home", help="workspace (default: a new temporary folder)")
    args = parser.parse_args(argv)
    home = args.home or tempfile.mkdtemp(prefix="wb-sweep-")
    env = {**os.environ, "WORKBENCH_HOME": home, "HF_HUB_OFFLINE": "1"}
    print(f"workspace {home}, {os.cpu_count()} CPU cores, base {args.base}, dataset {args.dataset}", flush=True)
    if args.base not in ("demo",) and not Path(args.base).is_dir():
        cli(["models", "get", args.base], env)
    cli(["datasets", "split", args.dataset, "--count", str(args.validation), "--seed", "42"], env)
    good = sweep("stop-when-good", args, env, [])
    print(best_against_preset("stop-when-good", env))
    if args.fixed:
        fixed = sweep("fixed-budget", args, env, FIXED)
        print(best_against_preset("fixed-budget", env))
        print(f"time_ratio={good / fixed:.2f} (stop-when-good {good:.0f} s, fixed budget {fixed:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
