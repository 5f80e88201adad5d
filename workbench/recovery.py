"""Rebuild a damaged registry from what is on disk: datasets and their revisions, adapters and their runs.

The damaged `workbench.db` (with its -wal and -shm files) is moved aside, never deleted. Datasets come back
from `datasets/.history/<name>/` (every revision file, with the notes and splits of `dataset.json`), runs
from each `adapters/<name>/workbench_run.json` with their metrics from `loss_history.json`, and the
experiments those runs belonged to (with each run's trial) from the same file. Evaluations, publish records,
the job history and an experiment's runs that had not finished exist only in the registry: the report says so.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from workbench import paths, store
from workbench.data.records import STORED_FORMATS
from workbench.jobs import registry
from workbench.training.config import TrainConfig

REVISION_FILE = re.compile(r"^r(\d{6})\.jsonl$")


@dataclass
class RebuildReport:
    damaged_kept_as: Path | None
    datasets: list[str] = field(default_factory=list)
    revisions: int = 0
    runs: list[str] = field(default_factory=list)
    experiments: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "what: why", for each thing left out

    def summary(self) -> str:
        kept = f"The damaged registry is kept as {self.damaged_kept_as}. " if self.damaged_kept_as else ""
        text = (
            f"{kept}Rebuilt from disk: {len(self.datasets)} dataset(s) with {self.revisions} revision(s), "
            f"{len(self.runs)} run(s) with their adapters and metrics"
            f"{f', {len(self.experiments)} experiment(s) of their finished runs' if self.experiments else ''}. "
            "Evaluations, publish records and job history lived only in the registry: evaluate and publish again "
            "where you need them."
        )
        return text + "".join(f"\nNot rebuilt: {item}" for item in self.skipped)


def registry_problem() -> store.RegistryError | None:
    """The registry's own check (`PRAGMA quick_check`): None when it is sound."""
    try:
        db = store.open_db()
        verdict = db.execute("PRAGMA quick_check").fetchone()[0]
    except store.RegistryError as exc:
        return exc
    except sqlite3.DatabaseError as exc:
        return store.explain(exc) if store.is_registry_fault(exc) else None
    if verdict != "ok":
        return store.explain(sqlite3.DatabaseError(f"quick_check: {verdict}"))
    return None


def rebuild() -> RebuildReport:
    """Move the registry aside and build a new one from the files on disk."""
    report = RebuildReport(damaged_kept_as=_move_aside(paths.db_path()))
    db = store.open_db()
    revision_ids: dict[tuple[str, int], int] = {}
    for folder in sorted((paths.datasets_dir() / ".history").glob("*")):
        if folder.is_dir():
            _restore_dataset(db, folder, report, revision_ids)
    for run_file in sorted(paths.adapters_dir().glob(f"*/{paths.RUN_FILE}")):
        _restore_run(db, run_file, report, revision_ids)
    return report


def _move_aside(path: Path) -> Path | None:
    if not path.exists():
        return None
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    kept = path.with_name(f"{path.name}.damaged-{stamp}")
    for suffix in ("", "-wal", "-shm"):
        part = Path(f"{path}{suffix}")
        if part.exists():
            part.rename(Path(f"{kept}{suffix}"))
    return kept


