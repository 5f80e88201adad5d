"""kill -9 at random moments: of a process saving a dataset (50 times) and of a training worker (20 times).

Nothing is lost: a dataset opens as exactly its old or its new revision, the registry and the files agree,
and a killed run reads as interrupted to every entry point, resumes from its last complete checkpoint and
ends with one metric per step and a usable adapter; no half-written adapter is ever offered.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from workbench import paths
from workbench.data import repository
from workbench.jobs import registry

ROOT = Path(__file__).resolve().parents[2]
SAVE_KILLS = 30

SAVER = """
import sys
from workbench.data import repository
print("ready", flush=True)
n = repository.get_dataset("victim").latest.n
while True:
    rows = [{"instruction": f"revision {n + 1} row {i}", "input": "", "output": "x" * 200} for i in range(3000)]
    repository.save_rows("victim", rows, n, note=f"save {n + 1}")
    n += 1
"""


def _rows_of(revision_n: int) -> list[dict]:
    if revision_n == 1:
        return [{"instruction": "seed", "input": "", "output": "x"}]
    return [{"instruction": f"revision {revision_n} row {i}", "input": "", "output": "x" * 200} for i in range(3000)]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_kill_9_during_dataset_saves_never_mixes_revisions(workbench_home, record_property):
    repository.create_dataset("victim", "alpaca", _rows_of(1))
    rng = random.Random(18)
    survived = 0
    for _ in range(SAVE_KILLS):
        saver = subprocess.Popen(
            [sys.executable, "-c", SAVER], cwd=ROOT, env=os.environ.copy(), stdout=subprocess.PIPE, text=True
        )
        assert saver.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, 0.6))
        saver.send_signal(signal.SIGKILL)
        saver.wait(timeout=30)

        latest = repository.get_dataset("victim").latest
        assert repository.load_rows("victim") == _rows_of(latest.n)  # exactly one revision, never a mix
        for revision in repository.revisions("victim"):  # the registry and every history file agree
            assert _sha(paths.home() / revision.path) == revision.sha256
        repository.sync_current_files()  # what the next command or app start does
        assert not list(paths.datasets_dir().rglob(".*.tmp")), "a killed save left a temp file behind"
        assert _sha(repository.current_path("victim")) == latest.sha256
        manifest = json.loads(paths.dataset_manifest("victim").read_text())
        assert manifest["revisions"][-1]["n"] in (latest.n, latest.n - 1)  # at most the last note behind
        survived += 1
    saved = repository.get_dataset("victim").latest.n - 1
    record_property("dataset_save_kills", survived)
    print(
        f"{survived} kills during saves survived; {saved} revisions saved between them; 0 rows lost, no temp file left"
    )
    assert survived == SAVE_KILLS and saved > 0


WORKER_KILLS = 20
MAX_STEPS, SAVE_STEPS = 24, 4
# Where each kill is aimed; the phase it actually hit is read back from the run (and reported).
AIMS = ["loading"] * 5 + ["mid-step"] * 7 + ["checkpoint"] * 5 + ["final adapter"] * 3


def _worker_pid(run_id: int, timeout: float = 60) -> int:
    from workbench.jobs import registry
    from workbench.training import runs

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = registry.get(runs.get_run(run_id)["job_id"])
        if job["status"] == "running" and job["pid"]:
            return int(job["pid"])
        time.sleep(0.02)
    raise AssertionError(f"the worker of run {run_id} did not start within {timeout} s")


def _steps(run_id: int) -> list[int]:
    from workbench.training import runs

    return [row["step"] for row in runs.run_metrics(run_id, ("loss",))]


def _wait_for(aim: str, run_id: int, name: str, rng: random.Random) -> str:
    """Wait until the moment `aim` names (or its nearest), and say what the run was doing when it came."""
    checkpoints, adapters = paths.checkpoints_dir(name), paths.adapters_dir()
    deadline = time.monotonic() + 90
    if aim == "loading":
        time.sleep(rng.uniform(0.0, 2.5))
        return "loading" if not _steps(run_id) else "mid-step"
    if aim == "mid-step":
        goal = rng.randint(1, MAX_STEPS - 1)
        while time.monotonic() < deadline and max(_steps(run_id), default=0) < goal:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.05))
        return "mid-step"
    while time.monotonic() < deadline:
        if aim == "checkpoint" and any(
            not (p / "trainer_state.json").exists() for p in checkpoints.glob("checkpoint-*") if p.is_dir()
        ):
            return "checkpoint"
        if aim == "final adapter" and list(adapters.glob(f".{name}.building-*")):
            return "final adapter"
        time.sleep(0.002)
    return "after the aim (missed)"


def test_kill_9_of_the_training_worker_at_20_moments(workbench_home, tiny_demo_run, record_property, capsys):
    from workbench import cli as workbench_cli
    from workbench.data.split import SplitSpec
    from workbench.training import runs
    from workbench.training.config import TrainConfig

    words = ("uno", "dos", "tres", "cuatro", "cinco", "seis", "siete", "ocho")
    repository.create_dataset(
        "words", "alpaca", [{"instruction": f"Repite: {w}", "input": "", "output": w} for w in words]
    )
    repository.make_split("words", 1, SplitSpec(seed=1, validation_count=2))
    config = TrainConfig(**{**tiny_demo_run, "max_steps": MAX_STEPS, "save_steps": SAVE_STEPS})
    run_id = runs.start_run(config, name="victim")
    rng = random.Random(18)
    hit: dict[str, int] = {}
    for aim in AIMS:
        pid = _worker_pid(run_id)
        phase = _wait_for(aim, run_id, "victim", rng)
        if runs.get_run(run_id)["status"] == "completed":  # the aim came too late: train a fresh attempt
            phase = "after completion (missed)"
        os.kill(pid, signal.SIGKILL)
        hit[phase] = hit.get(phase, 0) + 1

        listed, deadline = "", time.monotonic() + 10
        while "\tvictim\tinterrupted\t" not in listed and time.monotonic() < deadline:
            assert workbench_cli.main(["runs", "list"]) == 0  # the CLI sees the dead worker, as the app does
            listed = capsys.readouterr().out
            time.sleep(0.1)
        if runs.get_run(run_id)["status"] == "completed":
            continue
        assert "\tvictim\tinterrupted\t" in listed, listed
        assert "victim" not in [a["name"] for a in runs.adapter_choices()]  # nothing half-written is offered
        assert workbench_cli.main(["eval", "victim"]) != 0  # the CLI refuses it, with a reason
        assert "no adapter" in capsys.readouterr().err.lower()
        checkpoint = runs.latest_checkpoint("victim")
        steps = _steps(run_id)
        assert steps == sorted(set(steps)), f"duplicate or unordered steps after a kill: {steps}"
        assert workbench_cli.main(["runs", "resume", "victim"]) == 0
        said = capsys.readouterr().out
        assert (checkpoint.name if checkpoint else "the start") in said
        if checkpoint:  # the metrics past the checkpoint are dropped when the resumed worker starts
            assert runs.checkpoint_step(checkpoint) % SAVE_STEPS == 0

    final = runs.wait_for(run_id, poll=0.2, timeout=300)
    assert final["status"] == "completed", final["error"]
    assert _steps(run_id) == list(range(1, MAX_STEPS + 1))  # one loss per step, none twice, none missing
    [adapter] = [a for a in runs.adapter_choices() if a["name"] == "victim"]
    assert (Path(adapter["adapter_dir"]) / "adapter_model.safetensors").is_file()
    assert not list(paths.adapters_dir().glob(".victim.*")), "a half-written adapter folder was left behind"
    survived = sum(hit.values())
    record_property("worker_kills", survived)
    print(f"{survived} worker kills survived, by phase: {hit}")
    assert survived == WORKER_KILLS


PREDICT_KILLS, PREDICT_ROWS = 4, 96


def test_kill_9_of_a_prediction_worker_resumes_from_its_last_answered_row(trained_run, capsys):
    """A long file (96 rows) is answered by a detached worker killed 4 times mid-file: each kill reads as
    interrupted, the resume goes on after the last complete row, and the answers equal those of a run never
    killed."""
    from workbench.jobs import registry
    from workbench.prediction import job as predictions
    from workbench.prediction import outputs

    rows = [{"instruction": f"Repite la palabra número {n}"} for n in range(PREDICT_ROWS)]
    data = "\n".join(json.dumps(r) for r in rows).encode()
    config = predictions.for_run(trained_run["name"], max_new_tokens=48, batch_rows=2)
    job_id = predictions.start_predict(config, data, "long.jsonl")
    path = predictions.outputs_path(job_id)
    rng = random.Random(24)
    for _ in range(PREDICT_KILLS):
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            job = registry.get(job_id)
            if job["status"] == "running" and job["pid"] and outputs.finished_rows(path) >= 2:
                break
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 0.1))  # the demo model answers a batch in milliseconds on one thread
        before = outputs.finished_rows(path)
        assert before < len(rows), "the file was answered before the kill: make it longer"
        os.kill(int(registry.get(job_id)["pid"]), signal.SIGKILL)
        time.sleep(0.2)
        registry.sweep_lost()
        job = registry.get(job_id)
        assert job["status"] == "interrupted" and "Resume it to go on" in job["error"]
        kept = outputs.finished_rows(path)  # drops a line the kill cut short
        assert kept >= before and kept % 2 == 0  # whole batches only
        predictions.resume_predict(job_id)
    deadline = time.monotonic() + 300
    while registry.get(job_id)["status"] != "completed":
        assert registry.get(job_id)["status"] in registry.ACTIVE, registry.get(job_id)["error"]
        assert time.monotonic() < deadline
        time.sleep(0.2)
    answered = list(outputs.iter_rows(path))
    assert [r["row"] for r in answered] == list(range(1, PREDICT_ROWS + 1))  # every row once, in order

    never_killed = predictions.create_predict(config, data, "long.jsonl")
    assert predictions.run_predict(never_killed, echo=False) == "completed"
    assert [r["output"] for r in outputs.iter_rows(predictions.outputs_path(never_killed))] == [
        r["output"] for r in answered
    ]
    print(f"{PREDICT_KILLS} prediction worker kills survived; {PREDICT_ROWS} rows answered once each, as without kills")


def _kill_at_step_then_resume(run_id: int, step: int) -> None:
    """kill -9 the run's worker once it has logged `step` (mid-step after it), see the run interrupted, resume it."""
    from workbench.training import runs

    pid = _worker_pid(run_id)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and max(_steps(run_id), default=0) < step:
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while runs.get_run(run_id)["status"] != "interrupted" and time.monotonic() < deadline:
        registry.sweep_lost()
        time.sleep(0.1)
    assert runs.get_run(run_id)["status"] == "interrupted"
    runs.resume_run(run_id)


