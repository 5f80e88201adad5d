"""`python -m workbench datasets pairs-from-eval RUN --name NAME`: preference pairs from an adapter's mistakes.

By default the adapter answers its run's training rows first (a prediction job, in the foreground, resumable);
with `--rows validation` the pairs come from the run's latest finished held-out evaluation instead, and the
command says that those rows then no longer measure generalisation.
"""

from __future__ import annotations

import sys

from workbench.cli.prediction import progress_printer
from workbench.evaluation import results as eval_results
from workbench.jobs.worker import quiet_libraries
from workbench.prediction import job as predictions
from workbench.prediction import mistakes
from workbench.prediction.mistakes import MistakeFilter, MistakesError
from workbench.training import runs

SHOWN = 3


def add_parser(sub) -> None:
    parser = sub.add_parser(
        "pairs-from-eval",
        help="preference pairs from the rows a run's adapter gets wrong (chosen: the reference)",
        description="Build preference pairs from the rows RUN's adapter answers wrongly: chosen = the dataset's "
        "answer, rejected = the adapter's. By default the adapter answers the run's training rows first, so "
        "that the held-out rows stay a fair test.",
    )
    parser.add_argument("run", help="run id or name")
    parser.add_argument("--name", required=True, help="preference dataset the pairs are added to (created if new)")
    parser.add_argument("--metric", default="exact_match", choices=sorted(mistakes.METRICS), help="what decides")
    parser.add_argument("--below", type=float, default=1.0, help="a row scoring below this is wrong (default 1)")
    parser.add_argument(
        "--rows", choices=("train", "validation"), default="train", help="answer the training rows (default)"
    )
    parser.add_argument("--dry-run", action="store_true", help="show the pairs, save nothing")
    parser.set_defaults(handler=_pairs_from_eval)


def _pairs_from_eval(args) -> int:
    quiet_libraries()
    rule = MistakeFilter(args.metric, args.below).check()
    if args.rows == "train":
        candidates, source = _training_rows(args.run)
        if candidates is None:
            return 1
    else:
        job = eval_results.results_job(runs.get_run(args.run)["id"])
        if job is None:
            raise MistakesError(
                f"Run {args.run!r} has no finished evaluation to take pairs from: run `python -m workbench eval "
                f"{args.run}` first, or use the training rows (the default)."
            )
        candidates, source = mistakes.evaluation_candidates(job["id"]), f"evaluation job {job['id']}"
    found = mistakes.mistakes(candidates, rule)
    print(f"{mistakes.describe(candidates, rule)} ({source}).")
    for candidate in found[:SHOWN]:
        print(f"  row {candidate.row}: chosen {candidate.reference[:60]!r} · rejected {candidate.answer[:60]!r}")
    if args.dry_run or not found:
        print("Nothing saved." if found else "No pair to save.")
        return 0
    revision = mistakes.save_pairs(args.name, found, f"pairs from run {args.run}'s mistakes ({source})")
    print(f"{len(found)} pairs added to {args.name!r}: revision {revision.n}, {revision.rows} rows.")
    if args.rows == "validation":
        print(mistakes.HELD_OUT_NOTICE, file=sys.stderr)
    print(f"Train on them: `python -m workbench train --dataset {args.name} --set objective=dpo --set start_from=…`.")
    return 0


def _training_rows(run: str):
    job_id = mistakes.answer_training_rows(run, start=False)
    job = predictions.get_job(job_id)
    print(f"{job['title']} (job {job_id})…", flush=True)
    status = predictions.run_predict(job_id, on_progress=progress_printer(), echo=False)
    if status != "completed":
        job = predictions.get_job(job_id)
        print(f"Answering the training rows {status}: {(job['error'] or '').splitlines()[:1]}", file=sys.stderr)
        print(f"Go on with `python -m workbench predict --resume {job_id} --out answers.jsonl`.", file=sys.stderr)
        return None, None
    return mistakes.prediction_candidates(job_id), f"training rows, prediction job {job_id}"
