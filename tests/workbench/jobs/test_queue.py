"""The queue: one heavy job at a time; preparation at once; what a queued job waits for."""

import sys

from workbench.jobs import queue, registry


def test_one_heavy_job_at_a_time_oldest_first(fake_launch):
    train = registry.create("train", "Train a", run_id=1)
    predict = registry.create("predict", "Predict a", run_id=1)
    export = registry.create("export", "Export a", run_id=1)
    assert queue.schedule() == [train]
    assert queue.schedule() == []  # still busy
    assert queue.waiting_for(registry.get(predict)) == (
        "waits for “Train a” (running) to finish: one job uses the device at a time"
    )
    registry.finish(train, "completed")
    assert queue.schedule() == [predict]
    assert [job_id for job_id, _ in fake_launch] == [train, predict]
    assert registry.get(export)["status"] == "queued"
    assert queue.describe(registry.get(export)).startswith("Export a — queued: waits for “Predict a” (running)")


def test_a_waiting_evaluation_starts_before_waiting_training_runs(fake_launch):
    """A sweep queues its runs at once; each run's evaluation, queued when it ends, goes before the next run, so
    that the experiment's table fills in run by run."""
    first = registry.create("train", "Train sweep-01", run_id=1)
    second = registry.create("train", "Train sweep-02", run_id=2)
    assert queue.schedule() == [first]
    evaluate = registry.create("evaluate", "Evaluate sweep-01", run_id=1)
    registry.finish(first, "completed")
    assert queue.schedule() == [evaluate]
    registry.finish(evaluate, "completed")
    assert queue.schedule() == [second]


def test_with_several_gpus_a_job_gets_a_free_gpu_and_a_run_across_all_waits_for_all(fake_launch, monkeypatch):
    from workbench.jobs import devices

    monkeypatch.setattr(devices, "gpu_count", lambda: 2)
    evaluate = registry.create("evaluate", "Evaluate a", run_id=1)
    wide = registry.create("train", "Train wide", run_id=2, args={"processes": 2})
    single = registry.create("train", "Train single", run_id=3, args={"processes": 1})
    assert queue.schedule() == [evaluate]  # the wide run waits for both GPUs, and holds back the runs after it
    assert fake_launch.environments[evaluate] == {"CUDA_VISIBLE_DEVICES": "0"}
    assert registry.args(registry.get(evaluate))["gpus"] == "0"
    registry.finish(evaluate, "completed")
    assert queue.schedule() == [wide]
    assert fake_launch.environments[wide] == {"CUDA_VISIBLE_DEVICES": "0,1"}
    assert queue.waiting_for(registry.get(single)) == (
        "waits for “Train wide” (running) to finish: each of the 2 GPUs runs one job at a time"
    )
    assert queue.schedule() == []
    # One GPU or none: one device, as always; nothing is pinned.
    monkeypatch.setattr(devices, "gpu_count", lambda: 0)
    registry.finish(wide, "completed")
    assert queue.schedule() == [single] and fake_launch.environments[single] == {}


def test_preparation_does_not_wait_for_the_device(fake_launch):
    registry.create("train", "Train a", run_id=1)
    prepare = registry.create("prepare", "Prepare tiny", args={"name": "tiny"})
    started = queue.schedule()
    assert prepare in started and len(started) == 2
    assert queue.waiting_for(registry.get(prepare)) is None  # running now


def test_a_launched_job_runs_under_the_jobs_worker_with_its_pid(fake_launch):
    job = registry.create("publish", "Publish a", run_id=1)
    queue.schedule()
    row = registry.get(job)
    assert row["status"] == "running" and row["pid"] == fake_launch[0][1].pid
    assert registry.progress(row)["phase"] == "starting"
    assert queue.worker_command(row) == [sys.executable, "-m", "workbench.jobs.worker", str(job)]


def test_describe_says_progress_and_time_left(job):
    registry.mark_running(job)
    registry.set_progress(job, {"phase": "training", "done": 40, "total": 100, "unit": "steps", "eta_seconds": 150})
    assert queue.describe(registry.get(job)) == "Prepare tiny — running, 40/100 steps, about 2 min left"
    registry.set_progress(job, {"phase": "download"})
    assert queue.describe(registry.get(job)) == "Prepare tiny — running, download"
