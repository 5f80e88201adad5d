"""The quality gate in small: each speed lever of the workbench's trainer leaves the adapter's answers as they were.

A tiny ticket-triage task the demo model learns in seconds (held-out exact match 1.0): trained with every lever
on, then with each lever taken away in turn (the switches bench/train_throughput.py --levers uses), same seed,
same rows. A lever that changes what the adapter learns (a loss that is not the model's own, a precision that
loses the signal) changes its greedy answers to the held-out rows, and this test fails. Effects that show only
at the knee of a real task's curve (length-grouped batches scored 5-10 rows of 30 lower on the ticket tasks, yet give
the same answers here) are what `bench/train_throughput.py --levers --data FILE` measures.
"""

import sys
from pathlib import Path

from workbench import paths
from workbench.data import repository
from workbench.data.split import SplitSpec
from workbench.evaluation.quality import parity, score_adapter
from workbench.system import cpu_has_native_bf16
from workbench.training import runs
from workbench.training.config import TrainConfig
from workbench.training.worker import run_training

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from train_throughput import LEVERS, take_away  # noqa: E402

# The ticket's kind decides the label; the prompts of each kind have their own length, as on a real task.
KINDS = {"billing": "I was charged twice", "delivery": "the parcel never arrived at all", "account": "cannot log in"}
TASK = dict(
    dataset="kinds",
    base_model="demo",
    lora_r=8,
    lora_alpha=16,
    target_modules="all-linear",
    learning_rate=5e-3,
    warmup=0,
    num_epochs=8,
    per_device_batch_size=2,
    gradient_accumulation_steps=1,
    gradient_checkpointing=False,
    packing=False,
    eval_steps=10_000,  # no evaluation, no checkpoint while it trains: seconds
    save_steps=10_000,
    auto_evaluate=False,
)


def make_task() -> None:
    rows = [
        {"instruction": f"Ticket {10 + 7 * i % 89}: {KINDS[kind]}", "input": "", "output": kind}
        for i, kind in enumerate(list(KINDS) * 12)
    ]
    repository.create_dataset("kinds", "alpaca", rows)
    repository.make_split("kinds", 1, SplitSpec(seed=1, validation_ratio=None, validation_count=6))


def train_and_score(name: str, config: TrainConfig):
    run_id = runs.create_run(config, name=name)
    assert run_training(run_id, schedule_next=False) == "completed", runs.get_run(run_id)["error"]
    return score_adapter(name, paths.home() / runs.get_run(run_id)["adapter_dir"])


def test_taking_any_lever_away_gives_the_same_held_out_answers(monkeypatch):
    """bf16 autocast is compared with fp32; the other levers, which do not depend on the precision, are each
    taken away from an fp32 run (bf16 autocast is slow on the demo model's tiny matrices)."""
    make_task()
    fp32 = TrainConfig(**TASK, precision="fp32")
    reference = train_and_score("all-on", fp32)
    assert reference.rows == 6 and reference.exact_match == 1.0, reference.answers  # learnt: answers to compare

    levers = [lever for lever in LEVERS if lever not in ("c-fp32", "c-length-grouped")]  # the latter: not a lever
    runs_without = {lever: fp32 for lever in levers}  # take_away patches them below
    if cpu_has_native_bf16():  # else 'auto' is fp32 here: no lever to take away
        runs_without["bf16-autocast-on"] = fp32.with_updates(precision="auto")
    assert "c-full-logits" in runs_without
    changed = {}
    for lever, config in runs_without.items():
        with monkeypatch.context() as patched:
            if lever in LEVERS:
                config = take_away(lever, config, patch=patched.setattr)
            without = train_and_score(lever, config)
        if without.answers != reference.answers or not (parity(reference, without) and parity(without, reference)):
            changed[lever] = without.answers
    assert not changed, f"all levers on: {reference.answers}; changed: {changed}"
