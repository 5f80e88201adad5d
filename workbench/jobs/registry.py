"""The `jobs` table: one lifecycle for every kind of background work.

    create (queued) -> launch (running, pid) -> progress + heartbeat ... -> completed | cancelled | failed
                       cancel: queued -> cancelled at once; running -> cancelling -> the worker stops
                       a worker gone without a word -> interrupted (sweep_lost) -> requeue where the kind resumes

A job row: kind, run_id (the run it works on, if any), title, status, pid, args (what to do), progress
({"phase", "done", "total", "unit", "eta_seconds", ...}), result, error, stop_mode, log (relative to
WORKBENCH_HOME), created/started/finished and heartbeat (the worker's last word).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from workbench import paths, processes, store
from workbench.errors import WorkbenchError
from workbench.jobs import kinds
from workbench.processes import process_alive

KINDS = kinds.NAMES
# "imported": a run's adapter brought in from elsewhere (training/imported.py), never trained here.
STATUSES = ("queued", "running", "cancelling", "cancelled", "completed", "failed", "interrupted", "imported")
ACTIVE = ("queued", "running", "cancelling")
RUNNING = ("running", "cancelling")
TERMINAL = ("cancelled", "completed", "failed", "interrupted", "imported")
# Every worker runs `python -m workbench...` (the jobs worker, or the CLI in the foreground); several GPUs
# run it under `accelerate launch`.
WORKER_MARKERS = ("workbench", "accelerate")


class JobError(WorkbenchError, ValueError):
    """A job operation that cannot be done; the message says why and what to do."""


def sql_list(values: tuple[str, ...]) -> str:
    """A constant tuple of names as an SQL list: ('a', 'b')."""
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


def create(
    kind: str,
    title: str,
    *,
    run_id: int | None = None,
    args: dict | None = None,
    log: Path | None = None,
    progress: dict | None = None,
    db=None,
) -> int:
    """Queue a job; returns its id. `db` lets a caller create it inside its own transaction."""
    if kind not in KINDS:
        raise JobError(f"Unknown job kind {kind!r}: use one of {', '.join(KINDS)}.")
    db = db or store.open_db()
    return store.row_id(
        db.table("jobs").insert(
            {
                "kind": kind,
                "run_id": run_id,
                "title": title,
                "status": "queued",
                "args_json": json.dumps(args or {}),
                "progress_json": json.dumps({"phase": "queued", **(progress or {})}),
                "log": paths.relative_to_home(log) if log else None,
                "created": store.now(),
            }
        )
    )


def get(job_id: int) -> dict:
    row = next(store.open_db().table("jobs").rows_where("id = ?", [int(job_id)]), None)
    if row is None:
        raise JobError(f"No job {job_id}: it was deleted with its run, or never existed.")
    return row


def get_of_kind(job_id: int, kind: str) -> dict | None:
    """Job `job_id` if it exists and is of `kind`, else None."""
    try:
        job = get(job_id)
    except JobError:
        return None
    return job if job["kind"] == kind else None


def args(job: dict) -> dict:
    return json.loads(job["args_json"]) if job.get("args_json") else {}


def progress(job: dict) -> dict:
    return json.loads(job["progress_json"]) if job.get("progress_json") else {}


def result(job: dict) -> dict:
    return json.loads(job["result_json"]) if job.get("result_json") else {}


def log_path(job: dict) -> Path | None:
    return paths.in_home(job["log"]) if job.get("log") else None


def log_lines(job: dict) -> list[str]:
    """The lines this job wrote to its log (a log holds earlier jobs too, each after its launch header)."""
    log = log_path(job)
    if log is None or not log.exists():
        return []
    lines = log.read_text(errors="replace").splitlines()
    header = f"starting job {job['id']}:"
    starts = [n for n, line in enumerate(lines) if line.startswith("=== ") and header in line]
    return lines[starts[-1] + 1 :] if starts else lines


def latest(run_id: int, kind: str) -> dict | None:
    """The newest job of `kind` for a run, whatever its status."""
    return next(
        store.open_db()
        .table("jobs")
        .rows_where("run_id = ? and kind = ?", [run_id, kind], order_by="id desc", limit=1),
        None,
    )


def list_jobs(
    *,
    kind: str | None = None,
    run_id: int | None = None,
    statuses: tuple[str, ...] | None = None,
    limit: int | None = None,
) -> list[dict]:
    """Jobs, newest first, filtered by kind, run and status."""
    where: list[str] = []
    values: list[object] = []
    if kind:
        where.append("kind = ?")
        values.append(kind)
    if run_id is not None:
        where.append("run_id = ?")
        values.append(run_id)
    if statuses:
        where.append(f"status in {sql_list(statuses)}")
    return list(
        store.open_db().table("jobs").rows_where(" and ".join(where) or None, values, order_by="id desc", limit=limit)
    )


def active() -> list[dict]:
    """Queued, running and cancelling jobs of every kind, oldest first (the sidebar and the queue view)."""
    return list(store.open_db().table("jobs").rows_where(f"status in {sql_list(ACTIVE)}", order_by="id"))


def update(job_id: int, fields: dict, db=None) -> None:
    (db or store.open_db()).table("jobs").update(job_id, fields)


def mark_running(job_id: int, pid: int | None = None, db=None) -> None:
    """The job's worker has its pid and is going (started is kept across a resume)."""
    db = db or store.open_db()
    job = db.table("jobs").get(job_id)
    db.table("jobs").update(
        job_id,
        {
            "status": "running",
            "pid": pid or os.getpid(),
            "error": None,
            "finished": None,
            "started": job["started"] or store.now(),
            "heartbeat": store.now(),
        },
    )


