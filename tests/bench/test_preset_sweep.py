"""bench/preset_sweep.py: one line per (budget, seed) with its held-out exact match, then a summary per budget."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINE = re.compile(
    r"^\s+1:5e-3  seed\s+(\d+)  held-out exact\s+(\d+)/3  field F1 (\d\.\d{3}|—)  validation loss \d+\.\d{4}  "
    r"training \d+ s$"
)


def test_each_seed_of_each_budget_is_trained_scored_and_summarised():
    done = subprocess.run(
        [sys.executable, "bench/preset_sweep.py", "--base", "demo", "--data", "bench/data/tickets-en.jsonl"]
        + ["--holdout", "3", "--rows", "6", "--budget", "1:5e-3", "--seeds", "1,2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    runs = [LINE.match(line) for line in done.stdout.splitlines() if "seed " in line and "held-out" in line]
    assert all(runs) and [int(m.group(1)) for m in runs] == [1, 2], done.stdout
    exact = sorted(int(m.group(2)) for m in runs)
    summary = done.stdout.strip().splitlines()[-1]
    assert summary.startswith(
        f"budget 1:5e-3: held-out exact worst {exact[0]}/3, median {(exact[0] + exact[1]) / 2:g}, best {exact[1]} "
        "over 2 seeds; mean training "
    ), summary
