"""An experiment in the registry: its runs queued in order, cancelled, extended and resumed as a whole, a killed
worker leaving the rest queued, and the ranked table."""

import pytest

from workbench.cli import main
from workbench.data import repository
from workbench.data.split import SplitSpec
from workbench.evaluation import jobs as eval_jobs
from workbench.evaluation import results as eval_results
from workbench.experiments import group, ranking
from workbench.experiments.sweep import SweepError, SweepSpec
from workbench.jobs import queue, registry
from workbench.training import runs, worker
from workbench.training.config import TrainConfig, cpu_preset

ROWS = [{"instruction": f"Say {i}.", "input": "", "output": f"{i}"} for i in range(20)]
FAST = {"auto_evaluate": False, "max_steps": 4, "max_length": 64, "task_metric": "off", "stop_at": 0.0}


@pytest.fixture
def base() -> TrainConfig:
    repository.create_dataset("nums", "alpaca", ROWS)
    repository.make_split("nums", 1, SplitSpec(seed=1, validation_ratio=0.2))
    return cpu_preset(TrainConfig(dataset="nums", base_model="demo")).with_updates(stop_patience=0, **FAST)


def three_ranks(base) -> int:
    return group.create_experiment("ranks", base, SweepSpec.parse(["lora_r=4,8,16"]))


def test_a_sweep_queues_one_run_per_trial_and_runs_them_in_order(base, fake_launch):
    experiment_id = three_ranks(base)
    members = group.experiment_runs(experiment_id)
    assert [r["name"] for r in members] == ["ranks-01", "ranks-02", "ranks-03"]
    assert [r["trial"] for r in members] == [{"lora_r": 4}, {"lora_r": 8}, {"lora_r": 16}]
    assert [runs.run_config(r).lora_alpha for r in members] == [8, 16, 32]
    assert [job_id for job_id, _ in fake_launch] == [members[0]["job_id"]]  # one device: one at a time
    assert queue.waiting_for(registry.get(members[2]["job_id"])).startswith("waits for “Train ranks-01” (running)")
    assert group.list_experiments()[0] | {"runs": 3, "status": "running"} == group.list_experiments()[0]


def test_with_several_gpus_each_run_of_a_sweep_trains_on_a_gpu_of_its_own(base, fake_launch, monkeypatch):
    from workbench.jobs import devices

    monkeypatch.setattr(devices, "gpu_count", lambda: 2)
    first, second, third = group.experiment_runs(three_ranks(base))
    assert [job_id for job_id, _ in fake_launch] == [first["job_id"], second["job_id"]]
    assert [fake_launch.environments[r["job_id"]] for r in (first, second)] == [
        {"CUDA_VISIBLE_DEVICES": "0"},
        {"CUDA_VISIBLE_DEVICES": "1"},
    ]
    assert registry.args(registry.get(first["job_id"]))["processes"] == 1
    assert queue.waiting_for(registry.get(third["job_id"])).endswith("each of the 2 GPUs runs one job at a time")
    registry.finish(second["job_id"], "completed")
    assert queue.schedule() == [third["job_id"]]
    assert fake_launch.environments[third["job_id"]] == {"CUDA_VISIBLE_DEVICES": "1"}  # the GPU that was freed


def test_nothing_is_created_when_a_trial_is_invalid_or_the_name_is_taken(base, fake_launch):
    with pytest.raises(SweepError, match="learning_rate=5"):
        group.create_experiment("bad", base, SweepSpec.parse(["learning_rate=1e-3,5"]))
    assert runs.list_runs() == [] and group.list_experiments() == []
    three_ranks(base)
    with pytest.raises(group.ExperimentError, match="An experiment named 'ranks' exists"):
        three_ranks(base)
    assert len(runs.list_runs()) == 3


def test_a_killed_worker_leaves_the_rest_queued_and_the_next_starts(base, fake_launch):
    experiment_id = three_ranks(base)
    first, second, third = group.experiment_runs(experiment_id)
    fake_launch[0][1].kill()  # kill -9 of the first run's worker
    fake_launch[0][1].wait()
    started = queue.schedule()
    assert runs.get_run(first["id"])["status"] == "interrupted"
    assert started == [second["job_id"]] and runs.get_run(third["id"])["status"] == "queued"
    assert group.resume_experiment("ranks") == ["ranks-01: queued again"]
    assert runs.get_run(first["id"])["status"] == "queued"


def test_cancel_and_extend_act_on_the_whole_experiment(base, fake_launch):
    three_ranks(base)
    lines = group.cancel_experiment("ranks")
    assert lines == ["ranks-01: cancelling", "ranks-02: cancelled", "ranks-03: cancelled"]
    added = group.extend_experiment("ranks", SweepSpec.parse(["lora_r=8,32"]))  # 8 is there already
    assert [runs.get_run(run_id)["name"] for run_id in added] == ["ranks-04"]
    assert group.experiment_runs(group.get_experiment("ranks")["id"])[-1]["trial"] == {"lora_r": 32}
    with pytest.raises(group.ExperimentError, match="already in experiment 'ranks'"):
        group.extend_experiment("ranks", SweepSpec.parse(["lora_r=4"]))


