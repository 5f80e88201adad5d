"""Run lifecycle without training: queue, cancel, resume, delete, interrupted detection (through the run's job)."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from workbench import paths, store
from workbench.data import repository
from workbench.jobs import queue, registry
from workbench.processes import remember_child
from workbench.training import runs
from workbench.training.config import ConfigError, TrainConfig

ROWS = [{"instruction": f"q{i}", "input": "", "output": f"a{i}"} for i in range(6)]


@pytest.fixture
def dataset():
    repository.create_dataset("tiny", "alpaca", ROWS)
    return "tiny"


@pytest.fixture
def fake_launch(monkeypatch):
    """Launch a process that looks like a worker (its command line names the module) but only sleeps."""
    started = []

    def launch(command, log, header, env=None):
        job = registry.get(int(command[-1]))
        process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", *command[1:]])
        remember_child(process)
        started.append((job["run_id"], bool(registry.args(job).get("resume")), process))
        return process.pid

    monkeypatch.setattr(queue, "launch_detached", launch)
    yield started
    for _, _, process in started:
        process.kill()
        process.wait()


def _config(dataset, **kw):
    return TrainConfig(dataset=dataset, **{"base_model": "demo", **kw})


def set_job(run_id: int, **fields) -> None:
    """Change the run's training job as its worker would."""
    registry.update(runs.get_run(run_id)["job_id"], fields)


def test_create_run_queues_with_the_resolved_revision(dataset):
    run_id = runs.create_run(_config(dataset), name="first")
    run = runs.get_run(run_id)
    assert run["status"] == "queued" and run["name"] == "first"
    assert runs.run_config(run).dataset_revision == 1
    assert run["dataset_revision_id"] == repository.get_revision(dataset).id
    assert runs.get_run(runs.create_run(_config(dataset), name="first"))["name"] == "first-2"


def test_invalid_settings_are_all_reported_at_once(dataset):
    with pytest.raises(ConfigError) as error:
        runs.create_run(_config(dataset, lora_r=0, learning_rate=0, max_length=4))
    assert [p.split(":")[0] for p in error.value.problems] == ["lora_r", "learning_rate", "max_length"]
    assert runs.list_runs() == []


def test_a_dataset_with_row_errors_is_refused_with_the_rows(dataset):
    repository.save_rows(dataset, [*ROWS, {"instruction": "", "input": "", "output": "x"}], base_revision=1)
    with pytest.raises(runs.RunError, match="(?s)1 row error.*tiny.jsonl:7: instruction: empty"):
        runs.create_run(_config(dataset))


def test_one_job_at_a_time_and_the_queue_starts_the_next(dataset, fake_launch):
    first = runs.start_run(_config(dataset))
    second = runs.start_run(_config(dataset))
    assert [s[0] for s in fake_launch] == [first]
    assert runs.get_run(first)["status"] == "running" and runs.get_run(second)["status"] == "queued"
    set_job(first, status="completed")
    assert runs.schedule() == [runs.get_run(second)["job_id"]]
    assert runs.get_run(second)["status"] == "running"
    assert runs.get_run(second)["pid"] == fake_launch[1][2].pid


def test_a_killed_worker_is_marked_interrupted(dataset, fake_launch):
    run_id = runs.start_run(_config(dataset))
    assert runs.mark_interrupted() == []
    process = fake_launch[0][2]
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert runs.mark_interrupted() == [run_id]
    run = runs.get_run(run_id)
    assert run["status"] == "interrupted"
    assert f"pid {process.pid}" in run["error"] and "Resume the run" in run["error"]


def test_a_pid_reused_by_another_program_is_not_taken_for_the_worker(dataset):
    run_id = runs.create_run(_config(dataset))
    other = subprocess.Popen(["sleep", "30"])  # alive, but not a workbench process
    try:
        set_job(run_id, status="running", pid=other.pid)
        assert runs.mark_interrupted() == [run_id]
    finally:
        other.kill()
        other.wait()


def test_cancel_a_queued_run_at_once_and_ask_a_running_one_to_stop(dataset, fake_launch):
    running = runs.start_run(_config(dataset))
    queued = runs.start_run(_config(dataset))
    assert runs.cancel_run(queued) == "cancelled"
    assert runs.cancel_run(running, keep_best=True) == "cancelling"
    run = runs.get_run(running)
    assert run["status"] == "cancelling" and run["stop_mode"] == "keep_best"
    set_job(running, status="completed")
    with pytest.raises(runs.RunError, match="is completed: only queued or running"):
        runs.cancel_run(running)


def test_resume_continues_from_the_last_complete_checkpoint_or_the_start(dataset, fake_launch):
    run_id = runs.create_run(_config(dataset), name="broken")
    set_job(run_id, status="interrupted")
    assert runs.resume_run(run_id) is None  # killed before its first checkpoint: it starts over
    assert fake_launch[-1][:2] == (run_id, False)
    set_job(run_id, status="interrupted")
    for step in (4, 12, 16):
        (paths.checkpoints_dir("broken") / f"checkpoint-{step}").mkdir(parents=True)
    for step in (4, 12):  # checkpoint-16 was being written when the worker died: no trainer_state.json
        (paths.checkpoints_dir("broken") / f"checkpoint-{step}" / "trainer_state.json").write_text("{}")
    assert runs.latest_checkpoint("broken").name == "checkpoint-12"
    assert runs.resume_run(run_id).name == "checkpoint-12"
    assert fake_launch[-1][:2] == (run_id, True)
    assert runs.get_run(run_id)["status"] == "running"


