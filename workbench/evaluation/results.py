"""Reading and storing what evaluations found: a run's evaluation jobs, its metric table (base against
adapter), its per-row outputs, and what of the asked rows was scored.

Results belong to their job (`job_id`): a completed job replaces every older result of its run against the
same side; a cancelled job keeps the rows it finished and their aggregates, under its own id. The other side is
the base, or (`against`, a run id) another run's adapter on the same base: those comparisons are kept apart
from the run's own scores against its base, which every table and ranking reads by default.
"""

from __future__ import annotations

import json

from workbench import metrics, store
from workbench.evaluation import heldout
from workbench.jobs import registry

EXTRA_METRICS = ("loss", "perplexity")


def get_job(job_id: int) -> dict:
    """An evaluation job's row, with its split, limit_n and revision_id."""
    job = registry.get_of_kind(job_id, "evaluate")
    if job is None:
        raise heldout.EvalError(f"No evaluation job {job_id}: it was deleted with its run, or never existed.")
    return with_args(job)


def with_args(job: dict) -> dict:
    values = registry.args(job)
    return {
        **job,
        "split": values.get("split"),
        "limit_n": values.get("limit"),
        "revision_id": values.get("revision_id"),
        "against": values.get("against"),
    }


# A job's other side: its args' `against`, null for the base.
AGAINST = "json_extract(args_json, '$.against')"


def latest_job(run_id: int, against: int | None = None) -> dict | None:
    """The run's newest job against the base (or against run `against`), whatever its status (None if none)."""
    row = (
        store.open_db()
        .execute(
            f"select id from jobs where kind = 'evaluate' and run_id = ? and {AGAINST} is ? order by id desc limit 1",
            [run_id, against],
        )
        .fetchone()
    )
    return get_job(row[0]) if row else None


def list_jobs(run_id: int) -> list[dict]:
    return [with_args(job) for job in registry.list_jobs(kind="evaluate", run_id=run_id)]


def results_job(run_id: int, against: int | None = None) -> dict | None:
    """The job whose results a run shows: its latest completed one, else its latest cancelled one with rows;
    against the base, or against run `against`."""
    db = store.open_db()
    for status in ("completed", "cancelled"):
        row = db.execute(
            f"select id from jobs where kind = 'evaluate' and run_id = ? and status = ? and {AGAINST} is ? and "
            "exists (select 1 from evals where evals.job_id = jobs.id) order by id desc limit 1",
            [run_id, status, against],
        ).fetchone()
        if row:
            return get_job(row[0])
    return None


def results(run_id: int, job_id: int | None = None, against: int | None = None) -> list[dict]:
    """The metric table of a run's latest completed job (or of `job_id`; `against`: see results_job):
    [{"metric", "base", "adapter", "delta"}], the text metrics first, then loss and perplexity ("base" is the
    other side: the base, or run `against`'s adapter)."""
    if job_id is None:
        job = results_job(run_id, against)
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
                    "delta": delta(base[metric], adapter[metric]),
                }
            )
    return table


def rows(run_id: int, job_id: int | None = None, against: int | None = None) -> list[dict]:
    """The per-row outputs of a run's latest completed job (or of `job_id`); see `eval_rows_for`."""
    if job_id is None:
        job = results_job(run_id, against)
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


def store_results(db, job: dict, base: dict, adapter: dict, *, replace_older: bool) -> None:
    run_id, job_id = job["run_id"], job["id"]
    stamp = store.now()
    with store.transaction(db):
        if replace_older:
            against = job.get("against")
            older = (
                f"job_id != ? and job_id in (select id from jobs where kind = 'evaluate' and run_id = ? and "
                f"{AGAINST} is ?)"
            )
            legacy = " or job_id is null" if against is None else ""  # results stored before jobs had ids
            for table in ("evals", "eval_rows"):
                db.execute(
                    f"delete from {table} where run_id = ? and ({older}{legacy})", [run_id, job_id, run_id, against]
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


def numbers(values: dict) -> dict:
    return {
        k: (None if v is None else float(v))
        for k, v in values.items()
        if v is None or (isinstance(v, int | float) and not isinstance(v, bool))
    }


def delta(base, adapter):
    return None if base is None or adapter is None else adapter - base
