"""DatabaseCallback: metrics and progress in the registry, cancel requests, keep-best snapshots."""

import json
from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import load_file
from transformers import TrainerCallback, TrainerControl

from workbench import paths, store
from workbench.data import repository
from workbench.data.split import SplitSpec
from workbench.jobs import registry
from workbench.training import callback as callback_module
from workbench.training import runs, worker
from workbench.training.callback import DatabaseCallback, lora_state
from workbench.training.config import TrainConfig, cpu_preset

ROWS = [{"instruction": f"Repite {i}.", "input": "", "output": f"Repito {i}: uno, dos, tres."} for i in range(20)]
FAST = {
    "auto_evaluate": False,
    "max_steps": 40,
    "learning_rate": 2e-2,
    "lr_scheduler": "constant",
    "warmup": 0.0,
    "max_length": 64,
    "per_device_batch_size": 4,
    "eval_steps": 2,
    "save_steps": 0,
    "logging_steps": 1,
}


def make_run(**settings) -> int:
    repository.create_dataset("rep", "alpaca", ROWS)
    repository.make_split("rep", 1, SplitSpec(seed=5, validation_ratio=0.2))
    config = cpu_preset(TrainConfig(dataset="rep", base_model="demo")).with_updates(**{**FAST, **settings})
    return runs.create_run(config, "run")


class AppCancels(TrainerCallback):
    """Plays the app: asks the run to stop after `at_step`; records the LoRA weights it sees along the way."""

    def __init__(self, run_id, at_step, mode):
        self.run_id, self.at_step, self.mode = run_id, at_step, mode
        self.evaluations = []  # (eval_loss, LoRA weights at that evaluation)
        self.final_weights = None

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.at_step:
            registry.cancel(registry.latest(self.run_id, "train")["id"], self.mode)

    def on_evaluate(self, args, state, control, metrics=None, model=None, **kwargs):
        self.evaluations.append((metrics["eval_loss"], lora_state(model)))

    def on_train_end(self, args, state, control, model=None, **kwargs):
        self.final_weights = lora_state(model)


@pytest.fixture
def check_every_step(monkeypatch):
    monkeypatch.setattr(callback_module, "CANCEL_CHECK_SECONDS", 0.0)


def test_cancelling_stops_training_and_saves_the_adapter(check_every_step):
    run_id = make_run()
    app = AppCancels(run_id, at_step=5, mode="stop")
    assert worker.run_training(run_id, extra_callbacks=[app]) == "cancelled"

    run = runs.get_run(run_id)
    assert run["status"] == "cancelled" and run["finished"] and run["error"] is None
    progress = json.loads(run["progress_json"])
    assert progress["step"] == 6 < progress["max_steps"] == 40  # stopped at the first check after the request
    adapter = paths.home() / run["adapter_dir"]
    saved = load_file(adapter / "adapter_model.safetensors")
    assert app.final_weights and saved.keys() == app.final_weights.keys()
    assert all(torch.equal(saved[k], v) for k, v in app.final_weights.items())  # saved as it stood
    record = json.loads((adapter / "workbench_run.json").read_text())
    assert record["status"] == "cancelled" and record["stop_mode"] == "stop"
    assert record["restored_best_step"] is None and record["final_metrics"]["steps"] == 6


def test_keep_best_restores_the_weights_of_the_best_evaluation(check_every_step):
    run_id = make_run(task_metric="off", stop_at=0.0, stop_patience=0)  # no task checks: the best eval loss
    app = AppCancels(run_id, at_step=6, mode="keep_best")
    assert worker.run_training(run_id, extra_callbacks=[app]) == "cancelled"

    assert len(app.evaluations) == 3  # steps 2, 4, 6; the stop comes at step 7, between evaluations
    best_loss, best_weights = min(app.evaluations, key=lambda e: e[0])
    run = runs.get_run(run_id)
    saved = load_file(paths.home() / run["adapter_dir"] / "adapter_model.safetensors")
    assert saved and saved.keys() == best_weights.keys()
    assert all(torch.equal(saved[k], best_weights[k]) for k in saved)
    assert not all(torch.equal(saved[k], app.final_weights[k]) for k in saved)  # step 7 differs
    record = json.loads((paths.home() / run["adapter_dir"] / "workbench_run.json").read_text())
    assert record["stop_mode"] == "keep_best" and record["final_metrics"]["best_eval_loss"] == best_loss
    assert record["restored_best_step"] in (2, 4, 6)


