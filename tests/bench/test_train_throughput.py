"""bench/train_throughput.py end to end on the demo model: three variants, the same rows, their held-out scores,
one summary line; --levers with a quality verdict."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SUMMARY = re.compile(
    r"^speedup_vs_trl_default=(\d+\.\d\d) speedup_vs_trl_tuned=(\d+\.\d\d) "
    r"memory_ratio=(\d+\.\d\d) loss_parity=(ok|FAIL) quality_parity=(ok|FAIL)$"
)
HELD_OUT = re.compile(r"held-out exact (\d+)/(\d+) \((\d\.\d{3})\)   field F1 (\d\.\d{3}|—)")


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
    scores = HELD_OUT.findall(done.stdout)
    assert len(scores) == 3 and all(int(total) == 2 for _, total, _, _ in scores), scores
    (a_exact, *_), _, (c_exact, *_) = scores
    expected = "ok" if int(c_exact) >= int(a_exact) - 1 else "FAIL"
    assert SUMMARY.match(lines[-1]).group(5) == expected


def test_quality_parity_is_one_row_of_the_baseline():
    sys.path.insert(0, str(ROOT / "bench"))
    from train_throughput import against_user_trl, levers_line, quality_ok

    def result(exact_rows, speed=100.0):
        return {"exact_rows": exact_rows, "tokens_per_second": speed}

    assert quality_ok(result(29), result(30)) and not quality_ok(result(28), result(30))
    line = levers_line({"c": result(25, 200.0), "c-fp32": result(26, 100.0), "c-length-grouped": result(27, 160.0)})
    assert line == "c-fp32=2.00x c-length-grouped=1.25x quality_parity=FAIL"  # 25 is two rows below 27
    assert levers_line({"c": result(25), "c-fp32": result(26)}).endswith("quality_parity=ok")

    user = {"exact_rows": 30, "scored_rows": 30, "wall_seconds": 650.0}
    ours = {"exact_rows": 29, "scored_rows": 30, "wall_seconds": 325.0}
    assert against_user_trl(ours, user) == (
        "time_vs_user_trl=0.50 time_to_user_trl_match=0.50 (goal <= 0.50) exact 29/30 vs 30/30 "
        "quality_parity_vs_user_trl=ok"
    )
    # with --curve, the first epoch checkpoint within a row of plain TRL's exact match is the time to it
    curve = [
        {"seconds": 100.0, "exact_rows": 20},
        {"seconds": 200.0, "exact_rows": 29},
        {"seconds": 325.0, "exact_rows": 30},
    ]
    assert "time_vs_user_trl=0.50 time_to_user_trl_match=0.31 " in against_user_trl({**ours, "curve": curve}, user)
    never = {**ours, "exact_rows": 27, "curve": [{"seconds": 325.0, "exact_rows": 27}]}
    assert against_user_trl(never, user).endswith(
        "time_to_user_trl_match=n/a (goal <= 0.50) exact 27/30 vs 30/30 quality_parity_vs_user_trl=FAIL"
    )


def test_the_curve_scores_each_epoch_checkpoint_and_times_the_match_with_plain_trl():
    done = subprocess.run(
        [sys.executable, "bench/train_throughput.py", "--base", "demo", "--rows", "8", "--validation", "2"]
        + ["--epochs", "2", "--variants", "c,p", "--curve"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    last = done.stdout.strip().splitlines()[-1]
    found = re.match(
        r"time_vs_user_trl=(\d+\.\d\d) time_to_user_trl_match=(\d+\.\d\d|n/a) \(goal <= 0\.50\) "
        r"exact (\d)/2 vs (\d)/2 quality_parity_vs_user_trl=(ok|FAIL)$",
        last,
    )
    assert found, last
    whole, to_match, ours, theirs, parity = found.groups()
    assert parity == ("ok" if int(ours) >= int(theirs) - 1 else "FAIL")
    if to_match != "n/a":  # an epoch checkpoint or the end: never later than the whole run
        assert float(to_match) <= float(whole)
