"""bench/cpu_journey.py's verdict line: time to plain TRL's held-out exact match, and quality parity within a row."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from cpu_journey import time_to_match  # noqa: E402


def test_the_last_line_gives_the_time_ratio_and_quality_parity():
    reached = time_to_match(300.0, 0.9, 600.0, 0.8, rows=30)
    assert reached.endswith("workbench 300 s (its final adapter reached 0.900); time_ratio=0.50 quality_parity=ok")

    one_row_short = time_to_match(300.0, 29 / 30, 600.0, 1.0, rows=30)
    assert one_row_short.endswith("time_ratio=n/a quality_parity=ok")  # within one row of 30

    two_rows_short = time_to_match(300.0, 0.8, 600.0, 0.867, rows=30)
    assert "did not reach it (reached 0.800 in 300 s)" in two_rows_short
    assert two_rows_short.endswith("quality_parity=FAIL")
