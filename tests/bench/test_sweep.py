"""bench/sweep.py end to end on the demo model: a sweep with stop-when-good and again with a fixed budget, each
ranked, and the time ratio (one run a sweep: the suite's time; tests/workbench/experiments rank several)."""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import sweep  # noqa: E402


def test_a_sweep_runs_ranks_and_compares_with_a_fixed_budget(workbench_home, capsys):
    args = ["--sweep", "lora_r=8", "--set", "max_steps=3", "--validation", "3"]
    assert sweep.main([*args, "--fixed", "--home", str(workbench_home)]) == 0
    out = capsys.readouterr().out
    for name in ("stop-when-good", "fixed-budget"):
        assert f"Experiment {name} (finished)" in out
        assert re.search(rf"^\* +{name}-01 +8 +", out, re.M)  # ranked first: the best
        assert re.search(rf"^{name}: \d+ s for the sweep", out, re.M)
    assert "the preset's settings" in out
    assert re.search(r"^time_ratio=\d+\.\d\d ", out.strip().splitlines()[-1])