def test_worker_command_uses_accelerate_with_several_gpus():
    job = {"id": 3, "args_json": json.dumps({"processes": 1})}
    assert queue.worker_command(job) == [sys.executable, "-m", "workbench.jobs.worker", "3"]
    command = queue.worker_command({**job, "args_json": json.dumps({"processes": 4})})
    assert command[:6] == [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "4"]
    assert command[-3:] == ["--module", "workbench.jobs.worker", "3"]


def test_delete_removes_rows_and_folders_but_not_a_running_run(dataset, fake_launch):
    run_id = runs.start_run(_config(dataset), name="gone")
    with pytest.raises(runs.RunError, match="cancel it before deleting"):
        runs.delete_run(run_id)
    set_job(run_id, status="cancelled")
    store.open_db()["metrics"].insert({"run_id": run_id, "step": 1, "name": "loss", "value": 1.0})
    (paths.adapters_dir() / "gone").mkdir()
    runs.delete_run(run_id)
    assert runs.list_runs() == []
    assert store.open_db()["metrics"].count == 0 and store.open_db()["jobs"].count == 0
    assert not (paths.adapters_dir() / "gone").exists() and not (paths.runs_dir() / "gone").exists()


def test_launch_starts_a_detached_process_with_its_log(dataset, monkeypatch):
    monkeypatch.setattr(
        queue,
        "worker_command",
        lambda job: [
            sys.executable,
            "-c",
            "import os, sys; print('worker for', sys.argv[1], os.environ['WORKBENCH_HOME'])",
            str(job["run_id"]),
        ],
    )
    run_id = runs.start_run(_config(dataset), name="logged")
    pid = runs.get_run(run_id)["pid"]
    assert os.getsid(pid) == pid  # its own session: closing the app does not stop it
    deadline = time.monotonic() + 20
    while "worker for" not in runs.log_tail("logged") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert f"worker for {run_id} {paths.home()}" in runs.log_tail("logged")


def test_final_metrics_and_progress(dataset):
    run_id = runs.create_run(_config(dataset))
    db = store.open_db()
    db["metrics"].insert_all([{"run_id": run_id, "step": s, "name": "loss", "value": 3.0 - s} for s in (1, 2)])
    registry.set_progress(runs.get_run(run_id)["job_id"], {"step": 2, "max_steps": 10})
    assert runs.final_metrics(run_id) == {"loss": 1.0}
    assert runs.run_progress(runs.get_run(run_id))["max_steps"] == 10


def test_runs_using_base_names_the_active_runs_on_a_catalogue_model(dataset, fake_launch):
    running = runs.start_run(_config(dataset, base_model="smollm2-135m-instruct"), name="on-smol")
    runs.start_run(_config(dataset, base_model=str(paths.models_dir() / "smollm2-135m-instruct")), name="by-folder")
    runs.create_run(_config(dataset), name="on-demo")
    assert runs.runs_using_base("smollm2-135m-instruct") == ["on-smol", "by-folder"]
    set_job(running, status="completed")
    assert runs.runs_using_base("smollm2-135m-instruct") == ["by-folder"]


def test_a_run_with_a_job_in_progress_is_not_deleted(dataset):
    run_id = runs.create_run(_config(dataset), name="scored")
    set_job(run_id, status="completed")
    evaluation = registry.create("evaluate", "Evaluate scored", run_id=run_id)
    registry.mark_running(evaluation)  # this process plays the evaluation's worker
    with pytest.raises(runs.RunError, match=r"has a job in progress \(Evaluate scored, running\)"):
        runs.delete_run(run_id)
    assert runs.get_run(run_id)["name"] == "scored"
    registry.finish(evaluation, "completed")
    runs.delete_run(run_id)
    assert runs.list_runs() == []


def test_an_adapter_saved_under_its_own_name_registers_under_that_name(tmp_path):
    """A benchmark saves plain TRL's adapter to adapters/<name>/ and then registers it: the name stays; another
    folder already there under that name makes it name-2."""
    repository.create_dataset(
        "tiny", "alpaca", [{"instruction": f"q{i}", "input": "", "output": "a"} for i in range(4)]
    )
    revision = repository.get_revision("tiny").id
    own = paths.adapter_dir("plain-trl")
    own.mkdir(parents=True)
    run_id = runs.register_finished_run("plain-trl", TrainConfig(dataset="tiny"), revision, own)
    assert runs.get_run(run_id)["name"] == "plain-trl"
    elsewhere = tmp_path / "other-adapter"
    elsewhere.mkdir()
    paths.adapter_dir("taken").mkdir(parents=True)
    assert (
        runs.get_run(runs.register_finished_run("taken", TrainConfig(dataset="tiny"), revision, elsewhere))["name"]
        == "taken-2"
    )
