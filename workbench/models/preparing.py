"""Model preparation as a job: `start_prepare` queues it, the jobs worker runs `prepare_job` in the background,
so that closing the browser tab does not lose it."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from workbench import paths
from workbench.jobs import queue, registry
from workbench.models import catalog, local

PROGRESS_EVERY_SECONDS = 1.0


def start_prepare(name: str) -> int:
    """Queue the preparation of catalogue model `name` (it starts at once: it is downloads and conversion).
    Returns the job id; a preparation of the same model already under way is returned instead."""
    item = catalog.entry(name)
    for job in registry.list_jobs(kind="prepare", statuses=registry.ACTIVE):
        if registry.args(job).get("name") == item.name:
            return job["id"]
    job_id = registry.create(
        "prepare", f"Prepare {item.name}", args={"name": item.name}, log=paths.prepare_log(item.name)
    )
    queue.schedule()
    return job_id


def start_add_gguf(path: str | Path, name: str | None = None) -> int:
    """Queue the conversion of a GGUF file on this machine into `models/<name>/`; returns the job id."""
    file, name = local.check_gguf(path, name)
    job_id = registry.create(
        "prepare", f"Add {name} from {file.name}", args={"name": name, "gguf": str(file)}, log=paths.prepare_log(name)
    )
    queue.schedule()
    return job_id


def active_preparation(name: str) -> dict | None:
    """The queued or running preparation job of `name`, if any."""
    return next(
        (
            job
            for job in registry.list_jobs(kind="prepare", statuses=registry.ACTIVE)
            if registry.args(job).get("name") == name
        ),
        None,
    )


def latest_preparation(name: str) -> dict | None:
    return next((job for job in registry.list_jobs(kind="prepare") if registry.args(job).get("name") == name), None)


def line_printer() -> Callable[[str, float | None], None]:
    """A progress callback for `catalog.prepare` that prints each new step once: “[ 40%] Downloading…”."""
    last: dict[str, str | None] = {"line": None}

    def show(message: str, fraction: float | None) -> None:
        percent = "    " if fraction is None else f"{fraction * 100:3.0f}%"
        line = f"[{percent}] {message}"
        if line != last["line"]:
            last["line"] = line
            print(line, flush=True)

    return show


def prepare_job(job: dict) -> tuple[str, dict]:
    """The `prepare` kind's handler: prepare the model, its progress in the job and each step in the log."""
    name = registry.args(job)["name"]
    show = line_printer()
    last = {"at": 0.0}

    def progress(message: str, fraction: float | None) -> None:
        show(message, fraction)
        if time.monotonic() - last["at"] >= PROGRESS_EVERY_SECONDS or fraction == 1.0:
            last["at"] = time.monotonic()
            registry.set_progress(
                job["id"],
                {
                    "phase": message,
                    "unit": "%",
                    "total": 100,
                    "done": None if fraction is None else round(fraction * 100),
                },
            )

    started = time.monotonic()
    gguf = registry.args(job).get("gguf")
    path = local.convert_gguf_file(Path(gguf), name, progress) if gguf else catalog.prepare(name, progress)
    print(
        f"{name} ready at {path} ({time.monotonic() - started:.0f} s). Use it as the base model {name!r}.", flush=True
    )
    return "completed", {"path": str(path)}
