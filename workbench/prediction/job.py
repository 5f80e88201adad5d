"""Prediction jobs: answer every row of a file with a base or a run's adapter, in the background.

A job of kind `predict` (workbench/jobs): `start_predict` reads and checks the file (the importer's
problems, rows over the model's context), stores its rows as `predictions/job-<id>/inputs.jsonl` and
queues the job; the worker (or `python -m workbench predict` in the foreground) runs `predict_job`:

    load the base (Engine), attach the run's adapter
    -> skip the rows already in outputs.jsonl (a resume)
    -> for each batch of rows: generate (batched, KV cache, stopping at each row's end-of-turn token),
       score the rows that have a reference, append them to outputs.jsonl (on disk before the next
       batch), progress with rows per second and ETA; stop here if the app asked the job to stop
    -> completed | cancelled with {"rows", "seconds", "rows_per_second", "summary"}

Killed, it reads as interrupted; `resume_predict` queues it again and it goes on from its last complete
row. Nothing of it is held in memory beyond one batch.
"""

from __future__ import annotations

import contextlib
import functools
import json
import time
from collections.abc import Callable, Iterator
from itertools import islice
from pathlib import Path

from workbench import fileio, paths, store
from workbench.data.stats import conversation_token_counts, with_system
from workbench.errors import WorkbenchError
from workbench.evaluation.generation import EVAL_BATCH_ROWS
from workbench.inference.engine import Engine, GenerationSettings, Side
from workbench.jobs import queue, registry
from workbench.jobs import worker as jobs_worker
from workbench.models.loading import context_window, load_tokenizer
from workbench.prediction import outputs
from workbench.prediction.config import PredictConfig
from workbench.prediction.inputs import PredictionInput, prompt_text, read_inputs
from workbench.training import runs

INPUTS_FILE = "inputs.jsonl"
OUTPUTS_FILE = "outputs.jsonl"
LOG_FILE = "predict.log"
ROWS_NAMED = 5


class PredictError(WorkbenchError, ValueError):
    """A prediction that cannot be done; the message says why and what to do."""


# ------------------------------------------------------------------------------------------ creating


def for_run(run_id: int | str | None, base_model: str | None = None, **settings) -> PredictConfig:
    """A PredictConfig answering with a run's adapter (its base, its system prompt), or with `base_model`
    alone when `run_id` is None."""
    if run_id is None:
        if not base_model:
            raise PredictError("Name a run whose adapter answers, or a base model to answer alone.")
        return PredictConfig(base_model=base_model, **settings).check()
    run = runs.get_run(run_id)
    adapter_path(run)
    trained = runs.run_config(run)
    settings.setdefault("system_prompt", trained.system_prompt)
    return PredictConfig(base_model=trained.base_model, run=run["name"], **settings).check()


def create_predict(
    config: PredictConfig,
    data: bytes,
    file: str,
    fmt: str | None = None,
    prompt_column: str | None = None,
    reference_column: str | None = None,
    *,
    source: dict | None = None,
) -> int:
    """Check the file and queue a job answering it; returns the job id. Nothing is queued when a row cannot
    be read or is longer than the model reads (InputError / PredictError name them). `source`: where the
    rows came from when the workbench wrote the file (kept in the job's args)."""
    config.check()
    rows = read_inputs(data, file, fmt, prompt_column, reference_column)
    run = runs.get_run(config.run) if config.run else None
    tokenizer_source = str(adapter_path(run)) if run else config.base_model
    check_context(rows, config, tokenizer_source, file)
    who = f"{run['name']} (adapter)" if run else f"{config.base_model} (base)"
    name = Path(file).name
    db = store.open_db()
    with store.transaction(db):
        job_id = registry.create(
            "predict",
            f"Predict {who} over {name} ({len(rows)} row{'' if len(rows) == 1 else 's'})",
            run_id=run["id"] if run else None,
            db=db,
            args={
                "config": config.to_dict(),
                "file": name,
                "rows": len(rows),
                **({"source": source} if source else {}),
            },
            progress={"done": 0, "total": len(rows), "unit": "rows", "eta_seconds": None},
        )
        folder = paths.prediction_dir(job_id)
        folder.mkdir(parents=True, exist_ok=True)
        fileio.write_jsonl_atomic(
            folder / INPUTS_FILE,
            ({"line": r.line, "messages": r.messages, "reference": r.reference} for r in rows),
        )
        registry.update(job_id, {"log": paths.relative_to_home(folder / LOG_FILE)}, db=db)
    return job_id


