"""Held-out evaluation jobs: score a run's base and adapter on rows of its dataset, side by side.

An evaluation is a job of kind `evaluate` (workbench/jobs): queued by `start_eval` and run by the jobs
worker when the device is free (log in `runs/<run name>/eval.log`), or in the foreground by
`python -m workbench eval RUN` (`create_eval` + `run_eval`). The steps of `evaluate_job`:

    load the base (Engine) and attach the run's adapter
    -> for each batch of selected rows (heldout.py): greedy generation of the base's answers, then the
       adapter's, each in one batched call (generation.py); score both; store `eval_rows` rows; update
       progress; stop here if the app asked the job to stop
    -> loss and perplexity of the reference answers (losses.py), base and adapter
    -> aggregate each side, write `evals` rows (results.py) -> completed | cancelled   (any exception: failed)
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import time
from collections.abc import Callable

from workbench import metrics, paths, store
from workbench.data import repository
from workbench.evaluation import generation, heldout, losses, results, reuse
from workbench.inference.engine import Engine, Side
from workbench.jobs import queue, registry
from workbench.jobs import worker as jobs_worker
from workbench.models.loading import context_window, same_base
from workbench.training import runs
from workbench.training.data import training_prompt

ACTIVE = registry.ACTIVE


TERMINAL = registry.TERMINAL


LOG_FILE = "eval.log"


def create_eval(
    run_id: int | str,
    split: str = "validation",
    limit: int | None = None,
    dataset_revision: int | None = None,
    *,
    revision_id: int | None = None,
    against: int | str | None = None,
) -> int:
    """Queue an evaluation of a run's adapter against its base (or against run `against`'s adapter on the same
    base, both answering the same rows); returns the job id.

    `split`: "validation" (default), "train" or "all" rows of the run's dataset revision (for a preference run
    that went on from a supervised one, that run's: `runs.evaluation_revision_id`), or of revision
    `dataset_revision` (a revision number of that dataset), or of the revision with registry id `revision_id`
    (any dataset's). `limit`: the first N of them.
    """
    run = runs.get_run(run_id)
    if run["status"] in registry.RUNNING:
        raise heldout.EvalError(f"Run {run['name']!r} is {run['status']}: evaluate it once it has completed.")
    if split not in heldout.SPLITS:
        raise heldout.EvalError(f"Unknown split {split!r}: use one of {', '.join(heldout.SPLITS)}.")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise heldout.EvalError(f"limit: {limit!r} — give a whole number of rows, 1 or more (or none for all).")
    heldout.adapter_path(run)
    other = _other_side(run, against)
    name, revision = repository.revision_by_id(revision_id or runs.evaluation_revision_id(run))
    if dataset_revision is not None:
        revision = repository.get_revision(name, dataset_revision)
    indices = heldout.select_indices(revision, split, limit, name)  # fail now, not in the worker
    registry.sweep_lost()
    db = store.open_db()
    with store.transaction(db):
        busy = db.execute(
            "select id, status from jobs where kind = 'evaluate' and run_id = ? and status in "
            "('running', 'cancelling')",
            [run["id"]],
        ).fetchone()
        if busy:
            raise heldout.EvalError(
                f"Run {run['name']!r} is already being evaluated (job {busy[0]}, {busy[1]}): wait for "
                "it to finish or cancel it first."
            )
        # A job queued earlier (against the same side) and never started is superseded by this one.
        db.execute(
            "update jobs set status = 'cancelled', finished = ?, error = ? "
            f"where kind = 'evaluate' and run_id = ? and status = 'queued' and {results.AGAINST} is ?",
            [store.now(), "Replaced by a newer evaluation.", run["id"], other["id"] if other else None],
        )
        rows = f"{len(indices)} {split} row{'s' if len(indices) != 1 else ''}"
        versus = f" against {other['name']}" if other else ""
        return registry.create(
            "evaluate",
            f"Evaluate {run['name']}{versus} ({rows})",
            run_id=run["id"],
            db=db,
            args={
                "split": split,
                "limit": limit,
                "revision_id": revision.id,
                "against": other["id"] if other else None,
            },
            log=paths.run_dir(run["name"]) / LOG_FILE,
            progress={"done": 0, "total": len(indices), "unit": "rows", "eta_seconds": None},
        )


def _other_side(run: dict, against: int | str | None) -> dict | None:
    """The run whose adapter answers on the other side, checked: completed, with an adapter, on the same base."""
    if against is None:
        return None
    other = runs.get_run(against)
    if other["id"] == run["id"]:
        raise heldout.EvalError(f"Run {run['name']!r} against itself says nothing: pick another run, or the base.")
    if not same_base(other["base_model"], run["base_model"]):
        raise heldout.EvalError(
            f"Run {other['name']!r} was trained on {other['base_model']}, run {run['name']!r} on "
            f"{run['base_model']}: adapters compare only on the same base. Pick a run of {run['base_model']}."
        )
    heldout.adapter_path(other)
    return other


def start_eval(
    run_id: int | str,
    split: str = "validation",
    limit: int | None = None,
    dataset_revision: int | None = None,
    against: int | str | None = None,
) -> int:
    """Queue a job; its worker starts, detached, as soon as the device is free (closing the app does not
    stop it)."""
    job_id = create_eval(run_id, split, limit, dataset_revision, against=against)
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
    return results.with_args(jobs[0]) if jobs else None


def evaluation_after_training(run: dict, wait_seconds: float = 15.0, poll: float = 0.25) -> dict | None:
    """The evaluation a completed run queued for itself (TrainConfig.auto_evaluate), waiting a moment for
    the worker to queue it; None when the run asks for none, has no held-out rows, or none came."""
    if run["status"] != "completed" or not runs.run_config(run).auto_evaluate or not runs.has_validation(run):
        return None
    deadline = time.monotonic() + wait_seconds
    while True:
        job = registry.latest(run["id"], "evaluate")
        if job and job["created"] >= (run["finished"] or ""):
            return results.with_args(job)
        if time.monotonic() > deadline:
            return None
        time.sleep(poll)


def wait_for_eval(job_id: int, on_progress: Callable[[dict], None] | None = None, poll: float = 1.0) -> dict:
    """Follow a job (started by anyone) until it ends; `on_progress` sees each new progress. Returns the job."""
    seen = None
    while True:
        registry.sweep_lost()
        job = results.get_job(job_id)
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
    rows (generation.EVAL_BATCH_ROWS: 8 on a CPU)."""
    try:
        return registry.cancel(results.get_job(job_id)["id"])
    except registry.JobError as exc:
        raise heldout.EvalError(str(exc)) from exc


def mark_interrupted_evals() -> list[int]:
    """Evaluation jobs whose process is gone without a word (killed, machine restarted) become interrupted
    (every lost job of any kind is swept)."""
    lost = set(registry.sweep_lost())
    return [job["id"] for job in registry.list_jobs(kind="evaluate") if job["id"] in lost]


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


def run_eval(job_id: int, on_progress: Callable[[dict], None] | None = None, *, echo: bool = True) -> str:
    """Run job `job_id` in this process (the CLI's `eval`); returns its final status.

    `on_progress(progress)` is called after each batch and at the end. With `echo`, readable progress
    lines go to stdout.
    """
    handler = functools.partial(evaluate_job, on_progress=on_progress, echo=echo)
    return jobs_worker.run(results.get_job(job_id)["id"], handler)


def evaluate_job(job: dict, on_progress: Callable[[dict], None] | None = None, echo: bool = True) -> tuple[str, dict]:
    """The `evaluate` kind's handler: returns (completed | cancelled, {"rows": scored})."""
    registry.set_progress(job["id"], {**registry.progress(job), "phase": "loading"})
    return _evaluate(store.open_db(), results.get_job(job["id"]), on_progress, _say if echo else _silent)


def _report(job_id: int, progress: dict, side_tokens: int, on_progress: Callable[[dict], None] | None = None) -> None:
    current = {**progress, "side_tokens": side_tokens} if side_tokens else progress
    registry.set_progress(job_id, current)
    if on_progress:
        on_progress(current)


def _evaluate(db, job: dict, on_progress, say) -> tuple[str, dict]:
    # Heavy: the engine imports torch and transformers, which only the worker needs.

    job_id = job["id"]
    run = runs.get_run(job["run_id"])
    config = runs.run_config(run)
    adapter_dir = heldout.adapter_path(run)
    dataset, revision = repository.revision_by_id(job["revision_id"])
    fmt = repository.get_dataset(dataset).format
    all_rows = repository.read_revision_rows(revision)
    indices = heldout.select_indices(revision, job["split"], job["limit_n"], dataset)
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
            other = runs.get_run(job["against"]) if job.get("against") else None
            other_side = engine.attach(str(heldout.adapter_path(other)), other["name"]) if other else None
        except ValueError as exc:  # not a LoRA adapter of this base: the engine's message says which
            raise heldout.EvalError(str(exc)) from exc
        settings = generation.scoring_settings(engine.tokenizer_for(None), [ref for _, _, ref in examples], config.seed)
        max_new = settings.max_new_tokens
        say(
            f"Base {config.base_model!r} and adapter {adapter_dir.name!r}"
            + (f", against the adapter of {other['name']!r}," if other else "")
            + " loaded in "
            f"{time.monotonic() - started:.1f} s; greedy, up to {max_new} new tokens per answer."
        )
        examples, unread = generation.readable(examples, engine.tokenizer_for(name), config.base_model, max_new)
        shared = reuse.reusable_base(run, job)
        if shared is not None:
            say(f"The base's answers and loss come from the evaluation of {shared.run} (same base, rows and prompts).")
        for row in unread:
            say(f"Row {row['row']} is not scored: {row['tokens']:,} prompt tokens, longer than the model reads.")
        if not examples:
            raise heldout.EvalError(
                f"No row can be scored: every prompt is longer than {config.base_model} reads. Shorten them."
            )
        total = len(examples)

        progress = {"phase": "generating", "done": 0, "total": total, "unit": "rows", "eta_seconds": None}
        registry.set_progress(job_id, progress)
        done: list[tuple] = []  # (messages, reference, base text, adapter text, base scores, adapter scores)
        cancelled = False
        generation_started = time.monotonic()
        for chunk in generation.batches(
            examples, generation.EVAL_BATCH_ROWS.get(engine.device.type, generation.EVAL_BATCH_ROWS["cpu"])
        ):
            if registry.stop_requested(job_id):
                cancelled = True
                break
            # Base rows together and adapter rows together: the adapter's batch ends at its end-of-turn
            # tokens instead of waiting for a rambling base to reach max_new_tokens.
            rows = f"{len(done) + 1}-{len(done) + len(chunk)}" if len(chunk) > 1 else str(len(done) + 1)
            outputs: dict[str, list] = {}
            for side, side_adapter in (("base", other_side), ("adapter", name)):
                progress = {**progress, "side": side, "rows": rows, "side_tokens": 0}
                stored = shared.answers([index for index, _, _ in chunk]) if shared and side == "base" else None
                if stored is not None:
                    outputs[side] = stored
                    continue
                outputs[side] = generation.generate_reporting(
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
        base_loss: float | None = shared.loss if shared is not None else None
        if base_loss is None:
            base_loss, _ = losses.completion_loss(engine, other_side, pairs, config.max_length)
        adapter_loss, unscored = losses.completion_loss(engine, name, pairs, config.max_length)
    finally:
        with contextlib.suppress(Exception):
            engine.unload()

    references = [d[1] for d in done]
    base = metrics.aggregate([d[4] for d in done], [d[2] for d in done], references)
    adapter = metrics.aggregate([d[5] for d in done], [d[3] for d in done], references)
    base = {**results.numbers(base), "loss": base_loss, "perplexity": losses.perplexity(base_loss)}
    adapter = {**results.numbers(adapter), "loss": adapter_loss, "perplexity": losses.perplexity(adapter_loss)}
    status = "cancelled" if cancelled else "completed"
    results.store_results(db, job, base, adapter, replace_older=status == "completed")
    progress = {**progress, "phase": "done", "eta_seconds": 0}
    registry.set_progress(job_id, progress)
    say(f"Evaluation {status}: {len(done)} of {total} rows scored in {time.monotonic() - started:.1f} s.")
    for row in results.results(run["id"], job_id):
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
        "base_from": shared.run if shared else None,
    }
    for line in results.describe_coverage(coverage):
        say(line)
    return status, coverage


def _say(line: str) -> None:
    print(line, flush=True)


def _silent(line: str) -> None:
    pass


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.4f}"


def _prompt_text(messages: list[dict]) -> str:
    """What the evaluation table shows as the prompt: the user turn, or the whole exchange if longer."""
    turns = [m for m in messages if m["role"] != "system"]
    if len(turns) == 1:
        return turns[0]["content"]
    return "\n\n".join(f"{m['role']}: {m['content']}" for m in turns)
