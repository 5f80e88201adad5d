"""bench/predict_throughput.py: `predict` and the plain transformers loop answer the same rows, compared."""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAST = re.compile(r"^speed_vs_loop=\d+\.\d\d generation_speed_vs_loop=\d+\.\d\d identical=6/6 quality_parity=ok$")


def test_both_ways_answer_every_row_alike_and_the_ratio_is_printed(tmp_path):
    done = subprocess.run(
        [sys.executable, "bench/predict_throughput.py", "--base", "demo", "--rows", "6", "--max-new-tokens", "8"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert [line.split()[0] for line in lines[1:5]] == ["import", "train", "workbench", "plain"]
    assert re.match(r"^rows/s, whole process: workbench \d+\.\d{3}, loop \d+\.\d{3}  ratio \d+\.\d\dx$", lines[5])
    assert lines[-4] == "identical answers: 6/6"  # greedy: batching changes no answer
    assert LAST.match(lines[-1]), lines[-1]