def start_predict(config: PredictConfig, data: bytes, file: str, **reading) -> int:
    """Queue a job; its worker starts, detached, as soon as the device is free."""
    job_id = create_predict(config, data, file, **reading)
    queue.schedule()
    return job_id


def resume_predict(job_id: int) -> None:
    """Queue a cancelled, interrupted or failed job again: it goes on after its last finished row."""
    job = get_job(job_id)
    if job["status"] == "completed":
        raise PredictError(f"{job['title']} has completed: every row is answered already.")
    try:
        registry.requeue(job_id)
    except registry.JobError as exc:
        raise PredictError(str(exc)) from exc
    queue.schedule()


def cancel_predict(job_id: int) -> str:
    """Ask a job to stop: it stops after its current batch of rows, which is kept."""
    try:
        return registry.cancel(get_job(job_id)["id"])
    except registry.JobError as exc:
        raise PredictError(str(exc)) from exc


def adapter_path(run: dict) -> Path:
    path = runs.finished_adapter(run)
    if path is None:
        raise PredictError(
            f"Run {run['name']!r} ({run['status']}) has no finished adapter to answer with (it has not completed, "
            "or its adapter folder was moved or deleted): wait for it to complete, or answer with the base."
        )
    return path


# --------------------------------------------------------------------------------------------- context


def check_context(rows: list[PredictionInput], config: PredictConfig, tokenizer_source: str, file: str) -> None:
    """PredictError naming the rows whose prompt and longest answer do not fit the model's context."""
    window = context_window(config.base_model)
    if window is None:
        return
    prompts = [with_system(row.messages, config.system_prompt) for row in rows]
    lengths = conversation_token_counts(prompts, load_tokenizer(tokenizer_source), generation_prompt=True)
    over = [(row.line, n) for row, n in zip(rows, lengths, strict=True) if n + config.max_new_tokens > window]
    if not over:
        return
    named = ", ".join(f"line {line} ({length:,} tokens)" for line, length in over[:ROWS_NAMED])
    more = f" and {len(over) - ROWS_NAMED} more" if len(over) > ROWS_NAMED else ""
    room = window - config.max_new_tokens
    raise PredictError(
        f"{file}: {len(over)} row{'' if len(over) == 1 else 's'} longer than the model reads, so nothing was "
        f"started: {named}{more}. {config.base_model} reads {window:,} tokens, prompt and answer together; with "
        f"answers of up to {config.max_new_tokens:,} tokens a prompt may hold {max(room, 0):,}. Shorten or "
        "remove those rows, or lower the answer length."
    )


# --------------------------------------------------------------------------------------------- reading


def get_job(job_id: int) -> dict:
    job = registry.get_of_kind(job_id, "predict")
    if job is None:
        raise PredictError(f"No prediction job {job_id}: it was deleted with its run, or never existed.")
    return job


def list_predictions(limit: int = 20) -> list[dict]:
    """Prediction jobs, newest first (a worker gone without a word reads as interrupted)."""
    registry.sweep_lost()
    return registry.list_jobs(kind="predict", limit=limit)


def job_config(job: dict) -> PredictConfig:
    return PredictConfig.from_dict(registry.args(job)["config"])


def outputs_path(job: dict | int) -> Path:
    return paths.prediction_dir(job["id"] if isinstance(job, dict) else job) / OUTPUTS_FILE


def inputs_path(job: dict | int) -> Path:
    return paths.prediction_dir(job["id"] if isinstance(job, dict) else job) / INPUTS_FILE


def describe_progress(progress: dict, status: str = "running") -> str:
    """“40/200 rows answered, 1.3 rows/s, about 2 min left” (the time left only while it runs on)."""
    parts = [f"{progress.get('done', 0)}/{progress.get('total', '?')} rows answered"]
    if progress.get("rows_per_second"):
        parts.append(f"{progress['rows_per_second']:.2f} rows/s")
    eta = progress.get("eta_seconds")
    if status == "running" and progress.get("phase") == "generating" and eta and eta >= 1:
        parts.append(f"about {eta / 60:.0f} min left" if eta >= 90 else f"about {eta:.0f} s left")
    elif progress.get("phase") == "loading":
        parts.append("loading the model")
    return ", ".join(parts)


# ------------------------------------------------------------------------------------------- running


def run_predict(job_id: int, on_progress: Callable[[dict], None] | None = None, *, echo: bool = True) -> str:
    """Run job `job_id` in this process (the CLI); returns its final status."""
    handler = functools.partial(predict_job, on_progress=on_progress, echo=echo)
    return jobs_worker.run(get_job(job_id)["id"], handler)


