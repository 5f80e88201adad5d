"""bench/train_throughput.py end to end on the demo model: three variants, the same rows, one summary line."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SUMMARY = re.compile(
    r"^speedup_vs_trl_default=(\d+\.\d\d) speedup_vs_trl_tuned=(\d+\.\d\d) "
    r"memory_ratio=(\d+\.\d\d) loss_parity=(ok|FAIL)$"
)


def test_the_benchmark_trains_all_three_variants_and_ends_with_the_machine_readable_line():
    done = subprocess.run(
        [sys.executable, "bench/train_throughput.py", "--base", "demo", "--rows", "16", "--validation", "2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert SUMMARY.match(lines[-1]), lines[-1]
    for label in ("(a) TRL default", "(b) TRL tuned", "(c) workbench"):
        assert any(line.startswith(label) for line in lines), label
    speeds = [float(m.group(1).replace(",", "")) for m in re.finditer(r"([\d,]+) tok/s", done.stdout)]
    assert len(speeds) == 3 and all(s > 0 for s in speeds)
    assert "validation loss" in done.stdout and "nan" not in lines[-1]
