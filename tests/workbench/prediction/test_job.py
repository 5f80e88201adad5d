"""Prediction jobs on the demo model: a file answered with a run's adapter, cancelled and resumed, refused
when a row is longer than the model reads; and `python -m workbench predict`."""

import json

import pytest

from workbench.cli import main as cli_main
from workbench.jobs import registry
from workbench.prediction import job as predictions
from workbench.prediction import outputs
from workbench.prediction.config import PredictConfigError

WORDS = ("uno", "dos", "tres", "cuatro", "cinco", "seis", "siete")


def _file(references: bool = True) -> bytes:
    rows = [{"instruction": f"Repite: {w}", **({"output": w} if references else {})} for w in WORDS]
    return "\n".join(json.dumps(r) for r in rows).encode()


def test_a_run_answers_every_row_in_order_and_scores_those_with_a_reference(trained_run):
    config = predictions.for_run(trained_run["name"], max_new_tokens=6, batch_rows=3)
    assert config.run == "words-demo" and config.base_model == "demo" and config.greedy
    job_id = predictions.create_predict(config, _file(), "words.jsonl")
    job = predictions.get_job(job_id)
    assert job["run_id"] == trained_run["id"] and registry.progress(job)["total"] == len(WORDS)
    seen = []
    assert predictions.run_predict(job_id, on_progress=seen.append, echo=False) == "completed"
    rows = list(outputs.iter_rows(predictions.outputs_path(job_id)))
    assert [r["row"] for r in rows] == list(range(1, 8)) and [r["line"] for r in rows] == list(range(1, 8))
    assert [r["reference"] for r in rows] == list(WORDS)
    assert all(1 <= r["tokens"] <= 6 and r["stopped"] in ("eos", "length") for r in rows)
    done = [p["done"] for p in seen if p.get("phase") == "generating"]
    assert done == [0, 3, 6, 7]  # a progress per batch of 3
    assert all(p["eta_seconds"] >= 0 and p["rows_per_second"] > 0 for p in seen if p.get("done"))
    result = registry.result(predictions.get_job(job_id))
    assert result["rows"] == 7 and result["summary"]["scored"] == 7
    assert set(result["summary"]["metrics"]) >= {"exact_match", "rouge_l"}
    log = predictions.get_job(job_id)["log"]
    assert log == f"predictions/job-{job_id}/predict.log"


def test_greedy_answers_do_not_depend_on_the_batch(trained_run):
    answers = []
    for batch in (1, 4):
        config = predictions.for_run(trained_run["name"], max_new_tokens=5, batch_rows=batch)
        job_id = predictions.create_predict(config, _file(references=False), "w.jsonl")
        assert predictions.run_predict(job_id, echo=False) == "completed"
        answers.append([r["output"] for r in outputs.iter_rows(predictions.outputs_path(job_id))])
    assert answers[0] == answers[1]


def test_a_cancelled_job_keeps_its_rows_and_a_resume_goes_on_after_them(trained_run, monkeypatch):
    config = predictions.for_run(trained_run["name"], max_new_tokens=4, batch_rows=2)
    job_id = predictions.create_predict(config, _file(), "words.jsonl")
    checks = iter([None, None, "stop"])
    monkeypatch.setattr(registry, "stop_requested", lambda _id: next(checks, None))
    assert predictions.run_predict(job_id, echo=False) == "cancelled"
    path = predictions.outputs_path(job_id)
    kept = list(outputs.iter_rows(path))
    assert [r["row"] for r in kept] == [1, 2, 3, 4]
    monkeypatch.setattr(registry, "stop_requested", lambda _id: None)
    registry.requeue(job_id)
    assert predictions.run_predict(job_id, echo=False) == "completed"
    rows = list(outputs.iter_rows(path))
    assert rows[:4] == kept and [r["row"] for r in rows] == list(range(1, 8))
    assert registry.result(predictions.get_job(job_id))["answered_now"] == 3
    with pytest.raises(predictions.PredictError, match="every row is answered already"):
        predictions.resume_predict(job_id)


def test_rows_longer_than_the_model_reads_are_refused_before_anything_starts(trained_run):
    long_row = {"instruction": "palabra " * 1500}
    data = "\n".join(json.dumps(r) for r in [{"instruction": "corta"}, long_row]).encode()
    config = predictions.for_run(trained_run["name"], max_new_tokens=600)
    with pytest.raises(predictions.PredictError) as caught:
        predictions.create_predict(config, data, "long.jsonl")
    message = str(caught.value)
    assert message.startswith("long.jsonl: 1 row longer than the model reads, so nothing was started: line 2 (")
    assert "demo reads 2,048 tokens" in message and "a prompt may hold 1,448" in message
    assert registry.list_jobs(kind="predict") == []


def test_settings_out_of_range_and_unfinished_runs_are_refused(trained_run):
    with pytest.raises(PredictConfigError, match="max_new_tokens: 0"):
        predictions.for_run(trained_run["name"], max_new_tokens=0)
    with pytest.raises(PredictConfigError, match="temperature: 0"):
        predictions.for_run(None, "demo", greedy=False, temperature=0)
    registry.mark_running(registry.latest(trained_run["id"], "train")["id"])
    with pytest.raises(predictions.PredictError, match="no finished adapter to answer with"):
        predictions.for_run(trained_run["name"])


def test_the_cli_writes_the_answers_as_csv_and_resumes_by_job(trained_run, tmp_path, capsys):
    source = tmp_path / "in.csv"
    source.write_text("text,gold\nRepite: uno,uno\nRepite: dos,\n")
    out = tmp_path / "answers.csv"
    code = cli_main(
        [
            "predict",
            "words-demo",
            str(source),
            "--out",
            str(out),
            "--column",
            "text",
            "--reference-column",
            "gold",
            "--max-new-tokens",
            "4",
        ]
    )
    printed = capsys.readouterr().out
    assert code == 0, printed
    job_id = predictions.list_predictions()[0]["id"]
    assert f"Predict words-demo (adapter) over in.csv (2 rows) (job {job_id})" in printed
    assert f"2 answers written to {out}." in printed and "over the 1 rows with a reference" in printed
    header, *lines = out.read_text().splitlines()
    assert header.startswith("row,line,input,output,reference,tokens,stopped,exact_match") and len(lines) == 2
    again = tmp_path / "again.jsonl"
    assert cli_main(["predict", "--resume", str(job_id), "--out", str(again)]) == 0
    assert [json.loads(line)["input"] for line in again.read_text().splitlines()] == ["Repite: uno", "Repite: dos"]


def test_the_cli_answers_with_a_base_alone(tmp_path, capsys):
    source = tmp_path / "in.jsonl"
    source.write_text('{"prompt": "hola"}\n')
    out = tmp_path / "o.jsonl"
    assert cli_main(["predict", "base:demo", str(source), "--out", str(out), "--max-new-tokens", "3"]) == 0
    assert "Predict demo (base) over in.jsonl (1 row)" in capsys.readouterr().out
    [row] = [json.loads(line) for line in out.read_text().splitlines()]
    assert row["input"] == "hola" and "reference" not in row


def test_deleting_a_run_deletes_its_predictions(trained_run):
    from workbench.training import runs

    job_id = predictions.create_predict(predictions.for_run(trained_run["name"]), _file(), "w.jsonl")
    folder = predictions.inputs_path(job_id).parent
    assert (folder / "inputs.jsonl").is_file()
    runs.delete_run(trained_run["id"])
    assert not folder.exists() and registry.list_jobs(kind="predict") == []