def predict_job(job: dict, on_progress: Callable[[dict], None] | None = None, echo: bool = True) -> tuple[str, dict]:
    """The `predict` kind's handler: returns (completed | cancelled, result)."""
    say = _say if echo else _silent
    config = job_config(job)
    total = int(registry.args(job)["rows"])
    out = outputs_path(job)
    done = outputs.finished_rows(out)
    progress = {"phase": "loading", "done": done, "total": total, "unit": "rows", "eta_seconds": None}
    _report(job["id"], progress, on_progress)
    say(f"=== Prediction job {job['id']} · {store.now()}: {total} rows of {registry.args(job)['file']}")
    if done:
        say(f"Resuming after row {done}: {done} of {total} rows were answered before.")
    started = time.monotonic()
    run = runs.get_run(config.run) if config.run else None
    quantization = "4bit" if run and runs.run_config(run).method == "qlora" else "none"
    engine = Engine(config.base_model, quantization=quantization)
    try:
        adapter = engine.attach(str(adapter_path(run)), run["name"]) if run else None
        who = f"Adapter {run['name']}" if run else "Base"
        say(f"{who} on {config.base_model} loaded in {time.monotonic() - started:.1f} s.")
        status, answered = _answer_rows(engine, adapter, job, config, done, total, on_progress, say)
    finally:
        with contextlib.suppress(Exception):
            engine.unload()
    seconds = time.monotonic() - started
    summary = outputs.summary(out)
    result = {
        "rows": summary["rows"],
        "answered_now": answered,
        "seconds": round(seconds, 1),
        "rows_per_second": round(answered / seconds, 3) if seconds > 0 else None,
        "summary": summary,
    }
    say(f"Prediction {status}: {summary['rows']} of {total} rows answered ({answered} in this run, {seconds:.1f} s).")
    for metric, value in summary["metrics"].items():
        say(f"  {metric}: {value:.4f} over the {summary['scored']} rows with a reference")
    return status, result


def _answer_rows(engine, adapter, job, config, done, total, on_progress, say) -> tuple[str, int]:
    out = outputs_path(job)
    size = config.batch_rows or EVAL_BATCH_ROWS.get(engine.device.type, EVAL_BATCH_ROWS["cpu"])
    progress = {"phase": "generating", "done": done, "total": total, "unit": "rows", "eta_seconds": None}
    _report(job["id"], progress, on_progress)
    started, answered, tokens = time.monotonic(), 0, 0
    for chunk in _batches(_read_inputs(inputs_path(job), skip=done), size):
        if registry.stop_requested(job["id"]):
            say(f"Cancelled after row {done}: the rows answered so far are kept.")
            return "cancelled", answered
        settings = _settings(config, seed_offset=done)
        results = engine.generate([Side(adapter, row["messages"]) for row in chunk], settings)
        rows = [
            outputs.answered(
                done + n + 1,
                row["line"],
                prompt_text(row["messages"]),
                result.text,
                result.tokens,
                result.stopped,
                row.get("reference"),
            )
            for n, (row, result) in enumerate(zip(chunk, results, strict=True))
        ]
        outputs.append_rows(out, rows)
        done, answered, tokens = done + len(rows), answered + len(rows), tokens + sum(r.tokens for r in results)
        rate = answered / (time.monotonic() - started)
        progress = {
            **progress,
            "done": done,
            "rows_per_second": round(rate, 3),
            "tokens": tokens,
            "eta_seconds": round((total - done) / rate, 1),
        }
        _report(job["id"], progress, on_progress)
        say(f"rows {done - len(rows) + 1}-{done} of {total} answered ({rate:.2f} rows/s)")
    _report(job["id"], {**progress, "phase": "done", "eta_seconds": 0}, on_progress)
    return "completed", answered


def _settings(config: PredictConfig, seed_offset: int) -> GenerationSettings:
    return GenerationSettings(
        system_prompt=config.system_prompt,
        temperature=0.0 if config.greedy else config.temperature,
        top_p=config.top_p,
        max_new_tokens=config.max_new_tokens,
        seed=config.seed + seed_offset,
        greedy=config.greedy,
    )


def _read_inputs(path: Path, skip: int) -> Iterator[dict]:
    with open(path, encoding="utf-8") as handle:
        for line in islice(handle, skip, None):
            yield json.loads(line)


def _batches(rows: Iterator[dict], size: int) -> Iterator[list[dict]]:
    while chunk := list(islice(rows, size)):
        yield chunk


def _report(job_id: int, progress: dict, on_progress: Callable[[dict], None] | None) -> None:
    registry.set_progress(job_id, progress)
    if on_progress:
        on_progress(progress)


def _say(line: str) -> None:
    print(line, flush=True)


def _silent(line: str) -> None:
    pass