def _manifest(folder: Path) -> dict:
    try:
        return json.loads((folder / "dataset.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _restore_dataset(db, folder: Path, report: RebuildReport, revision_ids: dict) -> None:
    name = folder.name
    files = sorted((int(m.group(1)), f) for f in folder.iterdir() if (m := REVISION_FILE.match(f.name)))
    if not files:
        report.skipped.append(f"dataset {name}: no revision files in {folder}")
        return
    manifest = _manifest(folder)
    known = {r["n"]: r for r in manifest.get("revisions", []) if isinstance(r, dict) and "n" in r}
    try:
        fmt = manifest.get("format") or _format_of(files[-1][1])
    except (OSError, ValueError):
        fmt = None
    if fmt not in STORED_FORMATS:
        report.skipped.append(f"dataset {name}: cannot tell its format from {files[-1][1]}")
        return
    stamp = store.now()
    with store.transaction(db):
        dataset_id = store.row_id(
            db.table("datasets").insert(
                {"name": name, "format": fmt, "created": manifest.get("created") or stamp, "updated": stamp}
            )
        )
        for n, file in files:
            data = file.read_bytes()
            sha = hashlib.sha256(data).hexdigest()
            entry = known.get(n, {})
            same = entry.get("sha256") == sha
            revision_ids[(name, n)] = store.row_id(
                db.table("revisions").insert(
                    {
                        "dataset_id": dataset_id,
                        "n": n,
                        "sha256": sha,
                        "rows": sum(1 for line in data.splitlines() if line.strip()),
                        "created": entry.get("created") or stamp,
                        "note": entry.get("note") if same else "recovered from disk",
                        "path": file.relative_to(paths.home()).as_posix(),
                        "split_json": json.dumps(entry["split"]) if same and entry.get("split") else None,
                    }
                )
            )
            report.revisions += 1
    report.datasets.append(name)


def _format_of(file: Path) -> str | None:
    for line in file.read_text(encoding="utf-8").splitlines():
        if line.strip():
            return "chat" if "messages" in json.loads(line) else "alpaca"
    return None


def _restore_run(db, run_file: Path, report: RebuildReport, revision_ids: dict) -> None:
    folder = run_file.parent
    try:
        record = json.loads(run_file.read_text(encoding="utf-8"))
        config = TrainConfig.from_dict(record["config"])
        revision_id = revision_ids[(record["dataset"], int(record["dataset_revision"]))]
    except KeyError:
        report.skipped.append(f"adapter {folder.name}: its dataset revision is not on disk")
        return
    except (OSError, ValueError, TypeError) as exc:
        report.skipped.append(f"adapter {folder.name}: {run_file.name} cannot be read ({exc})")
        return
    name = str(record.get("run") or folder.name)
    with store.transaction(db):
        run_id = store.row_id(
            db.table("runs").insert(
                {
                    "name": name,
                    "config_json": config.to_json(),
                    "dataset_revision_id": revision_id,
                    "base_model": config.base_model,
                    "created": record.get("created") or store.now(),
                    "adapter_dir": paths.relative_to_home(folder),
                }
            )
        )
        job_id = registry.create("train", f"Train {name}", run_id=run_id, args={"rebuilt": True}, db=db)
        registry.finish(job_id, record.get("status") or "completed", db=db)
        db.table("metrics").insert_all(
            {**row, "run_id": run_id} for row in _history(folder) if {"step", "name", "value"} <= row.keys()
        )
        _restore_experiment(db, run_id, record.get("experiment"), revision_id, report)
    report.runs.append(name)


def _restore_experiment(db, run_id: int, experiment: dict | None, revision_id: int, report: RebuildReport) -> None:
    """Put the run back in its experiment, creating the experiment for its first run found on disk."""
    if not isinstance(experiment, dict) or not experiment.get("name"):
        return
    name = str(experiment["name"])
    found = db.execute("select id from experiments where name = ?", [name]).fetchone()
    if found:
        experiment_id = found[0]
    else:
        experiment_id = store.row_id(
            db.table("experiments").insert(
                {
                    "name": name,
                    "base_model": experiment.get("config", {}).get("base_model"),
                    "dataset_revision_id": revision_id,
                    "config_json": json.dumps(experiment.get("config") or {}),
                    "sweep_json": json.dumps(experiment.get("sweep") or {}),
                    "metric": experiment.get("metric") or "exact_match",
                    "created": experiment.get("created") or store.now(),
                    "note": "rebuilt from disk: only its finished runs",
                }
            )
        )
        report.experiments.append(name)
    trial = json.dumps(experiment.get("trial") or {})
    db.table("runs").update(run_id, {"experiment_id": experiment_id, "trial_json": trial})


def _history(folder: Path) -> list[dict]:
    try:
        rows = json.loads((folder / paths.HISTORY_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [row for row in rows if isinstance(row, dict)]