# ------------------------------------------------------------------------------ unit, with a fake trainer


def fake_state(step, tokens, max_steps=10, main=True):
    return SimpleNamespace(
        global_step=step,
        max_steps=max_steps,
        epoch=step / 5,
        num_train_epochs=2,
        num_input_tokens_seen=tokens,
        is_world_process_zero=main,
    )


def queued_run() -> int:
    """A run whose training job is running (no dataset: the callback needs none)."""
    run_id = store.open_db()["runs"].insert({"name": "unit", "created": store.now()}).last_pk
    registry.mark_running(registry.create("train", "Train unit", run_id=run_id))
    return run_id


def job_progress(run_id: int) -> dict:
    return registry.progress(registry.latest(run_id, "train"))


def test_logs_become_metric_rows_with_throughput_and_progress(monkeypatch):
    run_id = queued_run()
    clock = [100.0]
    monkeypatch.setattr(callback_module.time, "monotonic", lambda: clock[0])
    callback = DatabaseCallback(run_id)
    args, control = SimpleNamespace(device="cpu"), TrainerControl()
    callback.on_train_begin(args, fake_state(0, 0), control)
    clock[0] += 2.0
    callback.on_step_end(args, fake_state(1, 1000), control)  # 2 s of training for 1000 tokens
    callback.on_log(
        args,
        fake_state(1, 1000),
        control,
        logs={"loss": 2.5, "learning_rate": 1e-3, "grad_norm": 0.7, "num_tokens": 1000.0},
    )
    callback.on_log(args, fake_state(1, 1000), control, logs={"eval_loss": 2.9, "eval_runtime": 0.1})

    rows = {r["name"]: r for r in store.open_db()["metrics"].rows_where("run_id = ?", [run_id])}
    expected = {"loss", "learning_rate", "grad_norm", "tokens_per_second", "eval_loss"}
    if torch.cuda.is_available():
        expected.add("gpu_memory_gb")
    assert set(rows) == expected
    assert rows["tokens_per_second"]["value"] == pytest.approx(500.0)
    assert rows["loss"]["step"] == 1 and rows["loss"]["epoch"] == pytest.approx(0.2)
    progress = job_progress(run_id)
    assert progress["phase"] == "training" and progress["step"] == 1 and progress["max_steps"] == 10
    assert progress["tokens_seen"] == 1000 and progress["num_epochs"] == 2
    assert progress["eta_seconds"] == pytest.approx(18.0)  # 2 s a step, 9 steps left
    assert progress["seconds_per_step"] == pytest.approx(2.0)  # what a cancel says it waits for

    callback.on_prediction_step(args, fake_state(1, 1000), control)
    assert job_progress(run_id)["phase"] == "evaluating"
    callback.on_evaluate(args, fake_state(1, 1000), control, metrics={"eval_loss": 2.9})
    callback.on_log(args, fake_state(1, 1000), control, logs={"eval_loss": 2.9})
    assert job_progress(run_id)["phase"] == "training"


def test_the_cancel_request_is_read_at_most_once_a_second(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(callback_module.time, "monotonic", lambda: clock[0])
    run_id = queued_run()
    callback = DatabaseCallback(run_id)
    args, control = SimpleNamespace(device="cpu"), TrainerControl()
    callback.on_train_begin(args, fake_state(0, 0), control)
    callback.on_step_end(args, fake_state(1, 10), control)  # checks now: still running
    registry.cancel(registry.latest(run_id, "train")["id"], "keep_best")
    clock[0] += 0.9
    callback.on_step_end(args, fake_state(2, 20), control)  # too soon to look again
    assert not control.should_training_stop and not callback.stop_requested
    clock[0] += 0.2
    callback.on_step_end(args, fake_state(3, 30), control)
    assert control.should_training_stop and callback.stop_requested and callback.stop_mode == "keep_best"


def test_other_processes_write_nothing():
    run_id = queued_run()
    callback = DatabaseCallback(run_id)
    args, control = SimpleNamespace(device="cpu"), TrainerControl()
    callback.on_train_begin(args, fake_state(0, 0, main=False), control)
    callback.on_log(args, fake_state(1, 10, main=False), control, logs={"loss": 1.0})
    assert store.open_db()["metrics"].count == 0
    assert job_progress(run_id) == {"phase": "queued"}
