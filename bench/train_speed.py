"""Training speed on this machine: the CPU preset against the GPU recipe's settings, same data, same steps.

    .venv/bin/python bench/train_speed.py [--base demo] [--steps 30]

Each variant trains through the real worker (in this process) on the sample dataset in a scratch
WORKBENCH_HOME and reports tokens/s from the metrics the callback wrote. Ratios are against the
baseline measured in the same run, so they compare settings, not machines.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

VARIANTS = {
    "baseline: GPU recipe (r 8, attention, checkpointing, packing)": {},
    "no gradient checkpointing": {"gradient_checkpointing": False},
    "no packing": {"packing": False},
    "CPU preset (r 16, all-linear, no checkpointing, no packing, batch 4)": "cpu",
}


def measure(base: str, steps: int, updates) -> tuple[float, float]:
    from workbench.training import runs
    from workbench.training.config import TrainConfig, cpu_preset
    from workbench.training.worker import run_training

    config = TrainConfig(dataset="informes-proyectos", base_model=base, max_steps=steps, eval_steps=0,
                         precision="fp32", gradient_accumulation_steps=1)
    config = cpu_preset(config).with_updates(max_steps=steps) if updates == "cpu" else config.with_updates(**updates)
    run_id = runs.create_run(config)
    started = time.perf_counter()
    status = run_training(run_id, schedule_next=False)
    elapsed = time.perf_counter() - started
    if status != "completed":
        raise SystemExit(f"run failed: {runs.get_run(run_id)['error']}")
    speeds = [m["value"] for m in runs.run_metrics(run_id, ("tokens_per_second",))]
    steady = speeds[len(speeds) // 3:] or speeds  # skip warm-up steps
    return statistics.median(steady), elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default="demo")
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()
    os.environ["WORKBENCH_HOME"] = tempfile.mkdtemp(prefix="wb-bench-")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from workbench.data import repository

    repository.ensure_samples()
    print(f"base {args.base}, {args.steps} steps each, {os.cpu_count()} CPU cores")
    baseline = None
    for label, updates in VARIANTS.items():
        speed, elapsed = measure(args.base, args.steps, updates)
        baseline = baseline or speed
        print(f"{label:72} {speed:10,.0f} tok/s  {speed / baseline:5.2f}x  ({elapsed:.1f} s wall)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
