"""The hardest training rows of a run: the adapter's loss on each row's answer, highest first, as a job."""

import pytest

from workbench.cli import main
from workbench.data import repository
from workbench.data.split import Split, SplitSpec
from workbench.evaluation import hardest, heldout, losses
from workbench.jobs import registry


def test_every_training_row_is_measured_highest_loss_first(trained_run):
    job_id = hardest.create_hardest(trained_run["id"])
    job = registry.get(job_id)
    assert job["title"] == "Hardest rows of words-demo (6 training rows of words r1)"
    assert hardest.run_hardest(job_id) == "completed"
    found = hardest.hardest_rows(registry.get(job_id))
    _, revision = repository.revision_by_id(trained_run["dataset_revision_id"])
    assert sorted(r["row"] for r in found) == [i + 1 for i in revision.split.train]  # training rows only
    assert [r["loss"] for r in found] == sorted((r["loss"] for r in found), reverse=True)
    assert all(r["loss"] > 0 and r["tokens"] > 0 for r in found)
    assert registry.progress(registry.get(job_id))["done"] == 6


def test_the_loss_of_a_row_is_the_evaluations_own(trained_run):
    """The per-row losses add up to the evaluation's loss over the same rows (one definition of loss)."""
    from workbench.inference.engine import Engine
    from workbench.training import runs

    run = runs.get_run(trained_run["id"])
    pairs = heldout.heldout_prompts(run, 10, split="train")
    engine = Engine("demo")
    try:
        name = engine.attach(str(heldout.adapter_path(run)), "words")
        per_row = losses.row_losses(engine, name, pairs)
        mean, unscored = losses.completion_loss(engine, name, pairs)
    finally:
        engine.unload()
    assert not unscored
    assert mean == pytest.approx(sum(loss * n for loss, n in per_row) / sum(n for _, n in per_row))


def test_a_cancelled_measure_keeps_the_rows_done(trained_run, monkeypatch):
    monkeypatch.setattr(hardest, "PROGRESS_EVERY_SECONDS", 0.0)
    job_id = hardest.create_hardest(trained_run["id"])
    calls = []
    monkeypatch.setattr(registry, "stop_requested", lambda job: calls.append(job) or len(calls) >= 2)
    assert hardest.run_hardest(job_id) == "cancelled"
    assert len(hardest.hardest_rows(registry.get(job_id))) == 2


def test_a_run_without_an_adapter_is_refused(workbench_home, tiny_demo_run):
    from workbench.training import runs
    from workbench.training.config import TrainConfig

    repository.create_dataset("words", "alpaca", [{"instruction": "a", "input": "", "output": "b"}] * 4)
    run_id = runs.create_run(TrainConfig(**tiny_demo_run), name="queued-run")
    with pytest.raises(heldout.EvalError, match="has no adapter yet"):
        hardest.create_hardest(run_id)


def test_cli_prints_the_hardest_rows_with_their_text(trained_run, capsys):
    assert main(["hardest", "words-demo", "--top", "3"]) == 0
    out = capsys.readouterr().out
    assert "6 training rows of words r1, hardest first" in out
    assert out.count("  row ") == 3 and "'Repite: " in out


def test_dropping_rows_keeps_the_held_out_rows_the_same_rows(workbench_home):
    rows = [{"instruction": f"q{i}", "input": "", "output": f"a{i}"} for i in range(6)]
    repository.create_dataset("d", "alpaca", rows)
    split = Split(spec=SplitSpec(seed=1, validation_count=2), train=[0, 2, 3, 5], validation=[1, 4])
    repository.set_split("d", 1, split)
    revision = repository.drop_rows("d", [2, 3], 1, "dropped 2 hard rows")
    kept = repository.read_revision_rows(revision)
    assert [r["instruction"] for r in kept] == ["q0", "q1", "q4", "q5"]
    assert [kept[i]["instruction"] for i in revision.split.validation] == ["q1", "q4"]
    assert [kept[i]["instruction"] for i in repository.get_revision("d").split.train] == ["q0", "q5"]
    with pytest.raises(repository.RevisionConflict):
        repository.drop_rows("d", [0], 1, "stale")  # the dataset changed since revision 1
