"""The SQLite registry (sqlite-utils): schema, migrations and connection.

One file, `workbench.db` under WORKBENCH_HOME, opened in WAL mode because the app and the
training worker write to it concurrently. The schema version lives in `PRAGMA user_version`;
each entry of MIGRATIONS brings the database one version forward.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import sqlite_utils

from workbench import paths

RUN_STATUSES = ("queued", "running", "cancelling", "cancelled", "completed", "failed", "interrupted")
ACTIVE_RUN_STATUSES = ("queued", "running", "cancelling")


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _v1(db: sqlite_utils.Database) -> None:
    db["datasets"].create(
        {"id": int, "name": str, "format": str, "created": str, "updated": str},
        pk="id", not_null={"name", "format"},
    )
    db["datasets"].create_index(["name"], unique=True)
    db["revisions"].create(
        {"id": int, "dataset_id": int, "n": int, "sha256": str, "rows": int, "created": str,
         "note": str, "path": str, "split_json": str},
        pk="id", foreign_keys=[("dataset_id", "datasets", "id")],
    )
    db["revisions"].create_index(["dataset_id", "n"], unique=True)
    db["runs"].create(
        {"id": int, "name": str, "status": str, "config_json": str, "dataset_revision_id": int,
         "base_model": str, "adapter_dir": str, "pid": int, "created": str, "started": str,
         "finished": str, "error": str, "progress_json": str},
        pk="id", foreign_keys=[("dataset_revision_id", "revisions", "id")],
    )
    db["runs"].create_index(["name"], unique=True)
    db["metrics"].create(
        {"run_id": int, "step": int, "epoch": float, "name": str, "value": float, "ts": str},
        foreign_keys=[("run_id", "runs", "id")],
    )
    db["metrics"].create_index(["run_id", "name", "step"])
    db["evals"].create(
        {"id": int, "run_id": int, "split": str, "metric": str, "base_value": float,
         "adapter_value": float, "created": str},
        pk="id", foreign_keys=[("run_id", "runs", "id")],
    )
    db["eval_rows"].create(
        {"id": int, "run_id": int, "row_index": int, "prompt": str, "reference": str,
         "base_output": str, "adapter_output": str, "details_json": str},
        pk="id", foreign_keys=[("run_id", "runs", "id")],
    )
    db["publishes"].create(
        {"id": int, "run_id": int, "target": str, "name": str, "host": str, "created": str,
         "status": str, "details_json": str},
        pk="id", foreign_keys=[("run_id", "runs", "id")],
    )


def _v2(db: sqlite_utils.Database) -> None:
    # How the app asks a running worker to stop: "stop" (save the adapter as it stands) or "keep_best".
    db["runs"].add_column("stop_mode", str)
    # Set when a run is queued to continue from its last checkpoint rather than start afresh.
    db["runs"].add_column("resume", int, not_null_default=0)


def _v3(db: sqlite_utils.Database) -> None:
    # Held-out evaluation jobs (workbench/evaluation/runner.py). No foreign key to runs: deleting a run
    # deletes its jobs by run_id, like its metrics.
    db["eval_jobs"].create(
        {"id": int, "run_id": int, "status": str, "split": str, "limit_n": int, "revision_id": int, "pid": int,
         "created": str, "started": str, "finished": str, "error": str, "progress_json": str},
        pk="id",
    )
    db["eval_jobs"].create_index(["run_id", "id"])
    # Results belong to the job that wrote them, so that a re-evaluation replaces the old ones cleanly.
    db["evals"].add_column("job_id", int)
    db["eval_rows"].add_column("job_id", int)
    db["evals"].create_index(["run_id", "job_id"])
    db["eval_rows"].create_index(["run_id", "job_id", "row_index"])


MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [_v1, _v2, _v3]
SCHEMA_VERSION = len(MIGRATIONS)


def _connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), timeout=30, check_same_thread=False, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA busy_timeout=30000")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def migrate(db: sqlite_utils.Database) -> None:
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise RuntimeError(
            f"{paths.db_path()} has schema version {version}, newer than this workbench "
            f"({SCHEMA_VERSION}). Update the workbench (git pull) before opening it."
        )
    for target in range(version, SCHEMA_VERSION):
        with db.conn:
            db.conn.execute("BEGIN IMMEDIATE")
            current = db.execute("PRAGMA user_version").fetchone()[0]
            if current > target:  # another process migrated meanwhile
                continue
            MIGRATIONS[target](db)
            db.conn.execute(f"PRAGMA user_version={target + 1}")


def open_db(path: Path | None = None) -> sqlite_utils.Database:
    """Open (creating and migrating on first use) the registry under WORKBENCH_HOME."""
    db = sqlite_utils.Database(_connect(Path(path) if path else paths.db_path()))
    migrate(db)
    return db
