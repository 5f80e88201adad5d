"""The real worker as a detached process: cancel it, kill -9 it, see it marked interrupted, resume it."""

import os
import signal
import time

from workbench import paths
from workbench.data import repository
from workbench.training import runs
from workbench.training.config import TrainConfig

ROWS = [
    {"instruction": f"Repite: {w}", "input": "", "output": w}
    for w in ("uno", "dos", "tres", "cuatro", "cinco", "seis", "siete", "ocho", "nueve", "diez", "once", "doce")
]


def _config(tiny_demo_run: dict, **kw) -> TrainConfig:
    repository.create_dataset("words", "alpaca", ROWS)
    return TrainConfig(**{**tiny_demo_run, "max_steps": 400, "save_steps": 4, **kw})


def _wait(condition, timeout=120, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_cancel_a_running_worker_keeps_its_adapter(tiny_demo_run):
    run_id = runs.start_run(_config(tiny_demo_run), name="to-cancel")
    _wait(lambda: (runs.run_progress(runs.get_run(run_id)).get("step") or 0) >= 2, what="training steps")
    assert runs.cancel_run(run_id) == "cancelling"
    final = runs.wait_for(run_id, poll=0.3, timeout=120)
    assert final["status"] == "cancelled"
    assert runs.run_progress(final)["step"] < 400
    assert (paths.home() / final["adapter_dir"] / "adapter_model.safetensors").is_file()


def test_kill_9_marks_the_run_interrupted_and_resume_continues_from_the_checkpoint(tiny_demo_run):
    run_id = runs.start_run(_config(tiny_demo_run, max_steps=40), name="killed")
    _wait(lambda: runs.latest_checkpoint("killed") is not None, what="a checkpoint")
    pid = runs.get_run(run_id)["pid"]
    os.kill(pid, signal.SIGKILL)
    _wait(
        lambda: runs.mark_interrupted() == [run_id] or runs.get_run(run_id)["status"] == "interrupted",
        what="interrupted status",
    )
    assert runs.get_run(run_id)["status"] == "interrupted"
    checkpoint_step = int(runs.latest_checkpoint("killed").name.split("-")[1])

    runs.resume_run(run_id)
    final = runs.wait_for(run_id, poll=0.3, timeout=180)
    assert final["status"] == "completed", final["error"]
    assert runs.run_progress(final)["step"] == 40
    steps = [m["step"] for m in runs.run_metrics(run_id, ("loss",))]
    assert steps == sorted(set(steps))  # no step logged twice across the kill
    assert checkpoint_step in steps and steps[-1] == 40
    assert "--resume" in runs.log_tail("killed", 400) or "resum" in runs.log_tail("killed", 400).lower()
