"""Runs: create, queue, cancel, resume, delete, and read runs with the state of their training job.

A run is a row in the registry (name, config, dataset revision, base, adapter folder) plus two folders:
`runs/<name>/` (train.log, checkpoints) and `adapters/<name>/` (the result). Its lifecycle is its
training job's (workbench/jobs): `get_run` and friends return the run's row with the job's status, pid,
progress, error, stop_mode, started and finished merged in, so readers see one record.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
import shutil
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import yaml

from workbench import paths, store
from workbench.data import formats, repository
from workbench.errors import WorkbenchError
from workbench.fileio import write_text_atomic
from workbench.jobs import devices, queue, registry
from workbench.models.loading import same_base
from workbench.training.config import TrainConfig
from workbench.training.objectives import objective_for, wrong_kind

TERMINAL = registry.TERMINAL
RUN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")
CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
LOG_FILE = "train.log"
# The run's row and its newest training job's lifecycle, as one record.
_SELECT = (
    "select runs.*, jobs.id as job_id, jobs.status, jobs.pid, jobs.started, jobs.finished, jobs.error, "
    "jobs.progress_json, jobs.stop_mode, jobs.result_json, jobs.args_json as job_args_json from runs "
    "left join jobs on jobs.id = "
    "(select max(j.id) from jobs j where j.run_id = runs.id and j.kind = 'train')"
)


class RunError(WorkbenchError, ValueError):
    """A run operation that cannot be done; the message says why and what to do."""


def create_run(config: TrainConfig, name: str | None = None, processes: int | None = None) -> int:
    """Validate and queue a run (it starts when `schedule()` finds the GPU free). It trains in `processes`
    processes, one per GPU (default: every visible GPU; 1 for an experiment's run, so that a sweep on several
    GPUs trains one run on each)."""
    config.validate()
    revision = repository.get_revision(config.dataset, config.dataset_revision)
    _check_rows(config, revision)
    starting_adapter(config)
    config = config.with_updates(dataset_revision=revision.n)
    placement = _placement(config, processes)
    db = store.open_db()
    with store.transaction(db):
        name = _unique_name(db, name or _default_name(config))
        run_id = store.row_id(
            db.table("runs").insert(
                {
                    "name": name,
                    "config_json": config.to_json(),
                    "dataset_revision_id": revision.id,
                    "base_model": config.base_model,
                    "created": store.now(),
                }
            )
        )
        registry.create(
            "train",
            f"Train {name}",
            run_id=run_id,
            db=db,
            log=paths.run_dir(name) / LOG_FILE,
            args={"resume": False, **placement, **_sharding(config, placement["processes"], name)},
        )
    return run_id


def _placement(config: TrainConfig, processes: int | None) -> dict:
    """The job's `processes` and `chosen_gpus` (jobs/devices.py reads them), after checking the GPUs exist."""
    visible = devices.gpu_count()
    missing = [gpu for gpu in config.chosen_gpus() if gpu >= visible]
    if missing:
        raise RunError(
            f"gpus: {config.gpus!r} — GPU {missing[0]} is not there: this machine shows {visible} GPU(s) "
            f"(numbered from 0). Choose among them, or leave gpus empty for all."
        )
    if config.num_processes > 1 and visible == 0 and config.method == "qlora":
        raise RunError("num_processes: QLoRA needs a CUDA GPU; on a CPU use method 'lora'.")
    return {"processes": processes or config.processes(visible), "chosen_gpus": config.chosen_gpus()}


def _sharding(config: TrainConfig, processes: int, name: str) -> dict:
    """On several GPUs: data parallel where the run fits one GPU, else FSDP through an accelerate config written
    beside the run (`runs/<run>/accelerate.yaml`, which the queue passes to `accelerate launch`)."""
    if processes < 2 or not devices.gpu_count():
        return {}
    from workbench.system import device_info
    from workbench.training import distributed
    from workbench.training.memory import model_shape_for

    try:
        shape = model_shape_for(config.base_model)
    except WorkbenchError:
        return {"strategy": "ddp"}
    strategy, _ = distributed.choose_strategy(config, shape, device_info().total_gb)
    if strategy == "ddp":
        return {"strategy": strategy}
    placement = distributed.Placement(processes_per_machine=processes, main_process_port=29500)
    file = paths.run_dir(name) / "accelerate.yaml"
    file.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(file, yaml.safe_dump(distributed.accelerate_config(config, placement, strategy)))
    return {"strategy": strategy, "accelerate_config": paths.relative_to_home(file)}