def set_progress(job_id: int, values: dict, db=None) -> None:
    """Replace the job's progress; also the worker's heartbeat."""
    stamp = store.now()
    (db or store.open_db()).table("jobs").update(
        job_id, {"progress_json": json.dumps({**values, "updated": stamp}), "heartbeat": stamp}
    )


def finish(
    job_id: int,
    status: str,
    *,
    result: dict | None = None,
    error: str | None = None,
    progress: dict | None = None,
    db=None,
) -> None:
    if status not in TERMINAL:
        raise JobError(f"{status!r} is not how a job ends: use one of {', '.join(TERMINAL)}.")
    db = db or store.open_db()
    fields = {"status": status, "finished": store.now(), "error": error, "heartbeat": store.now()}
    if result is not None:
        fields["result_json"] = json.dumps(result, ensure_ascii=False)
    if progress is not None:
        fields["progress_json"] = json.dumps({**progress, "updated": store.now()})
    db.table("jobs").update(job_id, fields)


def cancel(job_id: int, stop_mode: str | None = None) -> str:
    """Ask a job to stop. A queued job is cancelled at once; a running one is asked (status 'cancelling')
    and stops at its next check. Returns the new status."""
    db = store.open_db()
    with store.transaction(db):
        job = get(job_id)
        if job["status"] == "queued":
            finish(job_id, "cancelled", db=db)
            return "cancelled"
        if job["status"] not in RUNNING:
            raise JobError(f"{job['title']} is {job['status']}: only a queued or running job can be cancelled.")
        db.table("jobs").update(job_id, {"status": "cancelling", "stop_mode": stop_mode or job["stop_mode"] or "stop"})
    return "cancelling"


def stop_requested(job_id: int) -> str | None:
    """The stop mode the app asked for ('stop', 'keep_best'), or None while the job may go on."""
    row = store.open_db().execute("select status, stop_mode from jobs where id = ?", [job_id]).fetchone()
    if row and row[0] == "cancelling":
        return row[1] or "stop"
    return None


def requeue(job_id: int, args_update: dict | None = None) -> None:
    """Queue an ended job again (resume), keeping its history. Atomic: of two resumes at once (two tabs, two
    terminals) one queues the job and the other gets a JobError, so no job ever runs twice."""
    db = store.open_db()
    with store.transaction(db):
        job = db.table("jobs").get(job_id)
        if job["status"] in ACTIVE:
            raise JobError(f"{job['title']} is already {job['status']}: nothing was started twice.")
        db.table("jobs").update(
            job_id,
            {
                "status": "queued",
                "error": None,
                "finished": None,
                "pid": None,
                "stop_mode": None,
                "args_json": json.dumps({**args(job), **(args_update or {})}),
            },
        )


def sweep_lost() -> list[int]:
    """Running jobs whose worker process is gone without a word (killed, machine restarted) become
    interrupted. Every entry point (app, CLI, workers) calls this before it reads or schedules jobs."""
    processes.reap_finished()
    db = store.open_db()
    lost = []
    for job in db.table("jobs").rows_where(f"status in {sql_list(RUNNING)}"):
        if job["pid"] and (job["pid"] == os.getpid() or process_alive(job["pid"], WORKER_MARKERS)):
            continue
        db.table("jobs").update(
            job["id"],
            {
                "status": "interrupted",
                "finished": store.now(),
                "error": (
                    f"The worker process (pid {job['pid']}) ended without reporting: it was killed or the machine "
                    f"restarted. {kinds.recovery(job['kind'])}"
                ),
            },
        )
        lost.append(job["id"])
    return lost
