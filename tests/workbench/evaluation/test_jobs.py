"""Held-out evaluation end to end on CPU: the demo model memorises a tiny task, then base and adapter are scored.

One run is trained per module (a few seconds) in its own workspace; each test gets a copy of that workspace.
"""

import math
import os
import shutil
import subprocess
import sys
import time

import pytest

from tests.evaluations import register_copy, store_evaluation
from workbench import metrics, paths, store
from workbench.cli import main as cli_main
from workbench.data import repository
from workbench.data.split import SplitSpec
from workbench.evaluation import generation
from workbench.evaluation import jobs as eval_jobs
from workbench.evaluation import results as eval_results
from workbench.evaluation.heldout import EvalError
from workbench.jobs import registry
from workbench.jobs import worker as jobs_worker
from workbench.training import runs, worker
from workbench.training.config import TrainConfig

WORDS = ["casa", "perro", "gato", "mesa", "libro", "agua", "sol", "luna", "flor", "cielo", "tren", "mar"]
ROWS = [{"instruction": f"Repite: {word}", "input": "", "output": word} for word in WORDS]
RUN = "repite"


def _config(**updates) -> TrainConfig:
    return TrainConfig(
        dataset="repite",
        base_model="demo",
        max_steps=80,
        learning_rate=3e-3,
        lr_scheduler="constant",
        target_modules="all-linear",
        lora_r=16,
        lora_alpha=32,
        lora_dropout=0.0,
        eval_steps=0,
        packing=False,
        gradient_checkpointing=False,
        gradient_accumulation_steps=1,
        per_device_batch_size=4,
        warmup=0,
        max_length=64,
        save_steps=1000,
        logging_steps=10,
        auto_evaluate=False,
        precision="fp32",
    ).with_updates(**updates)


@pytest.fixture(scope="module")
def trained_home(tmp_path_factory, demo_model_dir):
    """A workspace with the dataset (8 train, 4 validation rows) and one completed run that memorised it."""
    home = tmp_path_factory.mktemp("eval-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WORKBENCH_HOME", str(home))
        (home / "models").mkdir()
        (home / "models" / "demo").symlink_to(demo_model_dir, target_is_directory=True)
        repository.create_dataset("repite", "alpaca", ROWS)
        repository.make_split("repite", 1, SplitSpec(seed=1, validation_count=4))
        run_id = runs.create_run(_config(), name=RUN)
        assert worker.run_training(run_id, schedule_next=False) == "completed"
        store.open_db().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return home


@pytest.fixture
def run_id(trained_home, workbench_home) -> int:
    shutil.copytree(
        trained_home,
        workbench_home,
        symlinks=True,
        dirs_exist_ok=True,
        ignore=lambda folder, names: ["models"] if folder == str(trained_home) else [],
    )
    return runs.get_run(RUN)["id"]


def stored_evals(run_id: int) -> dict[str, dict]:
    return {r["metric"]: r for r in store.open_db()["evals"].rows_where("run_id = ?", [run_id])}


def test_the_adapter_beats_the_base_on_what_it_memorised(run_id, monkeypatch):
    monkeypatch.setattr(generation, "EVAL_BATCH_ROWS", {"cpu": 3, "cuda": 3})
    job_id = eval_jobs.create_eval(run_id, split="train")
    job = eval_results.get_job(job_id)
    assert job["status"] == "queued" and job["split"] == "train"
    assert eval_jobs.job_progress(job)["total"] == 8

    seen = []
    assert eval_jobs.run_eval(job_id, on_progress=lambda p: seen.append(dict(p))) == "completed"

    job = eval_results.get_job(job_id)
    assert job["status"] == "completed" and job["error"] is None and job["pid"] == os.getpid()
    assert job["started"] and job["finished"]
    progress = eval_jobs.job_progress(job)
    assert (progress["done"], progress["total"], progress["eta_seconds"]) == (8, 8, 0)
    done = [p["done"] for p in seen if p["phase"] == "generating"]
    assert done == sorted(done) and sorted(set(done)) == [0, 3, 6, 8]  # rows count after each batch of rows

    evals = stored_evals(run_id)
    assert set(evals) == {*metrics.METRICS, "loss", "perplexity"}
    assert all(r["job_id"] == job_id and r["split"] == "train" for r in evals.values())
    assert evals["exact_match"]["adapter_value"] > evals["exact_match"]["base_value"]
    assert evals["exact_match"]["adapter_value"] >= 0.75, evals["exact_match"]
    assert evals["loss"]["adapter_value"] < evals["loss"]["base_value"]
    for side in ("base_value", "adapter_value"):
        assert evals["perplexity"][side] == pytest.approx(math.exp(evals["loss"][side]))

    table = eval_results.results(run_id)
    assert [r["metric"] for r in table] == [*metrics.METRICS, "loss", "perplexity"]
    exact = table[0]
    assert exact["delta"] == pytest.approx(exact["adapter"] - exact["base"]) and exact["delta"] > 0

    found = eval_results.rows(run_id)
    train = repository.get_revision("repite").split.train
    assert [r["row_index"] for r in found] == train
    assert len(found) == store.open_db()["eval_rows"].count_where("run_id = ?", [run_id]) == 8
    verdicts = {"both right", "adapter better", "adapter worse", "both wrong", "same"}
    assert all(r["verdict"] in verdicts for r in found)
    assert sum(r["verdict"] == "adapter better" for r in found) >= 6
    first = found[0]
    assert first["prompt"] == f"Repite: {WORDS[train[0]]}" and first["reference"] == WORDS[train[0]]
    assert first["adapter_output"] == WORDS[train[0]]
    assert set(first["base_scores"]) == set(first["adapter_scores"]) == set(metrics.METRICS)
    assert first["details"]["adapter_tokens"] >= 1
    assert eval_results.eval_rows_for(job) == found