def start_run(config: TrainConfig, name: str | None = None) -> int:
    run_id = create_run(config, name)
    schedule()
    return run_id


def register_finished_run(
    name: str,
    config: TrainConfig,
    revision_id: int | None,
    adapter_dir: Path,
    status: str = "completed",
    note: str = "",
    metrics: list[dict] | tuple = (),
) -> int:
    """Record an adapter trained outside the worker (a benchmark's plain-TRL run, a checkpoint, an imported
    adapter with the metric rows it carried) as a run of its own, so that evaluation, Compare and Publish can
    use it."""
    db = store.open_db()
    with store.transaction(db):
        run_id = store.row_id(
            db.table("runs").insert(
                {
                    "name": _unique_name(db, name, adapter_dir),
                    "config_json": config.to_json(),
                    "dataset_revision_id": revision_id,
                    "base_model": config.base_model,
                    "created": store.now(),
                    "adapter_dir": paths.relative_to_home(Path(adapter_dir)),
                }
            )
        )
        job_id = registry.create("train", f"Train {name}", run_id=run_id, args={"external": note or True}, db=db)
        registry.finish(job_id, status, db=db)
        db.table("metrics").insert_all(
            {
                "run_id": run_id,
                "step": row["step"],
                "epoch": row.get("epoch"),
                "name": row["name"],
                "value": row["value"],
                "ts": row.get("ts") or store.now(),
            }
            for row in metrics
        )
    return run_id


def free_name(name: str) -> str:
    """`name`, or `name-2`, `name-3`…: the first that no run and no adapter folder has."""
    return _unique_name(store.open_db(), name)


def schedule() -> list[int]:
    """Start what the queue lets start now (one heavy job at a time); returns the job ids started."""
    return queue.schedule()


def cancel_run(run_id: int, keep_best: bool = False) -> str:
    """Ask a run to stop. A queued run is cancelled at once; a running one saves its adapter and stops."""
    run = get_run(run_id)
    if run["status"] not in registry.ACTIVE:
        raise RunError(f"Run {run['name']!r} is {run['status']}: only queued or running runs can be cancelled.")
    return registry.cancel(run["job_id"], "keep_best" if keep_best else "stop")


def resume_run(run_id: int) -> Path | None:
    """Queue an interrupted, failed or cancelled run to continue from its last complete checkpoint (from the
    start when it stopped before writing one); returns that checkpoint."""
    run = get_run(run_id)
    if run["status"] not in ("interrupted", "failed", "cancelled"):
        raise RunError(
            f"Run {run['name']!r} is {run['status']}: only interrupted, failed or cancelled runs can be resumed."
        )
    checkpoint = latest_checkpoint(run["name"])
    registry.requeue(run["job_id"], {"resume": checkpoint is not None})
    schedule()
    return checkpoint


def delete_run(run_id: int) -> None:
    run = get_run(run_id)
    if run["status"] in registry.RUNNING:
        raise RunError(f"Run {run['name']!r} is {run['status']}: cancel it before deleting it.")
    busy = [job for job in registry.list_jobs(run_id=run["id"], statuses=registry.RUNNING)]
    if busy:
        raise RunError(
            f"Run {run['name']!r} has a job in progress ({busy[0]['title']}, {busy[0]['status']}): "
            "cancel it or wait for it before deleting the run."
        )
    predictions = [job["id"] for job in registry.list_jobs(kind="predict", run_id=run["id"])]
    db = store.open_db()
    with store.transaction(db):
        for table in ("metrics", "evals", "eval_rows", "publishes", "jobs"):
            db.table(table).delete_where("run_id = ?", [run["id"]])
        db.table("runs").delete(run["id"])
    folders = [paths.run_dir(run["name"]), paths.adapter_dir(run["name"])]
    for folder in folders + [paths.prediction_dir(job_id) for job_id in predictions]:
        shutil.rmtree(folder, ignore_errors=True)


