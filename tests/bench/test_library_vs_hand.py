"""bench/library_vs_hand.py: the hand-written code and the library agree on the tests' cases (where installed)."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_the_comparison_runs_and_agrees_on_the_cases():
    pytest.importorskip("datasketch", reason="datasketch is not a requirement: install it to run this benchmark")
    done = subprocess.run(
        [sys.executable, "bench/library_vs_hand.py", "--rows", "2000"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "tests' cases: 5/5 the same" in done.stdout
    assert "2,000 pairs" in done.stdout and "(our tokens, 2,000 same scores)" in done.stdout
    assert "near_duplicates_ratio=" in done.stdout and "rouge_l_ratio=" in done.stdout