def test_the_validation_split_is_the_default_the_limit_holds_and_a_new_job_replaces_the_old(run_id):
    first = eval_jobs.create_eval(run_id, split="train", limit=3)
    assert eval_jobs.run_eval(first, echo=False) == "completed"
    assert [r["row_index"] for r in eval_results.rows(run_id)] == repository.get_revision("repite").split.train[:3]

    second = eval_jobs.create_eval(run_id, limit=2)
    assert eval_results.get_job(second)["split"] == "validation"
    assert eval_jobs.run_eval(second, echo=False) == "completed"
    validation = repository.get_revision("repite").split.validation
    assert [r["row_index"] for r in eval_results.rows(run_id)] == validation[:2]
    db = store.open_db()
    assert {r["job_id"] for r in db["eval_rows"].rows_where("run_id = ?", [run_id])} == {second}
    assert {r["job_id"] for r in db["evals"].rows_where("run_id = ?", [run_id])} == {second}
    assert eval_results.latest_job(run_id)["id"] == second
    assert eval_results.eval_rows_for(first) == []


def test_a_job_cancelled_between_batches_keeps_the_rows_it_scored(run_id, monkeypatch):
    monkeypatch.setattr(generation, "EVAL_BATCH_ROWS", {"cpu": 2, "cuda": 2})
    done = eval_jobs.create_eval(run_id, split="all", limit=2)
    assert eval_jobs.run_eval(done, echo=False) == "completed"

    job_id = eval_jobs.create_eval(run_id, split="all")

    def cancel_after_two(progress):
        if progress["phase"] == "generating" and progress["done"] == 2:
            assert eval_jobs.cancel_eval(job_id) == "cancelling"

    assert eval_jobs.run_eval(job_id, on_progress=cancel_after_two, echo=False) == "cancelled"
    job = eval_results.get_job(job_id)
    assert job["status"] == "cancelled" and job["finished"]
    assert eval_jobs.job_progress(job)["done"] == 2 and eval_jobs.job_progress(job)["total"] == 12
    assert len(eval_results.eval_rows_for(job_id)) == 2
    assert {r["metric"] for r in store.open_db()["evals"].rows_where("job_id = ?", [job_id])} >= {"loss"}
    # The completed job's results stay what the run shows; the cancelled job's partial ones stay readable.
    assert eval_results.results_job(run_id)["id"] == done
    assert len(eval_results.results(run_id, job_id)) == len(metrics.METRICS) + 2

    queued = eval_jobs.create_eval(run_id, limit=1)
    assert eval_jobs.cancel_eval(queued) == "cancelled"
    with pytest.raises(EvalError, match="only a queued or running job can be cancelled"):
        eval_jobs.cancel_eval(queued)
    assert eval_jobs.run_eval(queued) == "cancelled"  # the worker of a cancelled job does nothing


