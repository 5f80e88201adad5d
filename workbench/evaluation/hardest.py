"""The training rows an adapter finds hardest: its loss on each row's answer, one forward pass per row (a job
of kind `hardest`), highest first. A wrong label is what most often holds a small dataset back, and it shows
as a row the adapter cannot learn.

A killed job is queued again whole (`registry.requeue`): a forward pass per row is quick next to training.
"""

from __future__ import annotations

import contextlib
import functools
import os
import time

from workbench import paths, store
from workbench.data import repository
from workbench.errors import WorkbenchError
from workbench.evaluation import heldout, losses
from workbench.inference.engine import Engine
from workbench.jobs import queue, registry
from workbench.jobs import worker as jobs_worker
from workbench.training import runs
from workbench.training.data import training_prompt

KIND = "hardest"
LOG_FILE = "hardest.log"
PROGRESS_EVERY_SECONDS = 1.0


class HardestError(WorkbenchError, ValueError):
    """Hardest rows that cannot be found as asked; the message says why and what to do."""


def create_hardest(run_id: int | str) -> int:
    """Queue a job measuring the adapter's loss on each training row of its run; returns the job id."""
    run = runs.get_run(run_id)
    heldout.adapter_path(run)
    dataset, revision = repository.revision_by_id(runs.evaluation_revision_id(run))
    indices = heldout.select_indices(revision, "train", None, dataset)
    return registry.create(
        KIND,
        f"Hardest rows of {run['name']} ({len(indices)} training rows of {dataset} r{revision.n})",
        run_id=run["id"],
        args={"revision_id": revision.id},
        log=paths.run_dir(run["name"]) / LOG_FILE,
        progress={"done": 0, "total": len(indices), "unit": "rows", "eta_seconds": None},
    )


def start_hardest(run_id: int | str) -> int:
    job_id = create_hardest(run_id)
    queue.schedule()
    return job_id


def run_hardest(job_id: int) -> str:
    """Run the job in this process (the CLI, tests); returns its final status."""
    return jobs_worker.run(job_id, functools.partial(hardest_job, echo=False))


def latest_job(run_id: int) -> dict | None:
    return registry.latest(run_id, KIND)


def hardest_rows(job: dict) -> list[dict]:
    """{"row" (1-based, in the dataset revision), "loss", "tokens"} of each measured row, highest loss first."""
    return registry.result(job).get("rows") or []


def hardest_job(job: dict, echo: bool = True) -> tuple[str, dict]:
    """The `hardest` kind's handler: returns (completed | cancelled, {"rows": [...], "unscored": [...]})."""
    say = print if echo else (lambda *_: None)
    run = runs.get_run(job["run_id"])
    config = runs.run_config(run)
    dataset, revision = repository.revision_by_id(registry.args(job)["revision_id"])
    fmt = repository.get_dataset(dataset).format
    rows = repository.read_revision_rows(revision)
    indices = heldout.select_indices(revision, "train", None, dataset)
    pairs = [training_prompt(rows[i], fmt, config) for i in indices]
    say(f"=== Hardest rows of run {run['name']} · {store.now()} · pid {os.getpid()}: {len(pairs)} training rows")
    quantization = "4bit" if config.method == "qlora" else "none"
    engine = Engine(config.base_model, quantization=quantization, trust_remote_code=config.trust_remote_code)
    started, last = time.monotonic(), -PROGRESS_EVERY_SECONDS
    stopped = False

    def on_row(done: int) -> bool:
        nonlocal last, stopped
        now = time.monotonic()
        if now - last < PROGRESS_EVERY_SECONDS and done < len(pairs):
            return True
        last = now
        eta = round((now - started) / done * (len(pairs) - done), 1)
        registry.set_progress(
            job["id"], {"phase": "measuring", "done": done, "total": len(pairs), "unit": "rows", "eta_seconds": eta}
        )
        stopped = bool(registry.stop_requested(job["id"]))
        return not stopped

    try:
        name = engine.attach(str(heldout.adapter_path(run)), run["name"])
        per_row = losses.row_losses(engine, name, pairs, config.max_length, on_row=on_row)
    finally:
        with contextlib.suppress(Exception):
            engine.unload()
    measured = [
        {"row": indices[i] + 1, "loss": round(found[0], 4), "tokens": found[1]}
        for i, found in enumerate(per_row)
        if found is not None
    ]
    measured.sort(key=lambda r: r["loss"], reverse=True)
    unscored = [indices[i] + 1 for i, found in enumerate(per_row) if found is None]
    registry.set_progress(job["id"], {"phase": "done", "done": len(per_row), "total": len(pairs), "unit": "rows"})
    say(f"{len(measured)} rows measured in {time.monotonic() - started:.1f} s; the hardest:")
    for row in measured[:5]:
        say(f"  row {row['row']}: loss {row['loss']:.3f} over {row['tokens']} answer tokens")
    return ("cancelled" if stopped else "completed"), {"rows": measured, "unscored": unscored, "dataset": dataset}
