"""Runs: create, queue, launch the worker process, cancel, resume, delete, detect interrupted runs.

A run is a row in the registry plus two folders: `runs/<name>/` (train.log, checkpoints) and
`adapters/<name>/` (the result). The worker process owns a running run; the app only ever asks it to
stop (status 'cancelling') and reads what it writes. One GPU job runs at a time: `schedule()` starts
the oldest queued run when none is running, and the worker calls it again when it ends.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from workbench import paths, store
from workbench.data import formats, repository
from workbench.processes import launch_detached, mark_lost
from workbench.training.config import TrainConfig

TERMINAL = ("cancelled", "completed", "failed", "interrupted")
RUN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")
WORKER_MODULE = "workbench.training.worker"
WORKER_MARKERS = (WORKER_MODULE, "accelerate")


class RunError(ValueError):
    """A run operation that cannot be done; the message says why and what to do."""


def create_run(config: TrainConfig, name: str | None = None) -> int:
    """Validate and queue a run (it starts when `schedule()` finds the GPU free)."""
    config.validate()
    revision = repository.get_revision(config.dataset, config.dataset_revision)
    _check_rows(config.dataset, revision)
    config = config.with_updates(dataset_revision=revision.n)
    db = store.open_db()
    name = _unique_name(db, name or _default_name(config))
    return db["runs"].insert({
        "name": name, "status": "queued", "config_json": config.to_json(),
        "dataset_revision_id": revision.id, "base_model": config.base_model, "created": store.now(),
        "resume": 0,
    }).last_pk


def start_run(config: TrainConfig, name: str | None = None) -> int:
    run_id = create_run(config, name)
    schedule()
    return run_id


def schedule() -> int | None:
    """Start the oldest queued run if no run or evaluation is active. Returns the run started, if any."""
    from workbench.evaluation.runner import mark_interrupted_evals

    mark_interrupted()
    mark_interrupted_evals()
    db = store.open_db()
    db.conn.execute("BEGIN IMMEDIATE")
    try:
        busy = db.execute("select count(*) from runs where status in ('running', 'cancelling')").fetchone()[0]
        busy += db.execute("select count(*) from eval_jobs where status in ('running', 'cancelling')"
                           ).fetchone()[0]  # an evaluation holds the GPU too
        queued = db.execute("select id from runs where status = 'queued' order by id limit 1").fetchone()
        if busy or not queued:
            db.conn.execute("COMMIT")
            return None
        run = db["runs"].get(queued[0])
        pid = _launch(run)
        db["runs"].update(run["id"], {"status": "running", "pid": pid, "error": None, "stop_mode": None,
                                      "progress_json": json.dumps({"phase": "starting"})})
        db.conn.execute("COMMIT")
        return run["id"]
    except BaseException:
        db.conn.execute("ROLLBACK")
        raise


def worker_command(run_id: int, resume: bool = False, gpus: int | None = None) -> list[str]:
    """The worker's command line; with several GPUs it runs under `accelerate launch` (DDP)."""
    gpus = _gpu_count() if gpus is None else gpus
    tail = [str(run_id)] + (["--resume"] if resume else [])
    if gpus > 1:
        return [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", str(gpus),
                "--module", WORKER_MODULE, *tail]
    return [sys.executable, "-m", WORKER_MODULE, *tail]


def _launch(run: dict) -> int:
    return launch_detached(worker_command(run["id"], resume=bool(run.get("resume"))),
                           run_folder(run["name"]) / "train.log", f"starting run {run['name']} (id {run['id']})")


def cancel_run(run_id: int, keep_best: bool = False) -> str:
    """Ask a run to stop. A queued run is cancelled at once; a running one saves its adapter and stops."""
    db = store.open_db()
    run = get_run(run_id)
    if run["status"] == "queued":
        db["runs"].update(run_id, {"status": "cancelled", "finished": store.now()})
        return "cancelled"
    if run["status"] not in ("running", "cancelling"):
        raise RunError(f"Run {run['name']!r} is {run['status']}: only queued or running runs can be cancelled.")
    db["runs"].update(run_id, {"status": "cancelling", "stop_mode": "keep_best" if keep_best else "stop"})
    return "cancelling"


def resume_run(run_id: int) -> None:
    """Queue an interrupted, failed or cancelled run to continue from its last checkpoint."""
    run = get_run(run_id)
    if run["status"] not in ("interrupted", "failed", "cancelled"):
        raise RunError(f"Run {run['name']!r} is {run['status']}: only interrupted, failed or cancelled runs "
                       "can be resumed.")
    if latest_checkpoint(run["name"]) is None:
        raise RunError(f"Run {run['name']!r} saved no checkpoint to resume from: clone its config and start a "
                       "new run instead.")
    store.open_db()["runs"].update(run_id, {"status": "queued", "resume": 1, "error": None, "finished": None})
    schedule()


def delete_run(run_id: int) -> None:
    run = get_run(run_id)
    if run["status"] in store.ACTIVE_RUN_STATUSES and run["status"] != "queued":
        raise RunError(f"Run {run['name']!r} is {run['status']}: cancel it before deleting it.")
    db = store.open_db()
    db.conn.execute("BEGIN IMMEDIATE")
    try:
        for table in ("metrics", "evals", "eval_rows", "eval_jobs", "publishes"):
            db[table].delete_where("run_id = ?", [run_id])
        db["runs"].delete(run_id)
        db.conn.execute("COMMIT")
    except BaseException:
        db.conn.execute("ROLLBACK")
        raise
    for folder in (paths.runs_dir() / run["name"], paths.adapters_dir() / run["name"]):
        shutil.rmtree(folder, ignore_errors=True)


