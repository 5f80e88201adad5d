"""The training job: train a run's LoRA adapter in this process (`jobs/worker.py` runs it).

It reads the run's TrainConfig from the registry, builds the datasets from the run's dataset revision,
loads the base, trains a LoRA adapter with TRL's SFTTrainer and saves it to `adapters/<run name>/`.
Progress and metrics go to the registry (see callback.py); readable progress lines go to stdout, which
the job's launcher sends to `runs/<name>/train.log`. The steps, top to bottom:

    datasets -> model -> SFTConfig + SFTTrainer -> train (or resume) -> [keep best] -> save
    -> completed | cancelled (the jobs worker records it, or failed with the reason; then the evaluation
       package queues the held-out evaluation, see FOLLOW_UPS in jobs/worker.py)

Under `accelerate launch` (several GPUs) every process runs this; only process 0 writes.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import time
from pathlib import Path

from workbench import paths, store
from workbench.fileio import (
    disk_full,
    finish_interrupted_folder,
    folder_in_place,
    is_disk_full,
    need_space,
    write_json_atomic,
)
from workbench.jobs import registry
from workbench.jobs import worker as jobs_worker
from workbench.jobs.worker import is_main_process
from workbench.models.loading import resolve_base
from workbench.training import runs
from workbench.training.arguments import KEPT_CHECKPOINTS, common_arguments
from workbench.training.config import TrainConfig
from workbench.training.data import TrainingError, read_split, training_prompt
from workbench.training.model_load import (
    continue_adapter,
    load_for_training,
    peft_config_for,
    precision_for,
)
from workbench.training.objectives import build_datasets, objective_for


def run_training(
    run_id: int, resume: bool = False, *, extra_callbacks: list | None = None, schedule_next: bool = True
) -> str:
    """Run a run's training job in this process (tests, benchmarks); returns its final status.

    `extra_callbacks` are added to the trainer after the DatabaseCallback (tests use them to interrupt a
    run). With `schedule_next`, the queue starts what waits at the end, whatever the outcome.
    """
    run = runs.get_run(run_id)
    if resume:
        registry.requeue(run["job_id"], {"resume": True})
    handler = functools.partial(train_job, extra_callbacks=extra_callbacks or [])
    return jobs_worker.run(run["job_id"], handler, schedule_next=schedule_next)


def train_job(job: dict, extra_callbacks: list | None = None) -> tuple[str, dict]:
    """The `train` kind's handler: train the job's run; returns (completed | cancelled, result)."""
    main = is_main_process()
    run = runs.get_run(job["run_id"])
    status, result = _train(
        store.open_db(), run, job, bool(registry.args(job).get("resume")), extra_callbacks or [], main
    )
    return status, result


def _train(db, run: dict, job: dict, resume: bool, extra_callbacks: list, main: bool) -> tuple[str, dict]:
    # Heavy: torch, transformers, peft and TRL load only in the worker, never when the app imports this module.
    from transformers import PrinterCallback

    from workbench.training.callback import DatabaseCallback
    from workbench.training.task_check import TaskCheckCallback, plan_checks

    run_id, name = run["id"], run["name"]
    config = TrainConfig.from_dict(json.loads(run["config_json"])).validate()
    say = _printer(main)
    say(f"=== Run {name} (id {run_id}) · {store.now()} · pid {os.getpid()}")
    if main:
        finish_interrupted_save(name, say)

    objective = objective_for(config)
    train_ds, eval_ds, info = build_datasets(config, run["dataset_revision_id"])
    say(
        f"Dataset {info['dataset']!r} revision {info['revision_n']} (sha256 {info['revision_sha256'][:12]}…): "
        f"{info['train_rows']} training rows, {info['validation_rows']} validation rows, {info['shape']} shape; "
        f"objective {objective.label}: {objective.learns}"
    )

    resolved = resolve_base(config.base_model)
    started = time.monotonic()
    model, tokenizer = load_for_training(config)
    peft_config = peft_config_for(config)
    starting = runs.starting_adapter(config)
    if starting is not None:
        model, peft_config = continue_adapter(model, starting), None
        say(f"Going on training the adapter of run {config.start_from!r} (its LoRA shape; this run's is not used).")
    reference = objective.reference(config)
    if reference:
        say(f"Reference model: {reference}.")
    bf16, fp16, dtype = precision_for(config)
    say(
        f"Base {config.base_model!r} ({resolved}) loaded in {time.monotonic() - started:.1f} s: "
        f"{config.method}, {str(dtype).removeprefix('torch.')}{', bf16 mixed' if bf16 else ''}"
        f"{', fp16 mixed' if fp16 else ''}, device {_device_name()}"
    )

    checkpoints = paths.checkpoints_dir(name)
    checkpoint = runs.latest_checkpoint(name) if resume else None
    if main:
        _prepare_outputs(db, run_id, checkpoints, checkpoint, resume)
    if resume and checkpoint is None:
        say("No checkpoint to resume from: training starts from the beginning.")
    elif checkpoint is not None:
        say(f"Resuming from {checkpoint.name}.")

    common = common_arguments(config, checkpoints, has_eval=eval_ds is not None, bf16=bf16, fp16=fp16)
    callback = DatabaseCallback(run_id, echo=main, job_id=job["id"])
    trainer = objective.trainer(
        model=model,
        args=objective.trl_config(config, common),
        train_dataset=train_ds,
        eval_dataset=eval_ds,
        tokenizer=tokenizer,
        peft_config=peft_config,
        callbacks=[callback, *extra_callbacks],
        config=config,
        run_name=name,
        say=say,
    )
    trainer.remove_callback(PrinterCallback)  # our callback prints readable lines instead of raw dicts
    if objective.check_prepared is not None:
        objective.check_prepared(trainer, config, info, say)
    task = None
    sample = check_sample(config, run["dataset_revision_id"])
    plan = plan_checks(config, sample, _steps_per_epoch(trainer), tokenizer, run.get("experiment_id"))
    if plan is not None:
        task = TaskCheckCallback(run_id, name, plan, tokenizer, clock=callback, say=say)
        trainer.add_callback(task)
        say(plan.describe())
    elif config.task_metric != "off":
        say("Task checks are off for this run: its dataset revision has no held-out rows to answer.")
    trainable, total = trainer.model.get_nb_trainable_parameters()
    say(
        f"LoRA r={config.lora_r} alpha={config.lora_alpha} on {config.resolved_target_modules()}: "
        f"{trainable:,} trainable of {total:,} parameters ({100 * trainable / total:.2f} %)"
    )
    if objective.name == "sft":
        say(
            "Loss: LM head and cross-entropy only at the labelled positions"
            if trainer.label_only_loss
            else "Loss: TRL's fused LM head"
        )
    if main:
        need_space(checkpoints, space_needed(trainable, tokenizer), "this run's checkpoints and adapter")
        registry.set_progress(job["id"], {"phase": "training", "step": 0, "unit": "steps"})

    try:
        result = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    except Exception as exc:
        if not is_disk_full(exc):
            raise
        raise _disk_filled(name, checkpoints, trainable, tokenizer, "a checkpoint") from exc

    restored_best, stopped_because = _keep_best(trainer, callback, task, say)
    status = "cancelled" if callback.stop_requested else "completed"
    if not main:
        return status, {}

    registry.set_progress(job["id"], callback.progress(trainer.state, "saving"))
    # All of the run's metrics, earlier attempts before a resume included.
    history = [
        dict(row)
        for row in db.query(
            "select step, epoch, name, value, ts from metrics where run_id = ? order by step, rowid", [run_id]
        )
    ]
    losses = [h["value"] for h in history if h["name"] == "loss"]
    eval_losses = [h["value"] for h in history if h["name"] == "eval_loss"]
    final = {
        "loss": losses[-1] if losses else None,
        "eval_loss": eval_losses[-1] if eval_losses else None,
        "best_eval_loss": min(eval_losses, default=None),
        "steps": trainer.state.global_step,
        "epochs": trainer.state.epoch,
        "runtime_seconds": result.metrics.get("train_runtime"),  # this attempt's
        "tokens_per_second": callback.average_tokens_per_second(),
        "tokens_seen": trainer.state.num_input_tokens_seen,
        "stopped_because": stopped_because,
        "task_checks": _task_summary(task, result.metrics.get("train_runtime")),
    }
    record = {
        "run": name,
        "run_id": run_id,
        "status": status,
        "config": config.to_dict(),
        "base_model": config.base_model,
        "base_model_path": resolved,
        "dataset": info["dataset"],
        "dataset_revision": info["revision_n"],
        "dataset_revision_sha256": info["revision_sha256"],
        "dataset_format": info["format"],
        "train_rows": info["train_rows"],
        "validation_rows": info["validation_rows"],
        "training_shape": info["shape"],
        "chat_template": config.chat_template,
        "precision": "bf16" if bf16 else "fp16" if fp16 else "fp32",
        "stop_mode": callback.stop_mode if callback.stop_requested else None,
        "restored_best_step": restored_best,
        "stopped_because": stopped_because,
        "resumed_from": checkpoint.name if checkpoint else None,
        "final_metrics": final,
        "experiment": experiment_record(db, run_id),
        "created": store.now(),
    }
    try:
        target = save_adapter(trainer.model, tokenizer, name, record, history)
    except Exception as exc:
        if not is_disk_full(exc):
            raise
        raise _disk_filled(name, paths.adapters_dir(), trainable, tokenizer, "the adapter") from exc
    say(
        f"Adapter saved to {target} ({status}); final loss {_fmt(final['loss'])}, "
        f"eval_loss {_fmt(final['eval_loss'])}, {final['steps']} steps in {_fmt(final['runtime_seconds'], '.1f')} s."
    )
    db.table("runs").update(run_id, {"adapter_dir": target.relative_to(paths.home()).as_posix()})
    registry.set_progress(job["id"], callback.progress(trainer.state, "done"))
    return status, {"adapter_dir": target.relative_to(paths.home()).as_posix(), "final_metrics": final}


def experiment_record(db, run_id: int) -> dict | None:
    """The run's experiment and its trial's settings, kept in the adapter folder so that a registry rebuilt
    from disk (`recovery.rebuild`) groups the run again."""
    row = db.execute(
        "select e.name, e.metric, e.config_json, e.sweep_json, e.created, r.trial_json from runs r "
        "join experiments e on e.id = r.experiment_id where r.id = ?",
        [run_id],
    ).fetchone()
    if row is None:
        return None
    name, metric, config_json, sweep_json, created, trial_json = row
    return {
        "name": name,
        "metric": metric,
        "config": json.loads(config_json),
        "sweep": json.loads(sweep_json),
        "created": created,
        "trial": json.loads(trial_json or "{}"),
    }


def check_sample(config: TrainConfig, revision_id: int) -> list[tuple[list[dict], str]]:
    """(messages, reference) of the held-out rows a run checks while it trains: the first of its validation
    rows, in dataset order, as the held-out evaluation reads them."""
    if config.task_metric == "off":
        return []
    _, validation, fmt, _ = read_split(config, revision_id)
    return [training_prompt(row, fmt, config) for row in validation[: config.task_check_rows]]


def _steps_per_epoch(trainer) -> int:
    rows_per_step = trainer.args.per_device_train_batch_size * trainer.args.gradient_accumulation_steps
    return max(1, -(-len(trainer.train_dataset) // (rows_per_step * max(1, trainer.args.world_size))))


def _keep_best(trainer, callback, task, say) -> tuple[int | None, str | None]:
    """Which weights the run keeps, and why it stopped: (the step whose weights were put back, the reason).

    A user's 'keep best' stop keeps the best task check if there is one, else the best eval loss; a run that
    ends by itself is checked once more and keeps its best check."""
    from peft import set_peft_model_state_dict

    step = trainer.state.global_step
    if callback.stop_requested:
        if callback.stop_mode != "keep_best":
            return None, "stopped from the app"
        best = task.restore_best(trainer.model, step) if task is not None and task.history.best else None
        if best is not None:
            say(f"Keeping the best task check: step {best[0]}, {task.name} {best[1]:.2f}.")
            return best[0], "stopped from the app, keeping the best check"
        if callback.best_state is not None:
            set_peft_model_state_dict(trainer.model, callback.best_state)
            say(f"Keeping the best evaluation: step {callback.best_step}, eval_loss {callback.best_eval_loss:.4f}.")
            return callback.best_step, "stopped from the app, keeping the best eval loss"
        say("Keep best: no evaluation ran yet, so the adapter is saved as it stands.")
        return None, "stopped from the app"
    budget = "steps" if trainer.args.max_steps > 0 else "epochs"
    if task is None:
        return None, f"ran all its {budget}"
    task.final_check(trainer.model, trainer.state)
    reason = task.stopped_because
    best = task.restore_best(trainer.model, step)
    if best is not None:
        say(f"The best task check is kept: step {best[0]}, {task.name} {best[1]:.2f} (the last scored lower).")
    if reason is None:
        last = task.history.checks[-1][1]
        reason = f"ran all its {budget} ({task.name} {last:.2f} at the end)"
        if best is not None:
            reason += f"; the best check, {best[1]:.2f} at step {best[0]}, is kept"
    say(f"Why it stopped: {reason}.")
    return (best[0] if best else None), reason


def _task_summary(task, runtime: float | None) -> dict | None:
    if task is None:
        return None
    best = task.history.best
    return {
        "metric": task.plan.metric,
        "rows": len(task.plan.rows),
        "every": task.plan.every,
        "checks": [{"step": step, "value": value} for step, value in task.history.checks],
        "best_step": best[0] if best else None,
        "best": best[1] if best else None,
        "seconds": round(task.seconds, 1),
        "share": round(task.seconds / runtime, 3) if runtime else None,
    }


def save_adapter(model, tokenizer, name: str, record: dict, history: list[dict]) -> Path:
    """Write the adapter folder in a hidden sibling, then rename it into place (replacing an older one)."""
    target = paths.adapter_dir(name)
    with folder_in_place(target) as building:
        # Only the trained adapter: a preference run's frozen 'ref' copy is not part of the result.
        model.save_pretrained(str(building), safe_serialization=True, selected_adapters=["default"])
        tokenizer.save_pretrained(str(building))
        write_json_atomic(building / paths.RUN_FILE, record)
        write_json_atomic(building / paths.HISTORY_FILE, history)
    return target


def space_needed(trainable: int, tokenizer) -> int:
    """Bytes a run writes at most: its kept checkpoints (fp32 LoRA weights and Adam's two moments, the
    tokenizer) while the next one is written, and the adapter."""
    tokenizer_bytes = 100 * len(tokenizer) + 64 * 1024  # tokenizer.json: SmolLM2's 49,152 tokens take 2.1 MB
    checkpoint = trainable * 12 + tokenizer_bytes
    return (KEPT_CHECKPOINTS + 1) * checkpoint + trainable * 4 + tokenizer_bytes


def _disk_filled(name: str, folder: Path, trainable: int, tokenizer, writing: str) -> TrainingError:
    """The disk filled up mid-run: drop what was half-written, keep every complete checkpoint (resume)."""
    for partial in paths.checkpoints_dir(name).glob("checkpoint-*"):
        if not (partial / "trainer_state.json").is_file():
            shutil.rmtree(partial, ignore_errors=True)
    needed = space_needed(trainable, tokenizer)
    return TrainingError(
        f"{disk_full(folder, needed, f'writing {writing}')} The complete checkpoints are kept: resume the run "
        "once there is space."
    )


def finish_interrupted_save(name: str, say=print) -> None:
    """Clean up after a worker killed inside `save_adapter` (see fileio.finish_interrupted_folder)."""
    for line in finish_interrupted_folder(paths.adapter_dir(name)):
        say(line)


def _prepare_outputs(db, run_id: int, checkpoints: Path, checkpoint: Path | None, resume: bool) -> None:
    """Fresh start: drop old checkpoints and metrics. Resume: drop the metrics logged after the checkpoint."""
    if checkpoint is None:
        if checkpoints.exists():
            shutil.rmtree(checkpoints)
        db.execute("delete from metrics where run_id = ?", [run_id])
    else:
        step = runs.checkpoint_step(checkpoint)
        db.execute("delete from metrics where run_id = ? and step > ?", [run_id, step])
    checkpoints.mkdir(parents=True, exist_ok=True)


def _printer(main: bool):
    def say(line: str) -> None:
        if main:
            print(line, flush=True)

    return say


def _device_name() -> str:
    import torch

    if torch.cuda.is_available():
        return f"cuda ({torch.cuda.get_device_name()}, {torch.cuda.device_count()} visible)"
    return f"cpu ({torch.get_num_threads()} threads)"


def _fmt(value, spec: str = ".4f") -> str:
    return "-" if value is None else format(value, spec)
