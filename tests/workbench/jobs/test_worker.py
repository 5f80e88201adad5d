"""The jobs worker: one entry point that runs any kind and records how it ended."""

import pytest

from workbench.errors import WorkbenchError
from workbench.jobs import registry
from workbench.jobs import worker as jobs_worker


def test_a_handler_that_works_completes_the_job_with_its_result(job):
    seen = []

    def handler(row):
        seen.append(row["status"])
        return "completed", {"path": "/models/tiny"}

    assert jobs_worker.run(job, handler, schedule_next=False) == "completed"
    row = registry.get(job)
    assert seen == ["running"] and row["status"] == "completed" and registry.result(row) == {"path": "/models/tiny"}
    assert registry.progress(row)["phase"] == "done"


def test_a_failure_is_recorded_with_the_reason_and_the_traceback(job, capsys):
    def handler(row):
        raise WorkbenchError("The wheel is not there: check the path.")

    assert jobs_worker.run(job, handler, schedule_next=False) == "failed"
    row = registry.get(job)
    assert row["status"] == "failed" and row["error"].startswith("The wheel is not there: check the path.\n\n")
    assert "Traceback" in row["error"] and registry.progress(row)["phase"] == "failed"
    assert "Prepare tiny failed: The wheel is not there" in capsys.readouterr().err


def test_ctrl_c_marks_the_job_interrupted_and_goes_on_up(job):
    def handler(row):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        jobs_worker.run(job, handler, schedule_next=False)
    assert registry.get(job)["status"] == "interrupted"


def test_a_job_cancelled_before_its_worker_started_does_nothing(job):
    registry.update(job, {"status": "cancelling"})
    assert jobs_worker.run(job, lambda row: pytest.fail("the handler ran"), schedule_next=False) == "cancelled"
    assert registry.get(job)["status"] == "cancelled"
    assert jobs_worker.run(job, lambda row: pytest.fail("the handler ran"), schedule_next=False) == "cancelled"


def test_follow_ups_run_after_a_completed_job_and_never_change_it(job, monkeypatch):
    calls = []
    monkeypatch.setitem(jobs_worker.FOLLOW_UPS, "prepare", "builtins:print")
    monkeypatch.setattr(jobs_worker, "_resolve", lambda target: lambda row: calls.append(row["status"]) or 1 / 0)
    monkeypatch.setattr(jobs_worker, "_schedule_next", lambda: calls.append("schedule"))
    assert jobs_worker.run(job, lambda row: ("completed", {})) == "completed"
    assert calls == ["completed", "schedule"] and registry.get(job)["status"] == "completed"


def test_only_process_zero_writes(job, monkeypatch):
    monkeypatch.setenv("RANK", "1")
    assert jobs_worker.run(job, lambda row: ("completed", {}), schedule_next=False) == "completed"
    assert registry.get(job)["status"] == "queued"


def test_every_kind_is_declared_once_with_a_handler_and_its_follow_up():
    from workbench.jobs import kinds, queue

    assert set(jobs_worker.HANDLERS) == set(registry.KINDS) == set(kinds.BY_NAME)
    assert len(kinds.NAMES) == len(kinds.DECLARED)
    for kind in registry.KINDS:
        assert callable(jobs_worker.handler_for(kind))
        assert kinds.recovery(kind).endswith(".")
    for target in jobs_worker.FOLLOW_UPS.values():
        assert callable(jobs_worker._resolve(target))
    assert "prepare" not in queue.HEAVY and "train" in queue.HEAVY