DPO_KILLS, DPO_STEPS = 2, 14


def test_kill_9_of_a_dpo_worker_continuing_an_sft_adapter(trained_run, tiny_demo_run, capsys):
    """A DPO run that goes on from an SFT run's adapter (its frozen copy the reference) is killed mid-step twice:
    each resume continues from the last checkpoint, and the run ends with one loss and one reward margin
    per step and an adapter without the reference copy."""
    from workbench.data.split import SplitSpec
    from workbench.training import runs
    from workbench.training.config import TrainConfig

    pairs = [
        {"prompt": [{"role": "user", "content": f"Repite: {w}"}], "chosen": w, "rejected": f"{w} {w}"}
        for w in ("uno", "dos", "tres", "cuatro", "cinco", "seis", "siete", "ocho")
    ]
    repository.create_dataset("pairs", "preference", pairs)
    repository.make_split("pairs", 1, SplitSpec(seed=1, validation_count=2))
    config = TrainConfig(
        **{**tiny_demo_run, "dataset": "pairs", "objective": "dpo", "start_from": trained_run["name"]},
        max_steps=DPO_STEPS,
        save_steps=4,
    )
    run_id = runs.start_run(config, name="dpo-victim")
    rng = random.Random(7)
    for kill in range(DPO_KILLS):
        _kill_at_step_then_resume(run_id, 5 * (kill + 1) + rng.randint(0, 2))
    final = runs.wait_for(run_id, poll=0.2, timeout=300)
    assert final["status"] == "completed", final["error"]
    assert _steps(run_id) == list(range(1, DPO_STEPS + 1))
    margins = [row["step"] for row in runs.run_metrics(run_id, ("rewards/margins",))]
    assert margins == list(range(1, DPO_STEPS + 1))
    adapter = paths.adapter_dir("dpo-victim")
    assert (adapter / "adapter_model.safetensors").is_file() and not (adapter / "ref").exists()
    log = (paths.run_dir("dpo-victim") / "train.log").read_text()
    assert log.count("Going on training the adapter of run 'words-demo'") == DPO_KILLS + 1
    assert "Resuming from checkpoint-" in log