def mark_interrupted() -> list[int]:
    """Runs whose worker process is gone without a word (killed, machine restarted) become interrupted;
    returns their run ids (every lost job of any kind is swept)."""
    lost = set(registry.sweep_lost())
    return [run["id"] for run in _select("jobs.id in (" + ",".join(map(str, lost)) + ")")] if lost else []


# A run with an adapter to use: completed, cancelled keeping its best or last save, or imported from elsewhere.
WITH_ADAPTER = ("completed", "cancelled", "imported")


def finished_adapter(run: dict) -> Path | None:
    """The adapter folder of a completed (cancelled, imported) run, if it is there."""
    if run.get("status") not in WITH_ADAPTER or not run.get("adapter_dir"):
        return None
    folder = paths.in_home(run["adapter_dir"])
    return folder if (folder / "adapter_config.json").is_file() else None


def starting_adapter(config: TrainConfig) -> Path | None:
    """The adapter folder a run goes on training (`start_from`): a completed run's, on the same base."""
    if not config.start_from:
        return None
    try:
        run = get_run(config.start_from)
    except RunError:
        raise RunError(
            f"start_from: there is no run {config.start_from!r} to go on from; pick a completed run's name, or "
            "leave it empty to train a new adapter on the base."
        ) from None
    folder = finished_adapter(run)
    if folder is None:
        raise RunError(
            f"start_from: run {config.start_from!r} is {run.get('status')} and has no saved adapter; pick a "
            "completed run, or wait for this one to finish."
        )
    if not same_base(run.get("base_model") or "", config.base_model):
        raise RunError(
            f"start_from: run {config.start_from!r} trained an adapter of {run.get('base_model')!r}, not of "
            f"{config.base_model!r}; use that base, or leave start_from empty."
        )
    return folder


def adapter_choices(base: str | None = None) -> list[dict]:
    """Adapters of completed (or cancelled) runs whose folder exists, newest first; only `base`'s if given."""
    found = []
    for run in list_runs():  # newest first
        folder = finished_adapter(run)
        if folder is None:
            continue
        if base is not None and not same_base(run.get("base_model") or "", base):
            continue
        found.append(
            {
                "name": run["name"],
                "run_id": run["id"],
                "adapter_dir": str(folder),
                "base_model": run.get("base_model"),
                "status": run["status"],
                "created": run.get("created"),
            }
        )
    return found


def runs_using_base(name: str) -> list[str]:
    """Names of queued or running runs whose base model is catalogue model `name` (or its folder)."""
    folder = str(paths.model_dir(name))
    using = []
    for run in active_runs():
        base = str(json.loads(run["config_json"] or "{}").get("base_model", "")).strip().rstrip("/")
        if base in (name, folder):
            using.append(run["name"])
    return using


def get_run(run_id_or_name: int | str) -> dict:
    row = None
    if isinstance(run_id_or_name, int) or str(run_id_or_name).isdigit():
        row = next(iter(_select("runs.id = ?", [int(run_id_or_name)])), None)
    if row is None:
        row = next(iter(_select("runs.name = ?", [str(run_id_or_name)])), None)
    if row is None:
        raise RunError(f"No run {run_id_or_name!r}: see `python -m workbench runs list`.")
    return row


def active_runs() -> list[dict]:
    """Queued, running and cancelling runs, oldest first."""
    return _select(f"jobs.status in {registry.sql_list(registry.ACTIVE)}", order="runs.id")


def list_runs(experiment_id: int | None = None) -> list[dict]:
    """Every run, newest first; or the runs of one experiment (workbench/experiments), oldest first."""
    if experiment_id is not None:
        return _select("runs.experiment_id = ?", [experiment_id])
    return _select(order="runs.id desc")


def _select(where: str | None = None, values: list | None = None, order: str = "runs.id") -> list[dict]:
    query = _SELECT + (f" where {where}" if where else "") + f" order by {order}"
    cursor = store.open_db().execute(query, values or [])
    columns = [c[0] for c in cursor.description]
    found = []
    for values_row in cursor.fetchall():
        row = dict(zip(columns, values_row, strict=True))
        row["job_args"] = json.loads(row.pop("job_args_json") or "{}")  # its training job's: processes, resume…
        row["resume"] = int(bool(row["job_args"].get("resume")))
        found.append(row)
    return found