def test_what_cannot_be_evaluated_says_why(run_id):
    untrained = runs.create_run(_config(), name="untrained")
    with pytest.raises(EvalError, match="has no adapter yet"):
        eval_jobs.create_eval(untrained)
    store.open_db()["runs"].update(untrained, {"adapter_dir": f"adapters/{RUN}"})
    registry.mark_running(runs.get_run(untrained)["job_id"])
    with pytest.raises(EvalError, match="is running: evaluate it once it has completed"):
        eval_jobs.create_eval(untrained)
    with pytest.raises(EvalError, match="Unknown split"):
        eval_jobs.create_eval(run_id, split="test")
    with pytest.raises(EvalError, match="limit"):
        eval_jobs.create_eval(run_id, limit=0)

    # The adapter folder disappears after the job was queued: the job fails with the reason.
    job_id = eval_jobs.create_eval(run_id, limit=1)
    shutil.rmtree(paths.adapters_dir() / RUN)
    assert eval_jobs.run_eval(job_id, echo=False) == "failed"
    job = eval_results.get_job(job_id)
    assert job["status"] == "failed" and job["error"].startswith(f"The adapter of run {RUN!r} is missing")
    assert eval_jobs.job_progress(job)["phase"] == "failed"


def test_a_dataset_without_a_split_has_no_validation_rows(run_id):
    repository.save_rows("repite", ROWS[:6], base_revision=1, note="no split")
    with pytest.raises(EvalError, match="has no validation split"):
        eval_jobs.create_eval(run_id, dataset_revision=2)
    job_id = eval_jobs.create_eval(run_id, split="train", dataset_revision=2, limit=2)
    assert eval_results.get_job(job_id)["revision_id"] == repository.get_revision("repite", 2).id
    assert eval_jobs.job_progress(eval_results.get_job(job_id))["total"] == 2


def test_jobs_whose_process_died_are_marked_interrupted(run_id):
    job_id = eval_jobs.create_eval(run_id, limit=1)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    registry.update(job_id, {"status": "running", "pid": dead.pid})
    assert eval_jobs.mark_interrupted_evals() == [job_id]
    job = eval_results.get_job(job_id)
    assert job["status"] == "interrupted" and "ended without reporting" in job["error"]
    assert eval_jobs.mark_interrupted_evals() == []


def test_start_eval_runs_the_worker_as_a_detached_process(run_id):
    job_id = eval_jobs.start_eval(run_id, split="train", limit=3)
    job = eval_results.get_job(job_id)
    assert job["status"] in ("running", "completed") and job["pid"] and job["pid"] != os.getpid()
    deadline = time.monotonic() + 120
    while eval_results.get_job(job_id)["status"] in eval_jobs.ACTIVE and time.monotonic() < deadline:
        assert eval_jobs.mark_interrupted_evals() == []
        time.sleep(0.3)
    log = (paths.runs_dir() / RUN / eval_jobs.LOG_FILE).read_text()
    job = eval_results.get_job(job_id)
    assert job["status"] == "completed", log
    assert "row 3/3" in log and "Evaluation completed" in log
    assert len(eval_results.rows(run_id)) == 3 and eval_results.results(run_id)


def test_the_worker_exit_code_says_whether_the_job_failed(run_id):
    job_id = eval_jobs.create_eval(run_id, split="train", limit=1)
    assert jobs_worker.main([str(job_id)]) == 0
    assert jobs_worker.main(["999"]) == 1


def test_rows_generated_in_batches_read_as_one_by_one(run_id, monkeypatch):
    outputs = {}
    for size in (1, 5):
        monkeypatch.setattr(generation, "EVAL_BATCH_ROWS", {"cpu": size, "cuda": size})
        job_id = eval_jobs.create_eval(run_id, split="all")
        assert eval_jobs.run_eval(job_id, echo=False) == "completed"
        outputs[size] = [(r["base_output"], r["adapter_output"]) for r in eval_results.eval_rows_for(job_id)]
    assert len(outputs[1]) == 12
    assert outputs[5] == outputs[1]  # left padding changes nothing in greedy answers


def test_the_cli_prints_the_metric_table(run_id, capsys):
    assert cli_main(["eval", RUN, "--split", "train", "--limit", "4"]) == 0
    out = capsys.readouterr().out
    assert "4/4 rows scored" in out and "Evaluation completed." in out
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("metric"))
    assert lines[header].split() == ["metric", "base", "adapter", "delta"]
    table = lines[header + 2 : header + 2 + len(metrics.METRICS) + 2]
    assert [line.split()[0] for line in table] == [*metrics.METRICS, "loss", "perplexity"]
    assert next(line for line in table if line.startswith("bleu")).startswith("bleu (0-100)")
    assert len({len(line) for line in table}) == 1  # aligned columns
    exact = table[0].split()
    assert float(exact[2]) > float(exact[1]) and exact[3].startswith("+")
    assert eval_jobs.job_progress(eval_results.latest_job(runs.get_run(RUN)["id"]))["done"] == 4

    assert cli_main(["eval", "no-such-run"]) == 2
    assert "No run 'no-such-run'" in capsys.readouterr().err
    untrained = runs.create_run(_config(), name="untrained")
    assert cli_main(["eval", str(untrained)]) == 2
    assert "has no adapter yet" in capsys.readouterr().err


