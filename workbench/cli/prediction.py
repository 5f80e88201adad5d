"""`python -m workbench predict RUN FILE --out OUT.jsonl`: answer every row of a file, in the foreground."""

from __future__ import annotations

import sys
from pathlib import Path

from workbench.data.formats import INPUT_FORMATS, read_import_file
from workbench.jobs import registry
from workbench.jobs.worker import quiet_libraries
from workbench.prediction import job as predictions
from workbench.prediction import outputs

BASE_PREFIX = "base:"


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "predict",
        help="answer every row of a file with a run's adapter (or a base) and write the answers",
        description="Answer every row of FILE (any format the importer reads; the answers it holds, if any, "
        "are scored) and write input, output and scores to OUT (.jsonl, or .csv). A stopped or killed "
        "prediction goes on from its last answered row with --resume JOB.",
    )
    parser.add_argument("run", nargs="?", help="run id or name whose adapter answers, or base:MODEL for a base alone")
    parser.add_argument("file", nargs="?", type=Path, help="the file of inputs")
    parser.add_argument("--out", type=Path, required=True, help="where the answers go: OUT.jsonl or OUT.csv")
    parser.add_argument("--resume", type=int, metavar="JOB", help="go on with an interrupted or cancelled prediction")
    parser.add_argument("--base-only", action="store_true", help="answer with the run's base, adapter off")
    parser.add_argument("--format", choices=INPUT_FORMATS, help="the file's format (default: detected)")
    parser.add_argument("--column", help="CSV/Parquet: the column holding the inputs")
    parser.add_argument("--reference-column", help="CSV/Parquet: the column holding answers to score against")
    parser.add_argument("--sample", action="store_true", help="sample the answers (default: greedy)")
    parser.add_argument("--temperature", type=float, default=0.7, help="with --sample (default 0.7)")
    parser.add_argument("--top-p", type=float, default=0.9, help="with --sample (default 0.9)")
    parser.add_argument("--max-new-tokens", type=int, default=256, help="longest answer in tokens (default 256)")
    parser.add_argument("--seed", type=int, default=0, help="seed of sampled answers (default 0)")
    parser.add_argument("--batch-rows", type=int, default=0, help="rows generated together (default: by device)")
    parser.set_defaults(handler=_predict)


def _predict(args) -> int:
    quiet_libraries()
    if args.resume is not None:
        job_id = args.resume
        job = predictions.get_job(job_id)
        if job["status"] == "completed":
            return _finish(job_id, args.out)
        registry.requeue(job_id)
    else:
        if not args.run or not args.file:
            raise predictions.PredictError("Give RUN and FILE (or --resume JOB): see `python -m workbench predict -h`.")
        job_id = predictions.create_predict(
            _config(args),
            read_import_file(args.file),
            str(args.file),
            fmt=args.format,
            prompt_column=args.column,
            reference_column=args.reference_column,
        )
    job = predictions.get_job(job_id)
    print(f"{job['title']} (job {job_id})…", flush=True)
    try:
        status = predictions.run_predict(job_id, on_progress=progress_printer(), echo=False)
    except KeyboardInterrupt:
        print(
            f"\nStopped (Ctrl+C); the rows answered so far are kept. Go on with `python -m workbench predict "
            f"--resume {job_id} --out {args.out}`.",
            file=sys.stderr,
        )
        return 130
    if status != "completed":
        job = predictions.get_job(job_id)
        print(f"Prediction {status}: {(job['error'] or '').split(chr(10))[0]}".rstrip(), file=sys.stderr)
        print(f"Go on with `python -m workbench predict --resume {job_id} --out {args.out}`.", file=sys.stderr)
        return 1
    return _finish(job_id, args.out)


def _config(args):
    run, base = args.run, None
    if run.startswith(BASE_PREFIX):
        run, base = None, run[len(BASE_PREFIX) :]
    settings = dict(
        greedy=not args.sample,
        temperature=args.temperature,
        top_p=args.top_p,
        max_new_tokens=args.max_new_tokens,
        seed=args.seed,
        batch_rows=args.batch_rows,
    )
    config = predictions.for_run(run, base, **settings)
    if args.base_only:
        config.run = None
    return config


def _finish(job_id: int, out: Path) -> int:
    job = predictions.get_job(job_id)
    outputs.write_download(predictions.outputs_path(job), out)
    summary = registry.result(job).get("summary") or outputs.summary(predictions.outputs_path(job))
    print(f"{summary['rows']} answers written to {out}.")
    for metric, value in summary["metrics"].items():
        print(f"  {metric}: {value:.4f} (over the {summary['scored']} rows with a reference)")
    return 0


def progress_printer():
    def show(progress: dict) -> None:
        if progress.get("phase") == "generating" and progress.get("done"):
            print(f"  {predictions.describe_progress(progress)}", flush=True)

    return show
