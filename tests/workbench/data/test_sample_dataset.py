"""The shipped sample dataset is exactly what its generator makes, and every row is a correct extraction."""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SHIPPED = ROOT / "datasets" / "informes-proyectos.jsonl"
KEYS = ["project_name", "status", "client", "budget_used_eur", "key_milestone_completed", "blockers_today",
        "next_step"]
pytestmark = pytest.mark.no_demo_model


def _generator():
    spec = importlib.util.spec_from_file_location("make_sample_dataset", ROOT / "scripts" / "make_sample_dataset.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rows():
    return [json.loads(line) for line in SHIPPED.read_text(encoding="utf-8").splitlines()]


def test_shipped_file_is_what_the_generator_makes(tmp_path):
    out = tmp_path / "sample.jsonl"
    assert _generator().main(["--out", str(out)]) == 0
    assert out.read_bytes() == SHIPPED.read_bytes()


def test_rows_are_alpaca_with_the_exact_json_structure():
    rows = _rows()
    assert len(rows) >= 150
    for row in rows:
        assert list(row) == ["instruction", "input", "output"]
        record = json.loads(row["output"])
        assert list(record) == KEYS
        assert record["status"] in ("Verde", "Ámbar", "Rojo")
        assert isinstance(record["budget_used_eur"], int)
        for blocker in record["blockers_today"]:
            assert list(blocker) == ["ticket_id", "delay_hours"]
            assert isinstance(blocker["ticket_id"], str) and isinstance(blocker["delay_hours"], int)


def test_copied_values_appear_verbatim_in_the_report():
    for row in _rows():
        record, report = json.loads(row["output"]), row["input"]
        for key in ("project_name", "client", "next_step"):
            assert record[key] in report, (key, report)
        assert record["key_milestone_completed"].lower() in report.lower()
        for blocker in record["blockers_today"]:
            assert blocker["ticket_id"] in report


def test_reports_are_unique_and_varied():
    rows = _rows()
    assert len({r["input"] for r in rows}) == len(rows)
    assert len({json.loads(r["output"])["project_name"] for r in rows}) >= 40
    assert len({r["input"].split(".")[0].split(" ")[0] for r in rows}) >= 5  # several report openings
    assert {json.loads(r["output"])["status"] for r in rows} == {"Verde", "Ámbar", "Rojo"}
