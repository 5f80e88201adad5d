"""The training worker end to end on CPU with the tiny demo model: each run takes a few seconds."""

import json
import os
import subprocess
import sys

import pytest
from safetensors.torch import load_file
from transformers import TrainerCallback

from workbench import paths, store
from workbench.data import repository
from workbench.data.split import SplitSpec
from workbench.jobs import registry
from workbench.jobs import worker as jobs_worker
from workbench.training import runs, worker
from workbench.training.config import TrainConfig, cpu_preset

ROWS = [
    {"instruction": f"Di el número {i}.", "input": "", "output": f"El número es {i}. Uno, dos, tres."}
    for i in range(24)
]
FAST = {
    "auto_evaluate": False,
    "max_steps": 12,
    "learning_rate": 2e-2,
    "lr_scheduler": "constant",
    "warmup": 0.0,
    "max_length": 64,
    "per_device_batch_size": 4,
    "eval_steps": 4,
    "save_steps": 0,
    "logging_steps": 1,
    # No answer checks unless a test is about them (tests/workbench/training/test_task_check.py): suite time.
    "task_metric": "off",
    "stop_at": 0.0,
    "stop_patience": 0,
}


def make_run(name="run", rows=ROWS, split=True, checked=True, **settings) -> int:
    """A queued run, on a dataset with a validation split. Unchecked: registered as it is, for the worker's
    own checks (`runs.create_run` refuses what they catch)."""
    if not repository.dataset_names():
        repository.create_dataset("nums", "alpaca", rows)
        if split:
            repository.make_split("nums", 1, SplitSpec(seed=3, validation_ratio=0.2))
    config = cpu_preset(TrainConfig(dataset="nums", base_model="demo")).with_updates(**{**FAST, **settings})
    if checked:
        return runs.create_run(config, name)
    db = store.open_db()
    run_id = (
        db["runs"]
        .insert(
            {
                "name": name,
                "config_json": config.to_json(),
                "base_model": config.base_model,
                "dataset_revision_id": repository.get_revision("nums").id,
                "created": store.now(),
            }
        )
        .last_pk
    )
    registry.create("train", f"Train {name}", run_id=run_id)
    return run_id


def get_run(run_id: int) -> dict:
    return runs.get_run(run_id)


def metric_values(run_id: int, name: str) -> list[tuple[int, float]]:
    return [
        (r["step"], r["value"])
        for r in store.open_db().query(
            "select step, value from metrics where run_id = ? and name = ? order by step, rowid", [run_id, name]
        )
    ]


def test_a_run_trains_logs_metrics_and_saves_the_adapter():
    run_id = make_run(max_steps=24)
    assert worker.run_training(run_id) == "completed"

    run = get_run(run_id)
    assert run["status"] == "completed" and run["error"] is None
    assert run["pid"] == os.getpid() and run["started"] and run["finished"]
    progress = json.loads(run["progress_json"])
    assert progress["phase"] == "done" and progress["step"] == progress["max_steps"] == 24
    assert progress["tokens_seen"] > 0

    names = {r["name"] for r in store.open_db().query("select distinct name from metrics where run_id = ?", [run_id])}
    assert {"loss", "eval_loss", "learning_rate", "grad_norm", "tokens_per_second"} <= names
    losses = [value for _, value in metric_values(run_id, "loss")]
    assert len(losses) == 24
    assert sum(losses[-4:]) / 4 < losses[0] - 0.3, losses  # it learns
    assert [step for step, _ in metric_values(run_id, "eval_loss")] == [4, 8, 12, 16, 20, 24]
    assert all(value > 0 for _, value in metric_values(run_id, "tokens_per_second"))

    adapter = paths.home() / run["adapter_dir"]
    assert run["adapter_dir"] == "adapters/run" and adapter.is_dir()
    for file in (
        "adapter_model.safetensors",
        "adapter_config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "chat_template.jinja",
        "workbench_run.json",
        "loss_history.json",
    ):
        assert (adapter / file).is_file(), file
    record = json.loads((adapter / "workbench_run.json").read_text())
    revision = repository.get_revision("nums")
    assert record["dataset_revision_sha256"] == revision.sha256 and record["dataset_revision"] == 1
    assert (record["train_rows"], record["validation_rows"]) == (19, 5)
    assert record["config"]["max_steps"] == 24 and record["base_model"] == "demo"
    assert record["final_metrics"]["steps"] == 24 and record["final_metrics"]["tokens_per_second"] > 0
    assert record["final_metrics"]["loss"] == losses[-1]
    history = json.loads((adapter / "loss_history.json").read_text())
    assert [h["value"] for h in history if h["name"] == "loss"] == losses
    assert not list(paths.adapters_dir().glob(".*"))  # no temporary folder left behind


def test_a_missing_base_model_folder_fails_with_a_plain_reason(tmp_path):
    run_id = make_run(base_model=str(tmp_path / "no-such-model"))
    assert worker.run_training(run_id) == "failed"
    run = get_run(run_id)
    assert run["status"] == "failed" and run["finished"]
    reason, _, tail = run["error"].partition("\n\n")
    assert reason.startswith(f"Base model folder {tmp_path / 'no-such-model'} does not exist.")
    assert "Traceback" in tail or "ModelLoadError" in tail
    assert json.loads(run["progress_json"])["phase"] == "failed"


