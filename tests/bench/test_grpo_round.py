"""bench/grpo_round.py end to end on the demo model, from a finished SFT run: a GRPO round from it against more
SFT for the same time, each scored on the held-out rows; one summary line. (Plain TRL's GRPOTrainer at its
defaults, 8 answers of 512 tokens a step, is left to the real benchmark: `--trl-steps 0` here keeps the suite
short.)"""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import grpo_round  # noqa: E402

SUMMARY = re.compile(r"^grpo_vs_sft=[+-]\d+ rows grpo_vs_more_sft=[+-]\d+ rows$")


def test_a_grpo_round_against_more_sft_ends_with_the_machine_readable_line(workbench_home, trained_run, capsys):
    args = ["--home", str(workbench_home), "--sft", trained_run["name"], "--limit", "2", "--rewards", "rouge_l:1"]
    args += ["--set", "max_steps=3", "--set", "max_completion_length=8", "--trl-steps", "0"]
    assert grpo_round.main(args) == 0
    out = capsys.readouterr().out
    lines = out.strip().splitlines()
    assert SUMMARY.match(lines[-1]), lines[-1]
    assert re.search(r"GRPO: 3 steps, \d+ s training \([\d.]+ s a step\)", out)
    assert re.search(r"reward: first fifth [\d.]+ -> last fifth [\d.]+", out)
    assert any(line.startswith("exact_match ") for line in lines) and "+GRPO" in out and "+SFT" in out