def test_progress_says_which_side_it_generates_for_and_moves_before_the_first_row(run_id, monkeypatch):
    monkeypatch.setattr(generation, "PROGRESS_EVERY_SECONDS", 0.0)  # report every token
    seen = []
    job_id = eval_jobs.create_eval(run_id, split="train", limit=3)
    assert eval_jobs.run_eval(job_id, on_progress=seen.append, echo=False) == "completed"
    generating = [p for p in seen if p.get("phase") == "generating"]
    base_first = next(p for p in generating if p.get("side") == "base")
    assert base_first["done"] == 0 and base_first["rows"] == "1-3" and base_first["total"] == 3
    assert any(p.get("side_tokens", 0) > 0 and p["done"] == 0 for p in generating)  # moves within a batch
    assert any(p.get("side") == "adapter" and p["done"] == 0 and p.get("eta_seconds") is not None for p in generating)
    assert generating[-1]["done"] == 3 and generating[-1]["tokens"] > 0
    assert eval_jobs.describe_progress(base_first).startswith("0/3 rows scored, base answers for rows 1-3")


def test_progress_words_say_only_what_holds_now():
    going = {"phase": "generating", "done": 0, "total": 5, "side": "base", "rows": "1-5", "eta_seconds": 0.3}
    assert eval_jobs.describe_progress(going) == "0/5 rows scored, base answers for rows 1-5"  # no "about 0 s left"
    done = {**going, "phase": "done", "done": 5, "side": "adapter", "tokens": 250, "eta_seconds": 0}
    assert eval_jobs.describe_progress(done) == "5/5 rows scored, 250 tokens generated"
    assert eval_jobs.describe_progress({**done, "phase": "loss", "done": 5}).endswith(
        "loss of the reference answers, 250 tokens generated"
    )


TICKETS = [
    ('{"priority": "alta", "refund": true, "id": "A1"}', "no sé", '{"priority": "alta", "refund": true, "id": "A1"}'),
    ('{"priority": "baja", "refund": false, "id": "A2"}', "{}", '{"priority": "alta", "refund": false}'),
    (
        '{"priority": "alta", "refund": false, "id": "A3"}',
        "{}",
        '{"priority": "alta", "refund": false, "id": "A3", "x": 1}',
    ),
]


