"""bench/grpo_round.py end to end on the demo model: an SFT run, a GRPO round from it against more SFT for the
same time, and a step of plain TRL's GRPOTrainer at its defaults; one summary line."""

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import grpo_round  # noqa: E402

SUMMARY = re.compile(r"^grpo_vs_sft=[+-]\d+ rows grpo_vs_more_sft=[+-]\d+ rows trl_step_ratio=\d+\.\d\d$")


def test_a_grpo_round_against_more_sft_ends_with_the_machine_readable_line(tmp_path, workbench_home, capsys):
    data = tmp_path / "task.jsonl"
    rows = [{"instruction": f"Repite: {w}", "input": "", "output": json.dumps({"w": w})} for w in "abcdefghijkl"]
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    args = ["--base", "demo", "--import", str(data), "--validation", "4", "--limit", "4", "--home", str(workbench_home)]
    args += ["--sft-set", "max_steps=4", "--set", "max_steps=3", "--set", "max_completion_length=8", "--trl-steps", "1"]
    assert grpo_round.main(args) == 0
    out = capsys.readouterr().out
    lines = out.strip().splitlines()
    assert SUMMARY.match(lines[-1]), lines[-1]
    assert re.search(r"GRPO: 3 steps, \d+ s training \([\d.]+ s a step\)", out)
    assert any(line.startswith("field_f1 ") for line in lines) and "+GRPO" in out
    assert re.search(r"plain TRL GRPO 1 steps .*num_generations 8, max_completion_length 512", out)