def mark_interrupted() -> list[int]:
    """Runs whose worker process is gone without a word (killed, machine restarted) become interrupted."""
    return mark_lost("runs", WORKER_MARKERS, lambda run: (
        f"The worker process (pid {run['pid']}) ended without reporting: it was killed or the machine "
        "restarted. Resume the run to continue from its last checkpoint."))


def get_run(run_id_or_name: int | str) -> dict:
    db = store.open_db()
    if isinstance(run_id_or_name, int) or str(run_id_or_name).isdigit():
        row = next(db["runs"].rows_where("id = ?", [int(run_id_or_name)]), None)
    else:
        row = None
    if row is None:
        row = next(db["runs"].rows_where("name = ?", [str(run_id_or_name)]), None)
    if row is None:
        raise RunError(f"No run {run_id_or_name!r}: see `python -m workbench runs list`.")
    return row


def active_runs() -> list[dict]:
    """Queued, running and cancelling runs, oldest first (the sidebar and the queue)."""
    return list(store.open_db()["runs"].rows_where("status in ('queued', 'running', 'cancelling')",
                                                   order_by="id"))


def list_runs() -> list[dict]:
    return list(store.open_db()["runs"].rows_where(order_by="id desc"))


def run_config(run: dict) -> TrainConfig:
    return TrainConfig.from_dict(json.loads(run["config_json"]))


def run_progress(run: dict) -> dict:
    return json.loads(run["progress_json"]) if run.get("progress_json") else {}


def run_metrics(run_id: int, names: tuple[str, ...] | None = None) -> list[dict]:
    db = store.open_db()
    where, args = "run_id = ?", [run_id]
    if names:
        where += f" and name in ({', '.join('?' for _ in names)})"
        args += list(names)
    return list(db["metrics"].rows_where(where, args, order_by="step, rowid"))


def run_metrics_after(run_id: int, after_rowid: int = 0) -> list[dict]:
    """The metric rows of a run written after row `after_rowid`, oldest first, each with its `rowid`.

    The live view keeps what it has and asks for these only, instead of the whole table every poll.
    """
    rows = store.open_db().execute(
        "select rowid, step, epoch, name, value, ts from metrics where run_id = ? and rowid > ? order by rowid",
        [run_id, after_rowid]).fetchall()
    return [dict(zip(("rowid", "step", "epoch", "name", "value", "ts"), row, strict=True)) for row in rows]


def final_metrics(run_id: int) -> dict[str, float]:
    """The last value of each metric of a run."""
    rows = store.open_db().execute(
        "select name, value from metrics where run_id = ? and rowid in "
        "(select max(rowid) from metrics where run_id = ? group by name)", [run_id, run_id]).fetchall()
    return dict(rows)


def duration_seconds(run: dict) -> float | None:
    if not run.get("started"):
        return None
    end = datetime.fromisoformat(run["finished"]) if run.get("finished") else datetime.now().astimezone()
    return (end - datetime.fromisoformat(run["started"])).total_seconds()


def has_validation(run: dict) -> bool:
    _, revision = repository.revision_by_id(run["dataset_revision_id"])
    return bool(revision.split and revision.split.validation)


def run_folder(name: str) -> Path:
    folder = paths.runs_dir() / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def log_tail(name: str, lines: int = 40) -> str:
    log = paths.runs_dir() / name / "train.log"
    if not log.exists():
        return ""
    with open(log, "rb") as handle:
        handle.seek(max(0, log.stat().st_size - 64_000))
        return "\n".join(handle.read().decode(errors="replace").splitlines()[-lines:])


def latest_checkpoint(name: str) -> Path | None:
    folder = paths.runs_dir() / name / "checkpoints"
    found = [p for p in folder.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()]
    return max(found, key=lambda p: int(p.name.split("-")[-1]), default=None)


def wait_for(run_id: int, poll: float = 1.0, on_update: Callable[[dict], None] | None = None,
             timeout: float | None = None) -> dict:
    """Block until the run ends (for the CLI's --wait and for scripts); returns the final run row."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        mark_interrupted()
        run = get_run(run_id)
        if on_update:
            on_update(run)
        if run["status"] in TERMINAL:
            return run
        if run["status"] == "queued":
            schedule()
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"Run {run['name']!r} still {run['status']} after {timeout:.0f} s.")
        time.sleep(poll)


def _check_rows(dataset: str, revision: repository.Revision) -> None:
    info = repository.get_dataset(dataset)
    rows = repository.read_revision_rows(revision)
    errors = [p for p in formats.validate_rows(rows, info.format, f"{dataset}.jsonl") if p.severity == "error"]
    if errors:
        shown = "\n".join(str(p) for p in errors[:5])
        raise RunError(f"Dataset {dataset!r} revision {revision.n} has {len(errors)} row error(s); fix them on the "
                       f"Datasets page first:\n{shown}")
    if len(rows) < 2:
        raise RunError(f"Dataset {dataset!r} revision {revision.n} has {len(rows)} row(s): add at least 2.")


def _default_name(config: TrainConfig) -> str:
    base = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(config.base_model.rstrip("/")).name)[:30].strip("-.") or "base"
    return f"{config.dataset[:30]}-{base}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def _unique_name(db, name: str) -> str:
    if not RUN_NAME.match(name):
        raise RunError(f"{name!r} is not a valid run name: use letters, digits, '.', '_' or '-' (up to 80).")
    candidate, n = name, 2
    while db["runs"].count_where("name = ?", [candidate]) or (paths.adapters_dir() / candidate).exists():
        candidate, n = f"{name}-{n}", n + 1
    return candidate


def _gpu_count() -> int:
    try:
        import torch

        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    except ImportError:
        return 0
