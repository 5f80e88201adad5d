"""bench/preference_round.py end to end on the demo model: SFT, pairs from its mistakes, DPO and ORPO rounds
against more SFT, and the speed of DPO against TRL's defaults; one summary line."""

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import preference_round  # noqa: E402

SUMMARY = re.compile(
    r"^dpo_vs_more_sft=[+-]\d+ rows orpo:learning_rate=1e-3:beta=0.2_vs_more_sft=[+-]\d+ rows speed_vs_trl=\d+\.\d\dx$"
)


def test_a_preference_round_against_more_sft_ends_with_the_machine_readable_line(
    tmp_path, workbench_home, wrong_answers, capsys
):
    data = tmp_path / "task.jsonl"
    data.write_text(
        "".join(json.dumps({"instruction": f"Repite: {w}", "input": "", "output": w}) + "\n" for w in "abcdefghijkl")
    )
    args = ["--base", "demo", "--data", str(data), "--validation", "4", "--home", str(workbench_home)]
    args += ["--objectives", "dpo,orpo:learning_rate=1e-3:beta=0.2"]
    assert preference_round.main(args) == 0
    out = capsys.readouterr().out
    lines = out.strip().splitlines()
    assert SUMMARY.match(lines[-1]), lines[-1]
    assert "8 of 8 rows wrong by exact match below 1" in out  # 'mal' for every training row
    for label in ("sft ", "dpo ", "orpo:learning_rate=1e-3:beta=0.2", "more SFT"):
        assert any(line.startswith(label) and "held-out exact" in line for line in lines), label
    assert re.search(r"trl +DPO, one epoch over 8 pairs: +[\d.]+ tokens/s", out)
    assert re.search(r"workbench +DPO, one epoch over 8 pairs: +[\d.]+ tokens/s", out)

    # a second call on the same workspace reads the SFT run, pairs and baseline back: only the new variant trains
    assert preference_round.main([*args[:8], "--objectives", "kto", "--no-speed"]) == 0
    out = capsys.readouterr().out
    assert out.strip().splitlines()[-1].startswith("kto_vs_more_sft=")
    lines = out.strip().splitlines()
    assert not [line for line in lines if line.startswith(("sft ", "more-sft ", "more SFT (", "pairs:"))], lines
    assert any(line.startswith("kto ") and "trained in" in line for line in lines)
