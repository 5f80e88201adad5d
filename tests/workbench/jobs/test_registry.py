"""The jobs table: one lifecycle for every kind of background work."""

import os
import subprocess
import sys

import pytest

from workbench import paths
from workbench.jobs import registry


def test_a_job_is_created_queued_with_its_args_progress_and_log(job):
    created = registry.create(
        "evaluate",
        "Evaluate x",
        run_id=7,
        args={"split": "all"},
        log=paths.home() / "l.log",
        progress={"done": 0, "total": 3, "unit": "rows"},
    )
    row = registry.get(created)
    assert (row["kind"], row["run_id"], row["status"], row["log"]) == ("evaluate", 7, "queued", "l.log")
    assert registry.args(row) == {"split": "all"}
    assert registry.progress(row) == {"phase": "queued", "done": 0, "total": 3, "unit": "rows"}
    assert registry.log_path(row) == paths.home() / "l.log"
    assert [j["id"] for j in registry.active()] == [job, created]
    assert registry.latest(7, "evaluate")["id"] == created and registry.latest(7, "train") is None
    with pytest.raises(registry.JobError, match="Unknown job kind 'sleep'"):
        registry.create("sleep", "Nap")
    with pytest.raises(registry.JobError, match="No job 999"):
        registry.get(999)


def test_running_progress_and_finish(job):
    registry.mark_running(job)
    row = registry.get(job)
    assert row["status"] == "running" and row["pid"] == os.getpid() and row["started"] and row["heartbeat"]
    registry.set_progress(job, {"phase": "download", "done": 40, "total": 100})
    assert registry.progress(registry.get(job))["done"] == 40
    registry.finish(job, "completed", result={"path": "/x"})
    row = registry.get(job)
    assert row["status"] == "completed" and row["finished"] and registry.result(row) == {"path": "/x"}
    assert registry.active() == []
    with pytest.raises(registry.JobError, match="'running' is not how a job ends"):
        registry.finish(job, "running")


def test_cancel_a_queued_job_at_once_and_ask_a_running_one(job):
    assert registry.cancel(job) == "cancelled"
    assert registry.get(job)["status"] == "cancelled" and registry.get(job)["finished"]
    with pytest.raises(registry.JobError, match="is cancelled: only a queued or running job can be cancelled"):
        registry.cancel(job)
    other = registry.create("prepare", "Prepare other")
    registry.mark_running(other)
    assert registry.stop_requested(other) is None
    assert registry.cancel(other, "keep_best") == "cancelling"
    assert registry.stop_requested(other) == "keep_best"


def test_requeue_keeps_the_job_and_merges_its_args(job):
    registry.mark_running(job)
    registry.finish(job, "failed", error="boom")
    registry.requeue(job, {"resume": True})
    row = registry.get(job)
    assert (row["status"], row["error"], row["pid"], row["finished"]) == ("queued", None, None, None)
    assert registry.args(row) == {"name": "tiny", "resume": True} and row["started"]


def test_a_job_whose_worker_died_is_swept_as_interrupted_with_the_way_out(job):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    registry.update(job, {"status": "running", "pid": dead.pid})
    unrelated = registry.create("train", "Train x", run_id=1)
    sleeper = subprocess.Popen(["sleep", "30"])  # alive, but not a workbench process
    registry.update(unrelated, {"status": "cancelling", "pid": sleeper.pid})
    mine = registry.create("evaluate", "Evaluate y", run_id=1)
    registry.mark_running(mine)  # this process is its worker (the CLI in the foreground)
    try:
        assert sorted(registry.sweep_lost()) == sorted([job, unrelated])
    finally:
        sleeper.kill()
        sleeper.wait()
    assert "Prepare the model again" in registry.get(job)["error"] and f"pid {dead.pid}" in registry.get(job)["error"]
    assert "Resume the run" in registry.get(unrelated)["error"]
    assert registry.get(mine)["status"] == "running"
    assert registry.sweep_lost() == []


def test_log_lines_are_this_jobs_own(job):
    log = paths.home() / "shared.log"
    log.write_text(
        f"=== t0 starting job 99: Other ===\nold line\n=== t1 starting job {job}: Prepare tiny ===\nmine 1\nmine 2\n"
    )
    registry.update(job, {"log": "shared.log"})
    assert registry.log_lines(registry.get(job)) == ["mine 1", "mine 2"]
    registry.update(job, {"log": None})
    assert registry.log_lines(registry.get(job)) == []
