"""Held-out evaluation jobs: score a run's base and adapter on rows of its dataset, side by side.

An evaluation is a job of kind `evaluate` (workbench/jobs): queued by `start_eval` and run by the jobs
worker when the device is free (log in `runs/<run name>/eval.log`), or in the foreground by
`python -m workbench eval RUN` (`create_eval` + `run_eval`). The steps of `evaluate_job`:

    load the base (Engine) and attach the run's adapter
    -> for each batch of selected rows: greedy generation of the base's answers, then the adapter's, each
       in one batched call; score both; store `eval_rows` rows; update progress; stop here if the app
       asked the job to stop
    -> loss and perplexity of the reference answers (completion tokens only), base and adapter
    -> aggregate each side, write `evals` rows -> completed | cancelled   (any exception: failed)

Results belong to their job (`job_id`): a completed job replaces every older result of its run; a
cancelled job keeps the rows it finished and their aggregates, under its own id.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import time
from collections.abc import Callable
from pathlib import Path

from workbench import paths, store
from workbench.data import repository
from workbench.data.records import prompt_and_reference
from workbench.data.stats import conversation_token_counts
from workbench.errors import WorkbenchError
from workbench.evaluation import metrics
from workbench.inference.engine import Engine, GenerationSettings, Side
from workbench.jobs import queue, registry
from workbench.jobs import worker as jobs_worker
from workbench.models.loading import context_window
from workbench.training import runs
from workbench.training.config import TrainConfig

SPLITS = ("validation", "train", "all")
ACTIVE = registry.ACTIVE
TERMINAL = registry.TERMINAL
LOG_FILE = "eval.log"
MAX_NEW_TOKENS = 1024
# Rows generated together (per side), by device type. On 2 CPU cores SmolLM2-135M generates 8 rows in
# about the time of 1.5 rows one by one; a GPU takes far more at no extra cost per step.
EVAL_BATCH_ROWS = {"cpu": 8, "cuda": 32}
EXTRA_METRICS = ("loss", "perplexity")


class EvalError(WorkbenchError, ValueError):
    """An evaluation that cannot be done; the message says why and what to do."""


# ------------------------------------------------------------------------------------------ jobs


def create_eval(
    run_id: int | str,
    split: str = "validation",
    limit: int | None = None,
    dataset_revision: int | None = None,
    *,
    revision_id: int | None = None,
) -> int:
    """Queue an evaluation of a run's adapter against its base; returns the job id.

    `split`: "validation" (default), "train" or "all" rows of the run's dataset revision (for a preference run
    that went on from a supervised one, that run's: `runs.evaluation_revision_id`), or of revision
    `dataset_revision` (a revision number of that dataset), or of the revision with registry id `revision_id`
    (any dataset's). `limit`: the first N of them.
    """
    run = runs.get_run(run_id)
    if run["status"] in registry.RUNNING:
        raise EvalError(f"Run {run['name']!r} is {run['status']}: evaluate it once it has completed.")
    if split not in SPLITS:
        raise EvalError(f"Unknown split {split!r}: use one of {', '.join(SPLITS)}.")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise EvalError(f"limit: {limit!r} — give a whole number of rows, 1 or more (or none for all).")
    adapter_path(run)
    name, revision = repository.revision_by_id(revision_id or runs.evaluation_revision_id(run))
    if dataset_revision is not None:
        revision = repository.get_revision(name, dataset_revision)
    indices = select_indices(revision, split, limit, name)  # fail now, not in the worker
    registry.sweep_lost()
    db = store.open_db()
    with store.transaction(db):
        busy = db.execute(
            "select id, status from jobs where kind = 'evaluate' and run_id = ? and status in "
            "('running', 'cancelling')",
            [run["id"]],
        ).fetchone()
        if busy:
            raise EvalError(
                f"Run {run['name']!r} is already being evaluated (job {busy[0]}, {busy[1]}): wait for "
                "it to finish or cancel it first."
            )
        # A job queued earlier and never started is superseded by this one.
        db.execute(
            "update jobs set status = 'cancelled', finished = ?, error = ? "
            "where kind = 'evaluate' and run_id = ? and status = 'queued'",
            [store.now(), "Replaced by a newer evaluation.", run["id"]],
        )
        rows = f"{len(indices)} {split} row{'s' if len(indices) != 1 else ''}"
        return registry.create(
            "evaluate",
            f"Evaluate {run['name']} ({rows})",
            run_id=run["id"],
            db=db,
            args={"split": split, "limit": limit, "revision_id": revision.id},
            log=paths.run_dir(run["name"]) / LOG_FILE,
            progress={"done": 0, "total": len(indices), "unit": "rows", "eta_seconds": None},
        )


def start_eval(
    run_id: int | str, split: str = "validation", limit: int | None = None, dataset_revision: int | None = None
) -> int:
    """Queue a job; its worker starts, detached, as soon as the device is free (closing the app does not
    stop it)."""
    job_id = create_eval(run_id, split, limit, dataset_revision)
    queue.schedule()
    return job_id


def evaluate_after_training(train_job: dict) -> None:
    """Queue a held-out evaluation of base and adapter once a run completes (TrainConfig.auto_evaluate), when
    its dataset revision has validation rows."""
    run = runs.get_run(train_job["run_id"])
    if not runs.run_config(run).auto_evaluate:
        return
    if not runs.has_validation(run):
        # Scoring the rows it trained on would read as a held-out score: say so instead of doing it.
        print(
            "No held-out rows in this dataset revision, so nothing was evaluated: make a split on the "
            "Datasets page (or `python -m workbench datasets split NAME`) and train again, or evaluate the "
            "training rows on the Compare page knowing they are not held out.",
            flush=True,
        )
        return
    create_eval(run["id"], split="validation")
    dataset, revision = repository.revision_by_id(runs.evaluation_revision_id(run))
    print(
        f"Evaluation of base and adapter queued (validation rows of {dataset!r} revision {revision.n}); see the "
        "Compare page.",
        flush=True,
    )


def running_job(run_id: int) -> dict | None:
    """The run's evaluation in progress (running or cancelling), if any."""
    registry.sweep_lost()
    jobs = registry.list_jobs(kind="evaluate", run_id=run_id, statuses=registry.RUNNING, limit=1)
    return _with_args(jobs[0]) if jobs else None


def evaluation_after_training(run: dict, wait_seconds: float = 15.0, poll: float = 0.25) -> dict | None:
    """The evaluation a completed run queued for itself (TrainConfig.auto_evaluate), waiting a moment for
    the worker to queue it; None when the run asks for none or none came."""
    if run["status"] != "completed" or not runs.run_config(run).auto_evaluate:
        return None
    deadline = time.monotonic() + wait_seconds
    while True:
        job = registry.latest(run["id"], "evaluate")
        if job and job["created"] >= (run["finished"] or ""):
            return _with_args(job)
        if time.monotonic() > deadline:
            return None
        time.sleep(poll)


def wait_for_eval(job_id: int, on_progress: Callable[[dict], None] | None = None, poll: float = 1.0) -> dict:
    """Follow a job (started by anyone) until it ends; `on_progress` sees each new progress. Returns the job."""
    seen = None
    while True:
        registry.sweep_lost()
        job = get_job(job_id)
        progress = job_progress(job)
        if on_progress and progress != seen:
            on_progress(progress)
            seen = progress
        if job["status"] in TERMINAL:
            return job
        if job["status"] == "queued":
            queue.schedule()
        time.sleep(poll)


def cancel_eval(job_id: int) -> str:
    """Ask a job to stop. A queued job is cancelled at once; a running one stops after its current batch of
    rows (EVAL_BATCH_ROWS: 8 on a CPU)."""
    try:
        return registry.cancel(get_job(job_id)["id"])
    except registry.JobError as exc:
        raise EvalError(str(exc)) from exc


def mark_interrupted_evals() -> list[int]:
    """Evaluation jobs whose process is gone without a word (killed, machine restarted) become interrupted
    (every lost job of any kind is swept)."""
    lost = set(registry.sweep_lost())
    return [job["id"] for job in registry.list_jobs(kind="evaluate") if job["id"] in lost]


def get_job(job_id: int) -> dict:
    """An evaluation job's row, with its split, limit_n and revision_id."""
    job = registry.get_of_kind(job_id, "evaluate")
    if job is None:
        raise EvalError(f"No evaluation job {job_id}: it was deleted with its run, or never existed.")
    return _with_args(job)


def _with_args(job: dict) -> dict:
    values = registry.args(job)
    return {
        **job,
        "split": values.get("split"),
        "limit_n": values.get("limit"),
        "revision_id": values.get("revision_id"),
    }


def latest_job(run_id: int) -> dict | None:
    """The run's newest job, whatever its status (None if it was never evaluated)."""
    job = registry.latest(run_id, "evaluate")
    return _with_args(job) if job else None


def list_jobs(run_id: int) -> list[dict]:
    return [_with_args(job) for job in registry.list_jobs(kind="evaluate", run_id=run_id)]


def describe_progress(progress: dict) -> str:
    """“2/30 rows scored, adapter answers for rows 3-10, 412 tokens generated, about 40 s left”"""
    generating = progress.get("phase") == "generating"
    parts = [f"{progress.get('done', 0)}/{progress.get('total', '?')} rows scored"]
    if generating and progress.get("side"):
        parts.append(f"{progress['side']} answers for rows {progress.get('rows')}")
    elif progress.get("phase") == "loss":
        parts.append("loss of the reference answers")
    tokens = progress.get("tokens", 0) + progress.get("side_tokens", 0)
    if tokens:
        parts.append(f"{tokens:,} tokens generated")
    eta = progress.get("eta_seconds")
    if generating and eta and eta >= 1:  # "about 0 s left" says nothing
        parts.append(f"about {eta:.0f} s left")
    return ", ".join(parts)


def job_progress(job: dict) -> dict:
    """{"phase", "done", "total", "unit", "eta_seconds", ...} of a job row."""
    return registry.progress(job)


def results_job(run_id: int) -> dict | None:
    """The job whose results a run shows: its latest completed one, else its latest cancelled one with rows."""
    db = store.open_db()
    for status in ("completed", "cancelled"):
        row = db.execute(
            "select id from jobs where kind = 'evaluate' and run_id = ? and status = ? and exists "
            "(select 1 from evals where evals.job_id = jobs.id) order by id desc limit 1",
            [run_id, status],
        ).fetchone()
        if row:
            return get_job(row[0])
    return None


def results(run_id: int, job_id: int | None = None) -> list[dict]:
    """The metric table of a run's latest completed job (or of `job_id`):
    [{"metric", "base", "adapter", "delta"}], the text metrics first, then loss and perplexity."""
    if job_id is None:
        job = results_job(run_id)
        if job is None:
            return []
        job_id = job["id"]
    stored = list(
        store.open_db().table("evals").rows_where("run_id = ? and job_id = ?", [run_id, job_id], order_by="id")
    )
    base = {r["metric"]: r["base_value"] for r in stored}
    adapter = {r["metric"]: r["adapter_value"] for r in stored}
    text = [m for m in base if m not in EXTRA_METRICS]
    table = list(metrics.compare({m: base[m] for m in text}, {m: adapter[m] for m in text})) if text else []
    shown = {row["metric"] for row in table}
    for metric in base:
        if metric not in shown:
            table.append(
                {
                    "metric": metric,
                    "base": base[metric],
                    "adapter": adapter[metric],
                    "delta": _delta(base[metric], adapter[metric]),
                }
            )
    return table


def rows(run_id: int, job_id: int | None = None) -> list[dict]:
    """The per-row outputs of a run's latest completed job (or of `job_id`); see `eval_rows_for`."""
    if job_id is None:
        job = results_job(run_id)
        if job is None:
            return []
        job_id = job["id"]
    return eval_rows_for(job_id)


def eval_rows_for(job: dict | int) -> list[dict]:
    """One dict per evaluated row, in dataset order: row_index, prompt, reference, base_output,
    adapter_output, base_scores, adapter_scores, verdict, details (everything stored for the row)."""
    job_id = job["id"] if isinstance(job, dict) else int(job)
    found = []
    for row in store.open_db().table("eval_rows").rows_where("job_id = ?", [job_id], order_by="row_index"):
        details = json.loads(row["details_json"]) if row.get("details_json") else {}
        found.append(
            {
                **row,
                "details": details,
                "base_scores": details.get("base_scores", {}),
                "adapter_scores": details.get("adapter_scores", {}),
                "verdict": details.get("verdict"),
            }
        )
    return found


# --------------------------------------------------------------------------------------- row choice


def select_indices(revision: repository.Revision, split: str, limit: int | None, dataset: str) -> list[int]:
    """Row indices (0-based, in dataset order) that a job evaluates."""
    if split not in SPLITS:
        raise EvalError(f"Unknown split {split!r}: use one of {', '.join(SPLITS)}.")
    n = revision.rows
    if split == "all":
        indices = list(range(n))
    elif revision.split is None:
        if split == "validation":
            raise EvalError(
                f"Dataset {dataset!r} revision {revision.n} has no validation split, so there are no held-out "
                f"rows to score. Make a split on the Datasets page (or `python -m workbench datasets split "
                f"{dataset}`), or evaluate on the 'train' or 'all' rows."
            )
        indices = list(range(n))  # without a split, every row trained
    else:
        if max(revision.split.train + revision.split.validation, default=-1) >= n:
            raise EvalError(
                f"The split of dataset {dataset!r} revision {revision.n} does not fit its {n} rows: "
                "make a new split on the Datasets page."
            )
        indices = sorted(revision.split.validation if split == "validation" else revision.split.train)
    if not indices:
        raise EvalError(
            f"Dataset {dataset!r} revision {revision.n} has no {split} rows: make a split with "
            "validation rows on the Datasets page, or evaluate on 'all'."
        )
    return indices[:limit] if limit else indices


def adapter_path(run: dict) -> Path:
    if not run.get("adapter_dir"):
        raise EvalError(
            f"Run {run['name']!r} ({run['status']}) has no adapter yet, so there is nothing to "
            "compare with the base: wait for it to complete (or train it) and evaluate then."
        )
    path = paths.in_home(run["adapter_dir"])
    if not (path / "adapter_config.json").is_file():
        raise EvalError(
            f"The adapter of run {run['name']!r} is missing from {path}: it was moved or deleted. "
            "Train the run again (clone its config) to evaluate it."
        )
    return path


# ------------------------------------------------------------------------------------------- running


def run_eval(job_id: int, on_progress: Callable[[dict], None] | None = None, *, echo: bool = True) -> str:
    """Run job `job_id` in this process (the CLI's `eval`); returns its final status.

    `on_progress(progress)` is called after each batch and at the end. With `echo`, readable progress
    lines go to stdout.
    """
    handler = functools.partial(evaluate_job, on_progress=on_progress, echo=echo)
    return jobs_worker.run(get_job(job_id)["id"], handler)


def evaluate_job(job: dict, on_progress: Callable[[dict], None] | None = None, echo: bool = True) -> tuple[str, dict]:
    """The `evaluate` kind's handler: returns (completed | cancelled, {"rows": scored})."""
    registry.set_progress(job["id"], {**registry.progress(job), "phase": "loading"})
    return _evaluate(store.open_db(), get_job(job["id"]), on_progress, _say if echo else _silent)


PROGRESS_EVERY_SECONDS = 2.0


def _generate_reporting(engine, sides: list, settings, report: Callable[[int], None]) -> list:
    """engine.generate, telling `report(tokens so far)` at most every PROGRESS_EVERY_SECONDS while it works."""
    last = time.monotonic()
    for tokens, _ in enumerate(engine.stream(sides, settings), 1):
        if time.monotonic() - last >= PROGRESS_EVERY_SECONDS:
            last = time.monotonic()
            report(tokens)
    return engine.last_results


def _report(job_id: int, progress: dict, side_tokens: int, on_progress: Callable[[dict], None] | None = None) -> None:
    current = {**progress, "side_tokens": side_tokens} if side_tokens else progress
    registry.set_progress(job_id, current)
    if on_progress:
        on_progress(current)


def batches(items: list, size: int) -> list[list]:
    return [items[start : start + size] for start in range(0, len(items), size)]


def _evaluate(db, job: dict, on_progress, say) -> tuple[str, dict]:
    # Heavy: the engine imports torch and transformers, which only the worker needs.

    job_id = job["id"]
    run = runs.get_run(job["run_id"])
    config = runs.run_config(run)
    adapter_dir = adapter_path(run)
    dataset, revision = repository.revision_by_id(job["revision_id"])
    fmt = repository.get_dataset(dataset).format
    all_rows = repository.read_revision_rows(revision)
    indices = select_indices(revision, job["split"], job["limit_n"], dataset)
    examples = [(i, *training_prompt(all_rows[i], fmt, config)) for i in indices]
    total = len(examples)
    say(f"=== Evaluation job {job_id} of run {run['name']} · {store.now()} · pid {os.getpid()}")
    say(
        f"Dataset {dataset!r} revision {revision.n}: {total} {job['split']} row(s)"
        + (f" (limit {job['limit_n']})" if job["limit_n"] else "")
    )

    started = time.monotonic()
    quantization = "4bit" if config.method == "qlora" else "none"  # score it the way it was trained
    engine = Engine(config.base_model, quantization=quantization, trust_remote_code=config.trust_remote_code)
    try:
        try:
            name = engine.attach(str(adapter_dir), run["name"])
        except ValueError as exc:  # not a LoRA adapter of this base: the engine's message says which
            raise EvalError(str(exc)) from exc
        settings = scoring_settings(engine.tokenizer_for(None), [ref for _, _, ref in examples], config.seed)
        max_new = settings.max_new_tokens
        say(
            f"Base {config.base_model!r} and adapter {adapter_dir.name!r} loaded in "
            f"{time.monotonic() - started:.1f} s; greedy, up to {max_new} new tokens per answer."
        )
        examples, unread = _readable(examples, engine.tokenizer_for(name), config.base_model, max_new)
        for row in unread:
            say(f"Row {row['row']} is not scored: {row['tokens']:,} prompt tokens, longer than the model reads.")
        if not examples:
            raise EvalError(
                f"No row can be scored: every prompt is longer than {config.base_model} reads. Shorten them."
            )
        total = len(examples)

        progress = {"phase": "generating", "done": 0, "total": total, "unit": "rows", "eta_seconds": None}
        registry.set_progress(job_id, progress)
        done: list[tuple] = []  # (messages, reference, base text, adapter text, base scores, adapter scores)
        cancelled = False
        generation_started = time.monotonic()
        for chunk in batches(examples, EVAL_BATCH_ROWS.get(engine.device.type, EVAL_BATCH_ROWS["cpu"])):
            if registry.stop_requested(job_id):
                cancelled = True
                break
            # Base rows together and adapter rows together: the adapter's batch ends at its end-of-turn
            # tokens instead of waiting for a rambling base to reach max_new_tokens.
            rows = f"{len(done) + 1}-{len(done) + len(chunk)}" if len(chunk) > 1 else str(len(done) + 1)
            outputs = {}
            for side, side_adapter in (("base", None), ("adapter", name)):
                progress = {**progress, "side": side, "rows": rows, "side_tokens": 0}
                outputs[side] = _generate_reporting(
                    engine,
                    [Side(side_adapter, messages) for _, messages, _ in chunk],
                    settings,
                    functools.partial(_report, job_id, progress, on_progress=on_progress),
                )
                progress = {**progress, "tokens": progress.get("tokens", 0) + sum(o.tokens for o in outputs[side])}
                half = len(done) + len(chunk) / 2 if side == "base" else len(done) + len(chunk)
                progress["eta_seconds"] = round((time.monotonic() - generation_started) / half * (total - half), 1)
                _report(job_id, progress, 0, on_progress)
            base_outs, adapter_outs = outputs["base"], outputs["adapter"]
            for (index, messages, reference), base_out, adapter_out in zip(chunk, base_outs, adapter_outs, strict=True):
                base_scores = metrics.score_row(base_out.text, reference)
                adapter_scores = metrics.score_row(adapter_out.text, reference)
                verdict = metrics.verdict(base_scores, adapter_scores)
                db.table("eval_rows").insert(
                    {
                        "run_id": run["id"],
                        "job_id": job_id,
                        "row_index": index,
                        "prompt": _prompt_text(messages),
                        "reference": reference,
                        "base_output": base_out.text,
                        "adapter_output": adapter_out.text,
                        "details_json": json.dumps(
                            {
                                "base_scores": base_scores,
                                "adapter_scores": adapter_scores,
                                "verdict": verdict,
                                "messages": messages,
                                "base_tokens": base_out.tokens,
                                "adapter_tokens": adapter_out.tokens,
                                "batch_rows": len(chunk),
                                "base_batch_seconds": base_out.total_s,
                                "adapter_batch_seconds": adapter_out.total_s,
                                "base_stopped": getattr(base_out, "stopped", None),
                                "adapter_stopped": getattr(adapter_out, "stopped", None),
                            },
                            ensure_ascii=False,
                        ),
                    }
                )
                done.append((messages, reference, base_out.text, adapter_out.text, base_scores, adapter_scores))
                say(f"row {len(done)}/{total} (#{index + 1}): {verdict}")
            elapsed = time.monotonic() - generation_started
            left = total - len(done)
            progress = {**progress, "done": len(done), "eta_seconds": round(elapsed / len(done) * left, 1)}
            _report(job_id, progress, 0, on_progress)

        if not done:
            say("Cancelled before the first row: nothing to score.")
            registry.set_progress(job_id, {**progress, "phase": "done", "eta_seconds": 0})
            return "cancelled", {"rows": 0}

        registry.set_progress(job_id, {**progress, "phase": "loss", "eta_seconds": None})
        pairs = [(messages, reference) for messages, reference, *_ in done]
        base_loss, _ = completion_loss(engine, None, pairs, config.max_length)
        adapter_loss, unscored = completion_loss(engine, name, pairs, config.max_length)
    finally:
        with contextlib.suppress(Exception):
            engine.unload()

    references = [d[1] for d in done]
    base = metrics.aggregate([d[4] for d in done], [d[2] for d in done], references)
    adapter = metrics.aggregate([d[5] for d in done], [d[3] for d in done], references)
    base = {**_numbers(base), "loss": base_loss, "perplexity": _perplexity(base_loss)}
    adapter = {**_numbers(adapter), "loss": adapter_loss, "perplexity": _perplexity(adapter_loss)}
    status = "cancelled" if cancelled else "completed"
    _store_results(db, job, base, adapter, replace_older=status == "completed")
    progress = {**progress, "phase": "done", "eta_seconds": 0}
    registry.set_progress(job_id, progress)
    say(f"Evaluation {status}: {len(done)} of {total} rows scored in {time.monotonic() - started:.1f} s.")
    for row in results(run["id"], job_id):
        say(f"  {row['metric']}: base {_fmt(row['base'])}, adapter {_fmt(row['adapter'])}")
    if on_progress:
        on_progress(progress)
    coverage = {
        "rows": len(done),
        "asked": len(indices),
        "unread": unread,
        "context": context_window(config.base_model),
        "max_length": config.max_length,
        "loss_unscored": [examples[i][0] + 1 for i in unscored],
    }
    for line in describe_coverage(coverage):
        say(line)
    return status, coverage


def _readable(examples: list[tuple], tokenizer, base: str, max_new: int) -> tuple[list[tuple], list[dict]]:
    """The examples whose prompt and answer fit the model's context, and {"row", "tokens"} of those that do
    not (they cannot be scored)."""
    window = context_window(base)
    if window is None:
        return examples, []
    lengths = conversation_token_counts([messages for _, messages, _ in examples], tokenizer, generation_prompt=True)
    fits = [n + max_new <= window for n in lengths]
    kept = [example for example, ok in zip(examples, fits, strict=True) if ok]
    unread = [{"row": ex[0] + 1, "tokens": n} for ex, n, ok in zip(examples, lengths, fits, strict=True) if not ok]
    return kept, unread


def describe_coverage(result: dict) -> list[str]:
    """What of the asked rows an evaluation scored, in words (empty when it scored them all):
    “4 of 5 rows scored; row 15 is longer than the model reads (2,100 prompt tokens; demo reads 2,048).”"""
    lines = []
    unread = result.get("unread") or []
    if unread:
        named = ", ".join(f"row {r['row']} ({r['tokens']:,} prompt tokens)" for r in unread[:5])
        verb = "is" if len(unread) == 1 else "are"
        reads = f"; the model reads {result['context']:,} tokens, prompt and answer" if result.get("context") else ""
        lines.append(
            f"{result['rows']} of {result.get('asked', result['rows'])} rows scored: {named} {verb} longer than "
            f"the model reads{reads}."
        )
    skipped = result.get("loss_unscored") or []
    if skipped:
        named = ", ".join(f"row {n}" for n in skipped[:5])
        lines.append(
            f"Loss and perplexity over {result['rows'] - len(skipped)} of {result['rows']} rows: the prompt of "
            f"{named} fills max_length {result['max_length']} the run trained with, so no answer token is left "
            "to score (training dropped such rows too). Raise max_length and train again to include them."
        )
    return lines


def scoring_settings(tokenizer, references: list[str], seed: int) -> GenerationSettings:
    """Greedy generation with room for the longest reference and some slack (the engine stops earlier, at
    the end of the turn): how every held-out score is generated."""
    longest = max(len(tokenizer(ref, add_special_tokens=False)["input_ids"]) for ref in references)
    return GenerationSettings(
        system_prompt="",
        temperature=0.0,
        top_p=1.0,
        max_new_tokens=min(MAX_NEW_TOKENS, int(longest * 1.3) + 16),
        repetition_penalty=1.0,
        seed=seed,
        greedy=True,
    )


def heldout_prompts(run: dict, count: int, split: str = "validation") -> list[tuple[list[dict], str]]:
    """(messages, reference) of the first `count` held-out rows of the run's dataset revision ([] if none)."""
    config = runs.run_config(run)
    dataset, revision = repository.revision_by_id(runs.evaluation_revision_id(run))
    try:
        indices = select_indices(revision, split, count, dataset)
    except EvalError:
        return []
    fmt = repository.get_dataset(dataset).format
    rows = repository.read_revision_rows(revision)
    return [training_prompt(rows[i], fmt, config) for i in indices]


def training_prompt(row: dict, fmt: str, config: TrainConfig) -> tuple[list[dict], str]:
    """The messages to answer (with the run's system prompt where the row has none, as in training)."""
    messages, reference = prompt_and_reference(row, fmt)
    messages = [{"role": m["role"], "content": str(m["content"])} for m in messages]
    system = config.system_prompt.strip()
    if system and not any(m["role"] == "system" for m in messages):
        messages.insert(0, {"role": "system", "content": config.system_prompt})
    return messages, reference


def _prompt_text(messages: list[dict]) -> str:
    """What the evaluation table shows as the prompt: the user turn, or the whole exchange if longer."""
    turns = [m for m in messages if m["role"] != "system"]
    if len(turns) == 1:
        return turns[0]["content"]
    return "\n\n".join(f"{m['role']}: {m['content']}" for m in turns)


def completion_loss(
    engine, adapter: str | None, pairs: list[tuple[list[dict], str]], max_length: int = 1024
) -> tuple[float | None, list[int]]:
    """Mean cross-entropy per reference token given its prompt (prompt tokens masked, as in training),
    with the adapter `adapter` active, or with adapters disabled for None (None if no token is left); and
    the positions in `pairs` whose prompt fills max_length, so that no answer token is left to score."""
    losses = row_losses(engine, adapter, pairs, max_length)
    total = sum(loss * tokens for loss, tokens in filter(None, losses))
    count = sum(tokens for _, tokens in filter(None, losses))
    return (total / count if count else None), [i for i, row in enumerate(losses) if row is None]


def row_losses(
    engine,
    adapter: str | None,
    pairs: list[tuple[list[dict], str]],
    max_length: int = 1024,
    on_row: Callable[[int], bool] | None = None,
) -> list[tuple[float, int] | None]:
    """Per pair: (mean cross-entropy per answer token, answer tokens), one forward pass each, or None when its
    prompt fills max_length. `on_row(done)` after each row; returning False stops early (rows left out)."""
    import torch

    model = engine.model
    tokenizer = engine.tokenizer_for(adapter)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    found: list[tuple[float, int] | None] = []
    try:
        with torch.no_grad(), _active(model, adapter):
            for messages, reference in pairs:
                ids, n_prompt = encode_pair(tokenizer, messages, reference)
                ids = ids[:max_length]  # training truncates on the right too
                if len(ids) <= n_prompt:
                    found.append(None)
                else:
                    input_ids = torch.tensor([ids], device=device)
                    logits = model(input_ids=input_ids).logits[0, :-1].float()
                    targets = input_ids[0, 1:].clone()
                    targets[: max(n_prompt - 1, 0)] = -100  # token t+1 is predicted at position t: mask the prompt
                    tokens = int((targets != -100).sum())
                    loss = torch.nn.functional.cross_entropy(logits, targets, ignore_index=-100, reduction="sum")
                    found.append((float(loss) / tokens, tokens))
                if on_row is not None and on_row(len(found)) is False:
                    break
    finally:
        if was_training:
            model.train()
    return found


def encode_pair(tokenizer, messages: list[dict], reference: str) -> tuple[list[int], int]:
    """(token ids of prompt + answer, number of prompt tokens). The answer is what the chat template adds
    for the assistant turn after the generation prompt (its text and end-of-turn marker)."""
    prompt_text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    full_text = tokenizer.apply_chat_template([*messages, {"role": "assistant", "content": reference}], tokenize=False)
    if full_text.startswith(prompt_text):
        answer = full_text[len(prompt_text) :]
    else:  # a template that renders earlier turns differently once an answer follows
        answer = reference + (tokenizer.eos_token or "")
    prompt_ids = tokenizer(prompt_text, add_special_tokens=False)["input_ids"]
    answer_ids = tokenizer(answer, add_special_tokens=False)["input_ids"]
    return list(prompt_ids) + list(answer_ids), len(prompt_ids)


@contextlib.contextmanager
def _active(model, adapter: str | None):
    """Run the model as the base (adapters off) or with one adapter on."""
    if adapter is None:
        if hasattr(model, "disable_adapter"):  # a PeftModel
            with model.disable_adapter():
                yield
        else:  # transformers' own PEFT integration
            model.disable_adapters()
            try:
                yield
            finally:
                model.enable_adapters()
    else:
        # The evaluation engine holds one adapter: the run's. PEFT names it (run names may hold '.').
        attached = list(getattr(model, "peft_config", {}) or [])
        if len(attached) != 1:
            raise EvalError(f"Loss needs an engine with exactly one adapter attached, found {len(attached)}.")
        model.set_adapter(attached[0])
        yield


def _store_results(db, job: dict, base: dict, adapter: dict, *, replace_older: bool) -> None:
    run_id, job_id = job["run_id"], job["id"]
    stamp = store.now()
    with store.transaction(db):
        if replace_older:
            for table in ("evals", "eval_rows"):
                db.execute(
                    f"delete from {table} where run_id = ? and (job_id is null or job_id != ?)", [run_id, job_id]
                )
        db.table("evals").insert_all(
            [
                {
                    "run_id": run_id,
                    "job_id": job_id,
                    "split": job["split"],
                    "metric": metric,
                    "base_value": base.get(metric),
                    "adapter_value": adapter.get(metric),
                    "created": stamp,
                }
                for metric in [*base, *(m for m in adapter if m not in base)]
            ]
        )


def _numbers(values: dict) -> dict:
    return {
        k: (None if v is None else float(v))
        for k, v in values.items()
        if v is None or (isinstance(v, int | float) and not isinstance(v, bool))
    }


def _perplexity(loss: float | None) -> float | None:
    if loss is None:
        return None
    return math.exp(loss) if loss < 700 else math.inf


def _delta(base, adapter):
    return None if base is None or adapter is None else adapter - base


def _say(line: str) -> None:
    print(line, flush=True)


def _silent(line: str) -> None:
    pass


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.4f}"