def test_a_one_row_dataset_fails_as_too_small():
    run_id = make_run(rows=ROWS[:1], split=False, checked=False)
    assert worker.run_training(run_id) == "failed"
    assert "too small" in get_run(run_id)["error"].split("\n\n")[0]


def test_qlora_without_cuda_fails_with_the_way_out():
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present")
    run_id = make_run(method="qlora", precision="auto")
    assert worker.run_training(run_id) == "failed"
    assert get_run(run_id)["error"].startswith("QLoRA needs a CUDA GPU")


class Crash(TrainerCallback):
    def __init__(self, at_step):
        self.at_step = at_step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.at_step:
            raise RuntimeError("simulated crash")


class StartStep(TrainerCallback):
    def on_train_begin(self, args, state, control, **kwargs):
        self.step = state.global_step


def test_an_interrupted_run_resumes_from_its_last_checkpoint():
    run_id = make_run(max_steps=12, save_steps=4)
    assert worker.run_training(run_id, extra_callbacks=[Crash(at_step=6)]) == "failed"
    run = get_run(run_id)
    assert run["error"].startswith("RuntimeError: simulated crash")
    checkpoints = paths.runs_dir() / "run" / "checkpoints"
    assert runs.latest_checkpoint("run").name == "checkpoint-4" and checkpoints.is_dir()
    assert [s for s, _ in metric_values(run_id, "loss")] == [1, 2, 3, 4, 5]  # it died before logging 6

    start = StartStep()
    assert worker.run_training(run_id, resume=True, extra_callbacks=[start]) == "completed"
    assert start.step == 4  # continued from the checkpoint, not from scratch
    run = get_run(run_id)
    assert run["status"] == "completed" and run["error"] is None
    assert json.loads(run["progress_json"])["step"] == 12
    assert [s for s, _ in metric_values(run_id, "loss")] == list(range(1, 13))  # step 5 logged once
    record = json.loads((paths.home() / run["adapter_dir"] / "workbench_run.json").read_text())
    assert record["resumed_from"] == "checkpoint-4" and record["final_metrics"]["steps"] == 12


def test_the_worker_module_runs_as_a_process():
    run_id = make_run(max_steps=4, eval_steps=2)
    env = {**os.environ, "WORKBENCH_HOME": str(paths.home()), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "workbench.jobs.worker", str(get_run(run_id)["job_id"])],
        cwd=paths.REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "step 4/4" in done.stdout and "Adapter saved" in done.stdout
    assert get_run(run_id)["status"] == "completed"
    assert (paths.adapters_dir() / "run" / "adapter_model.safetensors").is_file()


def test_the_exit_code_says_whether_the_run_failed():
    broken = get_run(make_run(name="broken", base_model="/nonexistent/model"))["job_id"]
    assert jobs_worker.main([str(broken)]) == 1
    assert "does not exist" in registry.get(broken)["error"]
    assert jobs_worker.main([str(get_run(make_run(name="fine", max_steps=1, eval_steps=0))["job_id"])]) == 0


def test_a_run_cancelled_before_it_started_does_not_train():
    run_id = make_run()
    registry.update(get_run(run_id)["job_id"], {"status": "cancelling", "stop_mode": "stop"})
    assert worker.run_training(run_id) == "cancelled"
    assert get_run(run_id)["status"] == "cancelled"
    assert not (paths.adapters_dir() / "run").exists()


def test_saved_adapter_loads_back_onto_the_base():
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    run_id = make_run(max_steps=2, eval_steps=0)
    assert worker.run_training(run_id) == "completed"
    adapter = paths.home() / get_run(run_id)["adapter_dir"]
    base = AutoModelForCausalLM.from_pretrained(
        json.loads((adapter / "workbench_run.json").read_text())["base_model_path"]
    )
    model = PeftModel.from_pretrained(base, str(adapter))
    saved = load_file(adapter / "adapter_model.safetensors")
    assert saved and all(k.startswith("base_model.model.") for k in saved)
    assert any("lora_B" in name for name, _ in model.named_parameters())


def test_a_completed_run_queues_its_evaluation_when_asked(monkeypatch):
    from workbench.evaluation import jobs as eval_jobs

    started = []
    monkeypatch.setattr(eval_jobs, "create_eval", lambda run_id, split, **_: started.append((run_id, split)) or 1)
    run_id = make_run(auto_evaluate=True)
    assert worker.run_training(run_id) == "completed"
    assert started == [(run_id, "validation")]
    other = make_run(name="no-eval")
    assert worker.run_training(other) == "completed"
    assert started == [(run_id, "validation")]


def test_without_held_out_rows_nothing_is_evaluated_and_the_log_says_why(capsys):
    from workbench.jobs import registry

    run_id = make_run(split=False, auto_evaluate=True, max_steps=2, eval_steps=0)
    assert worker.run_training(run_id) == "completed"
    assert registry.latest(run_id, "evaluate") is None  # not the training rows passed off as held out
    assert "No held-out rows in this dataset revision, so nothing was evaluated" in capsys.readouterr().out