def test_the_table_ranks_runs_by_the_held_out_score_and_marks_the_best(base):
    experiment_id = group.create_experiment("lr", base, SweepSpec.parse(["learning_rate=1e-5,2e-2"]), "eval_loss")
    jobs = []
    for run in group.experiment_runs(experiment_id):
        assert worker.run_training(run["id"], schedule_next=False) == "completed"
        jobs.append(eval_jobs.create_eval(run["id"], limit=2))
        assert eval_jobs.run_eval(jobs[-1], echo=False) == "completed"
    # The second run's evaluation took the base's answers and loss from the first's: same base, rows, prompts.
    assert [registry.result(registry.get(job))["base_from"] for job in jobs] == [None, "lr-01"]
    first, second = (eval_results.rows(r["id"]) for r in group.experiment_runs(experiment_id))
    assert [r["base_output"] for r in first] == [r["base_output"] for r in second]
    base_loss = [
        {r["metric"]: r["base"] for r in eval_results.results(r["id"])}["loss"]
        for r in group.experiment_runs(experiment_id)
    ]
    assert base_loss[0] == base_loss[1]
    experiment, rows = ranking.ranked("lr")
    assert experiment["metric"] == "eval_loss"
    assert [row["rank"] for row in rows] == [1, 2] and rows[0]["best"] and not rows[1]["best"]
    assert rows[0]["eval_loss"] <= rows[1]["eval_loss"]
    assert all(row["status"] == "completed" and row["exact_match"] is not None for row in rows)
    assert all(row["seconds"] and row["tokens_per_second"] for row in rows)
    _, by_exact = ranking.ranked("lr", "exact_match")
    assert by_exact[0]["exact_match"] >= by_exact[1]["exact_match"]
    assert ranking.best_run("lr")["run"] == rows[0]["run"]
    # With a finished run of the base, a new sweep says what its training will take at the speed measured.
    from workbench.experiments.estimate import estimate_lines, measured_speed, tokens_per_epoch

    more = SweepSpec.parse(["num_epochs=1,2"]).configs(base.with_updates(max_steps=-1))
    line = estimate_lines(base, more)[0]
    speed, measured_by = measured_speed("demo")
    assert measured_by == "lr-02"  # the newest finished run of the base
    assert measured_speed("demo", "grpo") is None  # another objective's speed prices nothing: SFT runs only here
    expected = tokens_per_epoch(base) * 3 / speed  # 1 + 2 epochs
    assert line.startswith("Time: about ") and f"{tokens_per_epoch(base):,} tokens an epoch" in line
    assert f"{expected / 60:.0f} min" in line or f"{expected:.0f} s" in line
    # A registry rebuilt from disk puts the finished runs back in their experiment, trials and sweep kept.
    from workbench import recovery

    report = recovery.rebuild()
    assert report.experiments == ["lr"] and "1 experiment(s) of their finished runs" in report.summary()
    rebuilt = group.get_experiment("lr")
    assert rebuilt["metric"] == "eval_loss" and group.spec_of(rebuilt) == SweepSpec.parse(["learning_rate=1e-5,2e-2"])
    members = group.experiment_runs(rebuilt["id"])
    assert [(r["name"], r["trial"]) for r in members] == [
        ("lr-01", {"learning_rate": 1e-5}),
        ("lr-02", {"learning_rate": 2e-2}),
    ]


def test_a_run_without_a_score_is_listed_last_without_a_rank(base, fake_launch):
    three_ranks(base)
    _, rows = ranking.ranked("ranks")
    assert [row["rank"] for row in rows] == [None, None, None] and ranking.best_run("ranks") is None
    assert [row["status"] for row in rows] == ["running", "queued", "queued"]


def test_the_cli_starts_a_sweep_and_shows_its_table(base, fake_launch, capsys):
    code = main(["train", "--dataset", "nums", "--base", "demo", "--sweep", "lora_r=4,8", "--experiment", "cli"])
    out = capsys.readouterr().out
    assert code == 0 and "Experiment cli: 2 runs, one after another, ranked by exact_match." in out
    assert "01  lora_r=4" in out and "02  lora_r=8" in out and "Time: no SFT run of demo has finished here yet" in out
    assert main(["experiments", "list"]) == 0 and "cli" in capsys.readouterr().out
    assert main(["experiments", "show", "cli"]) == 0
    table = capsys.readouterr().out
    assert "cli-01" in table and "lora_r" in table and "no run has a score by exact_match yet" in table
    assert main(["experiments", "show", "nope"]) == 2
    assert "No experiment 'nope'" in capsys.readouterr().err


def test_waiting_on_a_sweep_ends_after_the_evaluation_its_last_run_queues_when_it_completes(base, fake_launch):
    """The worker marks a run completed, then queues its evaluation: the wait must not end in between (it once
    printed a table without the run's score)."""
    import threading
    import time

    from workbench.cli.experiments import follow

    experiment_id = group.create_experiment("one", base.with_updates(auto_evaluate=True), SweepSpec.parse(["lora_r=8"]))
    (run,) = group.experiment_runs(experiment_id)
    evaluations: list[int] = []

    def worker_finishing_the_run():
        registry.finish(registry.latest(run["id"], "train")["id"], "completed")
        time.sleep(1.0)  # the follow-up comes a moment later
        evaluations.append(registry.create("evaluate", "Evaluate one-01", run_id=run["id"], args={}))
        time.sleep(0.5)
        registry.finish(evaluations[0], "completed")

    finishing = threading.Thread(target=worker_finishing_the_run)
    finishing.start()
    try:
        assert follow(experiment_id, poll=0.1) == 0
        evaluation = registry.latest(run["id"], "evaluate")  # as the wait ended
    finally:
        finishing.join()
    assert evaluation and evaluation["status"] == "completed"