def test_the_cli_breaks_the_last_evaluation_down_by_field_and_beside_another_run(run_id, capsys):
    store_evaluation(run_id, TICKETS)
    assert cli_main(["eval", RUN, "--last", "--by-field"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:1] == ["field"])
    assert lines[header].split() == ["field", "base", "right", f"{RUN}", "right", "wrong", "missing", "extra"]
    table = {line.split()[0]: line.split()[1:] for line in lines[header + 1 : header + 5]}
    assert table == {
        "priority": ["0/3", "2/3", "1", "0", "0"],
        "refund": ["0/3", "3/3", "0", "0", "0"],
        "id": ["0/3", "2/3", "0", "1", "0"],
        "x": ["-", "-", "0", "0", "1"],
    }
    start = next(i for i, line in enumerate(lines) if line.startswith("priority (repite)"))
    assert lines[start].split()[-2:] == ["alta", "baja"]
    assert lines[start + 1].split() == ["alta", "2", "."] and lines[start + 2].split() == ["baja", "1", "."]
    assert any(line.startswith("refund (repite)") for line in lines)
    assert not any(line.startswith("id (repite)") for line in lines)  # a different id on every row

    source = runs.get_run(RUN)
    other = register_copy(source, "other")
    assert cli_main(["eval", RUN, "--last", "--by-field", "--against", "other"]) == 2
    assert "Run other has no finished evaluation" in capsys.readouterr().err
    store_evaluation(other, [(ref, base, ref) for ref, base, _ in TICKETS])
    assert cli_main(["eval", RUN, "--last", "--by-field", "--against", "other"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = next(line for line in lines if line.split()[:1] == ["field"])
    assert header.split()[1:7] == ["base", "right", RUN, "right", "other", "right"]
    assert next(line for line in lines if line.startswith("priority ")).split()[1:4] == ["0/3", "2/3", "3/3"]
    assert cli_main(["eval", RUN, "--against", "other"]) == 2
    assert "add --by-field" in capsys.readouterr().err


def test_by_field_on_a_text_task_ranks_the_worst_rows(run_id, capsys):
    assert cli_main(["eval", RUN, "--split", "train", "--limit", "3", "--by-field"]) == 0
    out = capsys.readouterr().out
    assert "Not a JSON task: the adapter's worst rows by ROUGE-L." in out
    ranked = out.split("row  rouge_l  answer  reference")[1].strip().splitlines()
    scored = [row["row_index"] + 1 for row in eval_results.rows(run_id)]
    assert len(ranked) == 3 and sorted(int(line.split()[0]) for line in ranked) == scored
    scores = [float(line.split()[1]) for line in ranked]
    assert scores == sorted(scores)


def test_rows_the_model_cannot_read_or_score_a_loss_on_are_said(run_id, capsys):
    rows = [*ROWS[:2], {"instruction": "Repite: " + "casa " * 150, "input": "", "output": "casa"}]
    rows.append({"instruction": "Repite: " + "perro " * 2100, "input": "", "output": "perro"})  # > 2,048 tokens
    revision = repository.save_rows("repite", rows, 1, note="longer rows")
    job_id = eval_jobs.create_eval(run_id, split="all", dataset_revision=revision.n)
    assert eval_jobs.run_eval(job_id, echo=False) == "completed"
    result = registry.result(eval_results.get_job(job_id))
    assert result["rows"] == 3 and result["asked"] == 4
    assert [r["row"] for r in result["unread"]] == [4] and result["unread"][0]["tokens"] > 2048
    assert result["loss_unscored"] == [3] and result["max_length"] == 64 and result["context"] == 2048
    assert [r["row_index"] for r in eval_results.rows(run_id)] == [0, 1, 2]
    unread, loss = eval_results.describe_coverage(result)
    assert unread.startswith("3 of 4 rows scored: row 4 (") and "is longer than the model reads" in unread
    assert loss.startswith("Loss and perplexity over 2 of 3 rows: the prompt of row 3 fills max_length 64")
    assert cli_main(["eval", RUN, "--last"]) == 0
    printed = capsys.readouterr().out
    assert f"Note: {unread}" in printed and f"Note: {loss}" in printed


# ------------------------------------------------------------------------------------- adapter against adapter


def test_an_adapter_scores_against_another_runs_adapter_on_the_same_rows(run_id):
    """Against an untrained-like copy, the memorised adapter wins; the result stays apart from its base scores."""
    run = runs.get_run(run_id)
    job = eval_jobs.create_eval(run_id, limit=4)
    assert eval_jobs.run_eval(job, echo=False) == "completed"
    against_base = {row["metric"]: row for row in eval_results.results(run_id)}
    twin = register_copy(run, "twin")
    versus = eval_jobs.create_eval(run_id, limit=4, against="twin")
    assert eval_results.get_job(versus)["title"] == f"Evaluate {RUN} against twin (4 validation rows)"
    assert eval_jobs.run_eval(versus, echo=False) == "completed"
    table = {row["metric"]: row for row in eval_results.results(run_id, against=twin)}
    # The same adapter on both sides: same answers, same loss, no delta.
    assert table["exact_match"]["base"] == table["exact_match"]["adapter"] == against_base["exact_match"]["adapter"]
    assert table["loss"]["delta"] == pytest.approx(0.0, abs=1e-6)
    # The run's own scores against its base are still there, untouched.
    assert {row["metric"]: row for row in eval_results.results(run_id)} == against_base
    assert eval_results.latest_job(run_id)["id"] == job and eval_results.latest_job(run_id, twin)["id"] == versus
    assert all(row["base_output"] == row["adapter_output"] for row in eval_results.rows(run_id, against=twin))


def test_an_adapter_of_another_base_or_the_run_itself_is_refused(run_id):
    with pytest.raises(EvalError, match="against itself says nothing"):
        eval_jobs.create_eval(run_id, against=run_id)
    run = runs.get_run(run_id)
    other = register_copy(run, "elsewhere")
    store.open_db().table("runs").update(other, {"base_model": "another-base"})
    with pytest.raises(EvalError, match="adapters compare only on the same base"):
        eval_jobs.create_eval(run_id, against="elsewhere")


def test_the_cli_scores_against_another_run_with_versus(run_id, capsys):
    register_copy(runs.get_run(run_id), "twin")
    assert cli_main(["eval", RUN, "--limit", "2", "--versus", "twin"]) == 0
    out = capsys.readouterr().out
    assert "twin (base column) and this adapter" in out
    header = next(line for line in out.splitlines() if line.startswith("metric"))
    assert header.split() == ["metric", "twin", "adapter", "delta"]