def run_config(run: dict) -> TrainConfig:
    return TrainConfig.from_dict(json.loads(run["config_json"]))


def run_progress(run: dict) -> dict:
    return json.loads(run["progress_json"]) if run.get("progress_json") else {}


def training_outcome(run: dict) -> dict:
    """What the run's training job recorded at its end (losses, speed, why it stopped, its task checks);
    {} before it ended."""
    result = json.loads(run["result_json"]) if run.get("result_json") else {}
    return result.get("final_metrics") or {}


def run_metrics(run_id: int, names: tuple[str, ...] | None = None) -> list[dict]:
    db = store.open_db()
    where, args = "run_id = ?", list[object]([run_id])
    if names:
        where += f" and name in ({', '.join('?' for _ in names)})"
        args += list(names)
    return list(db.table("metrics").rows_where(where, args, order_by="step, rowid"))


def run_metrics_after(run_id: int, after_rowid: int = 0) -> list[dict]:
    """The metric rows of a run written after row `after_rowid`, oldest first, each with its `rowid`.

    The live view keeps what it has and asks for these only, instead of the whole table every poll.
    """
    rows = (
        store.open_db()
        .execute(
            "select rowid, step, epoch, name, value, ts from metrics where run_id = ? and rowid > ? order by rowid",
            [run_id, after_rowid],
        )
        .fetchall()
    )
    return [dict(zip(("rowid", "step", "epoch", "name", "value", "ts"), row, strict=True)) for row in rows]


def final_metrics(run_id: int) -> dict[str, float]:
    """The last value of each metric of a run."""
    rows = (
        store.open_db()
        .execute(
            "select name, value from metrics where run_id = ? and rowid in "
            "(select max(rowid) from metrics where run_id = ? group by name)",
            [run_id, run_id],
        )
        .fetchall()
    )
    return dict(rows)


def duration_seconds(run: dict) -> float | None:
    if not run.get("started"):
        return None
    end = datetime.fromisoformat(run["finished"]) if run.get("finished") else datetime.now().astimezone()
    return (end - datetime.fromisoformat(run["started"])).total_seconds()


def has_validation(run: dict) -> bool:
    _, revision = repository.revision_by_id(evaluation_revision_id(run))
    return bool(revision.split and revision.split.validation)


def evaluation_revision_id(run: dict) -> int:
    """The dataset revision whose held-out rows score a run: its own, or, for a preference run that went on
    from a supervised run, that run's (the task's own held-out answers, so SFT and DPO compare on one test)."""
    config = run_config(run)
    if run["dataset_revision_id"] is None:
        raise RunError(
            f"Run {run['name']!r} was imported without a dataset, so it has no held-out rows of its own: evaluate "
            f"it on a dataset you name (`python -m workbench eval {run['name']} --dataset NAME`, or pick one on "
            "Compare)."
        )
    if config.objective == "sft" or not config.start_from:
        return run["dataset_revision_id"]
    try:
        parent = get_run(config.start_from)
    except RunError:
        return run["dataset_revision_id"]  # the run it started from was deleted since
    if run_config(parent).objective != "sft":
        return evaluation_revision_id(parent)
    return parent["dataset_revision_id"]


def log_tail(name: str, lines: int = 40) -> str:
    log = paths.run_dir(name) / LOG_FILE
    if not log.exists():
        return ""
    with open(log, "rb") as handle:
        handle.seek(max(0, log.stat().st_size - 64_000))
        return "\n".join(handle.read().decode(errors="replace").splitlines()[-lines:])


def latest_checkpoint(name: str) -> Path | None:
    """The run's highest `checkpoint-N` folder that was written completely (it has trainer_state.json):
    what a resume continues from."""
    folder = paths.checkpoints_dir(name)
    if not folder.is_dir():
        return None
    found = [p for p in folder.iterdir() if CHECKPOINT.match(p.name) and (p / "trainer_state.json").is_file()]
    return max(found, key=checkpoint_step, default=None)


def checkpoint_step(checkpoint: Path) -> int:
    """N of a `checkpoint-N` folder."""
    match = CHECKPOINT.match(checkpoint.name)
    if match is None:
        raise RunError(f"{checkpoint} is not a checkpoint folder (checkpoint-N).")
    return int(match.group(1))


