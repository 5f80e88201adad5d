"""The SQLite registry (sqlite-utils): schema, migrations and connection.

One file, `workbench.db` under WORKBENCH_HOME, opened in WAL mode because the app and the
training worker write to it concurrently. The schema version lives in `PRAGMA user_version`;
each entry of MIGRATIONS brings the database one version forward.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import sqlite_utils

from workbench import paths
from workbench.errors import WorkbenchError


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def row_id(inserted: sqlite_utils.db.Table) -> int:
    """The id of the row `table.insert(...)` just wrote."""
    pk = inserted.last_pk
    assert pk is not None, f"{inserted.name}: insert wrote no row"
    return int(pk)


@contextmanager
def transaction(db: sqlite_utils.Database) -> Iterator[sqlite_utils.Database]:
    """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on any exception): serialises writers across tabs and processes."""
    db.conn.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.conn.execute("ROLLBACK")
        raise
    db.conn.execute("COMMIT")


def _v1(db: sqlite_utils.Database) -> None:
    db.table("datasets").create(
        {"id": int, "name": str, "format": str, "created": str, "updated": str},
        pk="id",
        not_null={"name", "format"},
    )
    db.table("datasets").create_index(["name"], unique=True)
    db.table("revisions").create(
        {
            "id": int,
            "dataset_id": int,
            "n": int,
            "sha256": str,
            "rows": int,
            "created": str,
            "note": str,
            "path": str,
            "split_json": str,
        },
        pk="id",
        foreign_keys=[("dataset_id", "datasets", "id")],
    )
    db.table("revisions").create_index(["dataset_id", "n"], unique=True)
    db.table("runs").create(
        {
            "id": int,
            "name": str,
            "status": str,
            "config_json": str,
            "dataset_revision_id": int,
            "base_model": str,
            "adapter_dir": str,
            "pid": int,
            "created": str,
            "started": str,
            "finished": str,
            "error": str,
            "progress_json": str,
        },
        pk="id",
        foreign_keys=[("dataset_revision_id", "revisions", "id")],
    )
    db.table("runs").create_index(["name"], unique=True)
    db.table("metrics").create(
        {"run_id": int, "step": int, "epoch": float, "name": str, "value": float, "ts": str},
        foreign_keys=[("run_id", "runs", "id")],
    )
    db.table("metrics").create_index(["run_id", "name", "step"])
    db.table("evals").create(
        {
            "id": int,
            "run_id": int,
            "split": str,
            "metric": str,
            "base_value": float,
            "adapter_value": float,
            "created": str,
        },
        pk="id",
        foreign_keys=[("run_id", "runs", "id")],
    )
    db.table("eval_rows").create(
        {
            "id": int,
            "run_id": int,
            "row_index": int,
            "prompt": str,
            "reference": str,
            "base_output": str,
            "adapter_output": str,
            "details_json": str,
        },
        pk="id",
        foreign_keys=[("run_id", "runs", "id")],
    )
    db.table("publishes").create(
        {
            "id": int,
            "run_id": int,
            "target": str,
            "name": str,
            "host": str,
            "created": str,
            "status": str,
            "details_json": str,
        },
        pk="id",
        foreign_keys=[("run_id", "runs", "id")],
    )


def _v2(db: sqlite_utils.Database) -> None:
    # How the app asks a running worker to stop: "stop" (save the adapter as it stands) or "keep_best".
    db.table("runs").add_column("stop_mode", str)
    # Set when a run is queued to continue from its last checkpoint rather than start afresh.
    db.table("runs").add_column("resume", int, not_null_default=0)


def _v3(db: sqlite_utils.Database) -> None:
    # Held-out evaluation jobs (workbench/evaluation/runner.py). No foreign key to runs: deleting a run
    # deletes its jobs by run_id, like its metrics.
    db.table("eval_jobs").create(
        {
            "id": int,
            "run_id": int,
            "status": str,
            "split": str,
            "limit_n": int,
            "revision_id": int,
            "pid": int,
            "created": str,
            "started": str,
            "finished": str,
            "error": str,
            "progress_json": str,
        },
        pk="id",
    )
    db.table("eval_jobs").create_index(["run_id", "id"])
    # Results belong to the job that wrote them, so that a re-evaluation replaces the old ones cleanly.
    db.table("evals").add_column("job_id", int)
    db.table("eval_rows").add_column("job_id", int)
    db.table("evals").create_index(["run_id", "job_id"])
    db.table("eval_rows").create_index(["run_id", "job_id", "row_index"])


# Lifecycle columns that v4 moves from `runs` into the run's training job.
_RUN_LIFECYCLE = ("status", "pid", "started", "finished", "error", "progress_json", "stop_mode", "resume")


def _v4(db: sqlite_utils.Database) -> None:
    """One job model (workbench/jobs): every kind of background work is a row of `jobs`.

    Each run gets a `train` job carrying the lifecycle it had (status, pid, progress, error, ...); each
    evaluation job becomes an `evaluate` job, its results re-pointed to the new id; `eval_jobs` and the
    lifecycle columns of `runs` go. `publishes` stays: it lists outcomes (models in Ollama, folders on disk).
    """
    db.table("jobs").create(
        {
            "id": int,
            "kind": str,
            "run_id": int,
            "title": str,
            "status": str,
            "pid": int,
            "args_json": str,
            "progress_json": str,
            "result_json": str,
            "error": str,
            "stop_mode": str,
            "log": str,
            "created": str,
            "started": str,
            "finished": str,
            "heartbeat": str,
        },
        pk="id",
        not_null={"kind", "status"},
    )
    db.table("jobs").create_index(["status", "id"])
    db.table("jobs").create_index(["run_id", "kind", "id"])
    names = {}
    for run in list(db.query("select * from runs order by id")):
        names[run["id"]] = run["name"]
        db.table("jobs").insert(
            {
                "kind": "train",
                "run_id": run["id"],
                "title": f"Train {run['name']}",
                "status": run["status"] or "failed",
                "pid": run["pid"],
                "args_json": json.dumps({"resume": bool(run.get("resume"))}),
                "progress_json": run["progress_json"],
                "error": run["error"],
                "stop_mode": run.get("stop_mode"),
                "log": f"runs/{run['name']}/train.log",
                "created": run["created"],
                "started": run["started"],
                "finished": run["finished"],
            }
        )
    db.execute("update evals set job_id = -job_id where job_id is not null")
    db.execute("update eval_rows set job_id = -job_id where job_id is not null")
    for job in list(db.query("select * from eval_jobs order by id")):
        name = names.get(job["run_id"], f"run {job['run_id']}")
        new_id = (
            db.table("jobs")
            .insert(
                {
                    "kind": "evaluate",
                    "run_id": job["run_id"],
                    "title": f"Evaluate {name}",
                    "status": job["status"],
                    "pid": job["pid"],
                    "args_json": json.dumps(
                        {"split": job["split"], "limit": job["limit_n"], "revision_id": job["revision_id"]}
                    ),
                    "progress_json": job["progress_json"],
                    "error": job["error"],
                    "log": f"runs/{name}/eval.log",
                    "created": job["created"],
                    "started": job["started"],
                    "finished": job["finished"],
                }
            )
            .last_pk
        )
        for table in ("evals", "eval_rows"):
            db.execute(f"update {table} set job_id = ? where job_id = ?", [new_id, -job["id"]])
    db.table("eval_jobs").drop()
    for column in _RUN_LIFECYCLE:
        db.execute(f"alter table runs drop column {column}")


def _v5(db: sqlite_utils.Database) -> None:
    """Experiments (workbench/experiments): a named group of runs that vary a few settings, ranked by a
    held-out metric. A run keeps which experiment it belongs to and its trial's settings; older runs belong to
    none."""
    db.table("experiments").create(
        {
            "id": int,
            "name": str,
            "base_model": str,
            "dataset_revision_id": int,
            "config_json": str,
            "sweep_json": str,
            "metric": str,
            "created": str,
            "note": str,
        },
        pk="id",
        not_null={"name"},
    )
    db.table("experiments").create_index(["name"], unique=True)
    db.table("runs").add_column("experiment_id", int)
    db.table("runs").add_column("trial_json", str)
    db.table("runs").create_index(["experiment_id"])


MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [_v1, _v2, _v3, _v4, _v5]
SCHEMA_VERSION = len(MIGRATIONS)


class SchemaError(WorkbenchError, RuntimeError):
    """The registry was written by a newer workbench."""


class RegistryError(WorkbenchError, RuntimeError):
    """The registry file cannot be used right now: locked too long, damaged, or on a full disk."""


class RegistryBusy(RegistryError):
    pass


class RegistryDamaged(RegistryError):
    pass


class RegistryFull(RegistryError):
    pass


def busy_timeout() -> float:
    """Seconds a write waits for another writer before giving up (WORKBENCH_DB_TIMEOUT, default 30)."""
    try:
        return max(0.1, float(os.environ.get("WORKBENCH_DB_TIMEOUT", "30")))
    except ValueError:
        return 30.0


_FAULTS = ("locked", "busy", "malformed", "not a database", "disk i/o error", "database disk image", "is full")


def is_registry_fault(exc: BaseException) -> bool:
    """A locked, damaged or full registry, as opposed to a bug (an integrity or programming error)."""
    if isinstance(exc, sqlite3.IntegrityError | sqlite3.ProgrammingError | sqlite3.InterfaceError):
        return False
    return isinstance(exc, sqlite3.DatabaseError) and any(word in str(exc).lower() for word in _FAULTS)


def explain(exc: sqlite3.DatabaseError, path: Path | None = None) -> RegistryError:
    """What a user can do about a database error the registry raised (locked, damaged, unreadable)."""
    path = Path(path) if path else paths.db_path()
    text = str(exc)
    if "is full" in text:
        return RegistryFull(
            f"The disk holding the registry {path} is full ({text}): free some space and try again. Nothing "
            "was changed."
        )
    if "locked" in text or "busy" in text:
        return RegistryBusy(
            f"The registry {path} stayed locked by another process for {busy_timeout():g} s ({text}). Another "
            "workbench command, the app or a training job is writing to it: wait for it and try again "
            f"(`fuser {path}` names the process). Nothing was changed."
        )
    return RegistryDamaged(
        f"The registry {path} is damaged ({text}). Your datasets and adapters on disk are not touched. "
        "Rebuild the registry from them with `python -m workbench registry rebuild` (or the button in the app): "
        "the damaged file is kept beside it as workbench.db.damaged-<time>. Evaluations, publish records and "
        "job history live only in the registry and are not rebuilt."
    )


def _connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    timeout = busy_timeout()
    conn = sqlite3.connect(str(path), timeout=timeout, check_same_thread=False, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def migrate(db: sqlite_utils.Database) -> None:
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise SchemaError(
            f"{paths.db_path()} has schema version {version}, newer than this workbench "
            f"({SCHEMA_VERSION}). Update the workbench (git pull) before opening it."
        )
    for target in range(version, SCHEMA_VERSION):
        with transaction(db):
            current = db.execute("PRAGMA user_version").fetchone()[0]
            if current > target:  # another process migrated meanwhile
                continue
            MIGRATIONS[target](db)
            db.conn.execute(f"PRAGMA user_version={target + 1}")


def open_db(path: Path | None = None) -> sqlite_utils.Database:
    """Open (creating and migrating on first use) the registry under WORKBENCH_HOME."""
    path = Path(path) if path else paths.db_path()
    try:
        db = sqlite_utils.Database(_connect(path))
        migrate(db)
    except sqlite3.DatabaseError as exc:
        if not is_registry_fault(exc):
            raise
        raise explain(exc, path) from exc
    return db