GRPO_STEPS = 8


def test_kill_9_of_a_grpo_worker_mid_generation_resumes_with_one_reward_per_step(trained_run, tiny_demo_run):
    """A GRPO run from an SFT run's adapter is killed while it samples answers: the resume continues from its last
    checkpoint, and the run ends with one reward per step, the last step's samples and an adapter without the
    reference copy."""
    from workbench.training import runs
    from workbench.training.config import TrainConfig
    from workbench.training.samples import read_samples

    config = TrainConfig(
        **{**tiny_demo_run, "objective": "grpo", "start_from": trained_run["name"], "learning_rate": 1e-3},
        max_steps=GRPO_STEPS,
        save_steps=2,
        num_generations=2,
        per_device_batch_size=2,
        max_completion_length=12,
        rewards="rouge_l:1",
        beta=0.04,
    )
    run_id = runs.start_run(config, name="grpo-victim")
    _kill_at_step_then_resume(run_id, 5)
    final = runs.wait_for(run_id, poll=0.2, timeout=300)
    assert final["status"] == "completed", final["error"]
    assert _steps(run_id) == list(range(1, GRPO_STEPS + 1))
    assert [row["step"] for row in runs.run_metrics(run_id, ("reward",))] == list(range(1, GRPO_STEPS + 1))
    assert read_samples("grpo-victim")["step"] == GRPO_STEPS
    adapter = paths.adapter_dir("grpo-victim")
    assert (adapter / "adapter_model.safetensors").is_file() and not (adapter / "ref").exists()
    assert "Resuming from checkpoint-" in (paths.run_dir("grpo-victim") / "train.log").read_text()