def wait_for(
    run_id: int, poll: float = 1.0, on_update: Callable[[dict], None] | None = None, timeout: float | None = None
) -> dict:
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


def row_problems(config: TrainConfig) -> list[str]:
    """What the dataset's rows lack for the run's objective (GRPO: reference answers its rewards compare with),
    said before launch; [] when the dataset cannot be read (the launch says why)."""
    if objective_for(config).row_problems is None:
        return []
    return list(_read_revision(config, "problems") or ())


def fitting_rewards(config: TrainConfig) -> str | None:
    """GRPO rewards that fit the dataset's answers when `config.rewards` does not (JSON rewards on text answers);
    the Train page puts them in the form. None when they fit or the dataset cannot be read."""
    if config.objective != "grpo":
        return None
    return _read_revision(config, "fitting_rewards")


def _read_revision(config: TrainConfig, what: str):
    if not config.dataset:
        return None
    try:
        info = repository.get_dataset(config.dataset)
        revision = repository.get_revision(config.dataset, config.dataset_revision)
        if info.format not in objective_for(config).kinds:
            return None
        config_json = json.dumps(dataclasses.asdict(config), sort_keys=True)
        return _from_revision(what, str(paths.home()), revision.n, revision.sha256, info.format, config_json)
    except repository.DatasetError:
        return None


# A revision never changes once written: what it says for one config is computed once per process (the Train
# page asks on every rerun, and reading a revision is the whole file).
@functools.lru_cache(maxsize=32)
def _from_revision(what: str, home: str, n: int, sha256: str, fmt: str, config_json: str):
    """`home` and `sha256` only key the cache: a workspace, and a revision's content."""
    from workbench.training.objectives import grpo

    config = TrainConfig(**json.loads(config_json))
    rows = repository.read_revision_rows(repository.get_revision(config.dataset, n))
    if what == "fitting_rewards":
        return grpo.fitting_rewards(rows, fmt, config, config.dataset)
    check = objective_for(config).row_problems
    assert check is not None  # row_problems() asks only for objectives that have one
    return tuple(check(rows, fmt, config, config.dataset))


def _check_rows(config: TrainConfig, revision: repository.Revision) -> None:
    dataset = config.dataset
    info = repository.get_dataset(dataset)
    objective = objective_for(config)
    if info.format not in objective.kinds:
        raise RunError(wrong_kind(dataset, info.format, objective))
    rows = repository.read_revision_rows(revision)
    errors = [p for p in formats.validate_rows(rows, info.format, f"{dataset}.jsonl") if p.severity == "error"]
    if errors:
        shown = "\n".join(str(p) for p in errors[:5])
        raise RunError(
            f"Dataset {dataset!r} revision {revision.n} has {len(errors)} row error(s); fix them on the "
            f"Datasets page first:\n{shown}"
        )
    if len(rows) < 2:
        raise RunError(f"Dataset {dataset!r} revision {revision.n} has {len(rows)} row(s): add at least 2.")
    problems = objective.row_problems(rows, info.format, config, dataset) if objective.row_problems else []
    if problems:
        raise RunError("\n".join(problems))


def _default_name(config: TrainConfig) -> str:
    base = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(config.base_model.rstrip("/")).name)[:30].strip("-.") or "base"
    return f"{config.dataset[:30]}-{base}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def _unique_name(db, name: str, own_adapter: Path | None = None) -> str:
    """`name`, or `name-2`, `name-3`, ...: the first that no run has and whose adapter folder is free (or is
    `own_adapter`, the folder of the adapter being registered under it)."""
    if not RUN_NAME.match(name):
        raise RunError(f"{name!r} is not a valid run name: use letters, digits, '.', '_' or '-' (up to 80).")

    def taken(candidate: str) -> bool:
        folder = paths.adapter_dir(candidate)
        mine = own_adapter is not None and folder.resolve() == Path(own_adapter).resolve()
        return bool(db.table("runs").count_where("name = ?", [candidate])) or (folder.exists() and not mine)

    candidate, n = name, 2
    while taken(candidate):
        candidate, n = f"{name}-{n}", n + 1
    return candidate
