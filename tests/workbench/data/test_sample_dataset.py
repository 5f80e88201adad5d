"""The shipped sample dataset is exactly what its generator makes, and every row is a correct extraction."""

import importlib.util
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "scripts" / "make_sample_dataset.py"
SHIPPED = ROOT / "datasets" / "informes-proyectos.jsonl"
KEYS = ["project_name", "status", "client", "budget_used_eur", "key_milestone_completed", "blockers_today", "next_step"]
STATUSES = ("Verde", "Ámbar", "Rojo")
STATUS_WORD = re.compile(r"\b(verde|ámbar|rojo)\b", re.IGNORECASE)
pytestmark = pytest.mark.no_demo_model


def _generator():
    spec = importlib.util.spec_from_file_location("make_sample_dataset", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return [json.loads(line) for line in SHIPPED.read_text(encoding="utf-8").splitlines()]


def test_shipped_file_is_what_the_generator_makes(tmp_path):
    out = tmp_path / "generated" / "sample.jsonl"
    assert _generator().main(["--out", str(out)]) == 0
    assert out.read_bytes() == SHIPPED.read_bytes()
    assert list(out.parent.iterdir()) == [out]  # the temp file was moved into place, nothing left behind


def test_same_seed_same_rows_other_seed_other_rows():
    generator = _generator()
    assert generator.generate(30, 7) == generator.generate(30, 7)
    assert generator.generate(30, 7) != generator.generate(30, 8)


def test_rows_are_alpaca_with_the_exact_json_structure(rows):
    assert len(rows) >= 200
    for row in rows:
        assert list(row) == ["instruction", "input", "output"]
        assert all(isinstance(value, str) and value for value in row.values())
        record = json.loads(row["output"])
        assert list(record) == KEYS
        assert row["output"] == json.dumps(record, ensure_ascii=False)  # compact, keys in order, no escapes
        assert record["status"] in STATUSES
        for key in ("project_name", "client", "key_milestone_completed", "next_step"):
            assert isinstance(record[key], str) and record[key], key
        assert type(record["budget_used_eur"]) is int and record["budget_used_eur"] > 0
        assert isinstance(record["blockers_today"], list) and len(record["blockers_today"]) <= 3
        for blocker in record["blockers_today"]:
            assert list(blocker) == ["ticket_id", "delay_hours"]
            assert isinstance(blocker["ticket_id"], str) and blocker["ticket_id"]
            assert type(blocker["delay_hours"]) is int and blocker["delay_hours"] > 0


def test_copied_values_appear_verbatim_in_the_report(rows):
    for row in rows:
        record, report = json.loads(row["output"]), row["input"]
        for key in ("project_name", "client", "next_step"):
            assert record[key] in report, (key, report)
        milestone = record["key_milestone_completed"]
        assert milestone in report or milestone.lower() in report.lower(), report
        assert milestone[0].isupper() or not milestone[0].isalpha()
        for blocker in record["blockers_today"]:
            assert re.search(rf"(?<![\w-]){re.escape(blocker['ticket_id'])}(?![\w-])", report), (blocker, report)


def test_normalised_values_come_from_the_report(rows):
    for row in rows:
        record, report = json.loads(row["output"]), row["input"]
        words = STATUS_WORD.findall(report)
        assert [word.lower() for word in words] == [record["status"].lower()], report  # said once, unambiguous
        budget = record["budget_used_eur"]
        dotted = f"{budget:,}".replace(",", ".")
        assert re.search(rf"(?<![\d.])({budget}|{re.escape(dotted)}) ?(€|euros|EUR)", report), report
        for blocker in record["blockers_today"]:
            hours = blocker["delay_hours"]
            assert f"{hours} hora" in report, (blocker, report)


def test_reports_are_unique_varied_and_sized(rows):
    assert len({r["input"] for r in rows}) == len(rows)
    assert len({json.dumps(r, sort_keys=True) for r in rows}) == len(rows)
    records = [json.loads(r["output"]) for r in rows]
    for key in ("project_name", "client", "key_milestone_completed", "next_step"):
        assert len({record[key] for record in records}) >= 40, key
    assert {record["status"] for record in records} == set(STATUSES)
    assert {len(record["blockers_today"]) for record in records} == {0, 1, 2, 3}
    assert len({" ".join(r["input"].split()[:2]) for r in rows if not r["input"].startswith(("[", "Proyecto:"))}) >= 8
    for row in rows:
        assert 40 <= len(row["input"].split()) <= 110, row["input"]


def test_instruction_is_mostly_the_default_with_a_few_paraphrases(rows):
    default = "Extrae los datos del siguiente informe:"
    paraphrased = [r["instruction"] for r in rows if r["instruction"] != default]
    assert 0.03 <= len(paraphrased) / len(rows) <= 0.2
    assert len(set(paraphrased)) >= 2
