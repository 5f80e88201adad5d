"""The queue: which job runs next, and starting its worker as a detached process.

One heavy job (training, evaluation, prediction, publish, export: each loads a model onto the device) runs at a time
on each device (`devices`: the one device, or each GPU of several); a queued evaluation starts first, else the
oldest queued job (`kinds.start_order`), and a heavy job that must wait holds back the heavy jobs after it (a run
across every GPU is not starved by one-GPU jobs). Model preparation is downloads and file conversion, so it starts
at once. Every worker calls `schedule()` again when it ends, and so do the app and the CLI.
"""

from __future__ import annotations

import json
import sys

from workbench import paths, store
from workbench.jobs import devices, kinds, registry
from workbench.processes import launch_detached

HEAVY = kinds.HEAVY
WORKER_MODULE = "workbench.jobs.worker"


def schedule() -> list[int]:
    """Start what may start now; returns the ids of the jobs started."""
    registry.sweep_lost()
    started = []
    count = devices.gpu_count()
    db = store.open_db()
    with store.transaction(db):
        queued = sorted(db.table("jobs").rows_where("status = 'queued'"), key=kinds.start_order)
        running = db.table("jobs").rows_where(
            f"status in {registry.sql_list(registry.RUNNING)} and kind in {registry.sql_list(HEAVY)}"
        )
        busy = set().union(*(devices.held(job, count) for job in running))
        held_back = False
        for job in queued:
            gpus = None
            if job["kind"] in HEAVY:
                gpus = None if held_back else devices.assign(job, busy, count)
                if gpus is None:
                    held_back = True
                    continue
                job = _given(job, gpus, db)
                busy |= devices.held(job, count)
            launch(job, db, devices.environment(gpus) if gpus else {})
            started.append(job["id"])
    return started


def _given(job: dict, gpus: str, db) -> dict:
    """Record in the job's args the GPUs it was given, so that the next `schedule()` sees them taken."""
    args_json = json.dumps({**registry.args(job), "gpus": gpus})
    db.table("jobs").update(job["id"], {"args_json": args_json})
    return {**job, "args_json": args_json}


def launch(job: dict, db, env: dict[str, str] | None = None) -> int:
    """Start the worker of a queued job (inside the caller's transaction); returns its pid."""
    log = registry.log_path(job) or paths.job_log_fallback(job["id"])
    pid = launch_detached(worker_command(job), log, f"starting job {job['id']}: {job['title']}", env=env)
    registry.mark_running(job["id"], pid, db=db)
    registry.set_progress(job["id"], {**registry.progress(job), "phase": "starting"}, db=db)
    return pid


def worker_command(job: dict) -> list[str]:
    """`python -m workbench.jobs.worker ID`; a training job in several processes (one per GPU, or N CPU processes
    over gloo) runs under `accelerate launch`: torch.distributed's launcher (`--multi_gpu`, accelerate's data
    parallel mode, CPU processes included), or the run's accelerate config where it is sharded (FSDP, ZeRO-3:
    `training/distributed.py`), on a free port so that two such runs can go side by side."""
    args = registry.args(job)
    processes = int(args.get("processes") or 1)
    if processes <= 1:
        return [sys.executable, "-m", WORKER_MODULE, str(job["id"])]
    config_file = args.get("accelerate_config")
    mode = ["--config_file", str(paths.in_home(config_file))] if config_file else ["--multi_gpu"]
    return [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        *mode,
        "--num_processes",
        str(processes),
        "--num_machines",
        "1",
        "--main_process_port",
        "0",
        "--dynamo_backend",
        "no",
        "--mixed_precision",
        "no",  # the worker's TrainingArguments set bf16/fp16 themselves
        "--module",
        WORKER_MODULE,
        str(job["id"]),
    ]


def waiting_for(job: dict) -> str | None:
    """What a queued job waits for, in words (None when it is not waiting)."""
    if job["status"] != "queued":
        return None
    if job["kind"] not in HEAVY:
        return "starting"
    db = store.open_db()
    heavy = list(
        db.table("jobs").rows_where(
            f"kind in {registry.sql_list(HEAVY)} and status in {registry.sql_list(registry.ACTIVE)}"
        )
    )
    running = [row for row in heavy if row["status"] != "queued"]
    earlier = [row for row in heavy if row["status"] == "queued" and kinds.start_order(row) < kinds.start_order(job)]
    first = running[0] if running else min(earlier, key=kinds.start_order, default=None)
    ahead = (first["title"], first["status"]) if first else None
    if ahead is None:
        return "starting"
    return f"waits for “{ahead[0]}” ({ahead[1]}) to finish: {devices.waiting_words(devices.gpu_count())}"


def describe(job: dict) -> str:
    """One line: “Train x — running, 40/100 steps, about 2 min left” or “Evaluate y — queued: waits for …”."""
    if job["status"] == "queued":
        return f"{job['title']} — queued: {waiting_for(job)}"
    progress = registry.progress(job)
    parts = [job["status"]]
    if progress.get("total") and progress.get("done") is not None:
        parts.append(f"{progress['done']}/{progress['total']} {progress.get('unit') or ''}".rstrip())
    elif progress.get("phase"):
        parts.append(str(progress["phase"]))
    eta = progress.get("eta_seconds")
    if eta and job["status"] == "running":
        parts.append(f"about {eta / 60:.0f} min left" if eta >= 90 else f"about {eta:.0f} s left")
    return f"{job['title']} — {', '.join(parts)}"
