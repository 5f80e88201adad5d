"""`python -m workbench eval RUN`: score a run's adapter against its base on held-out rows, in the foreground."""

from __future__ import annotations

import sys

from workbench.evaluation import runner
from workbench.training import runs


def add_parser(commands) -> None:
    parser = commands.add_parser("eval", help="score a run's adapter against its base on held-out rows")
    parser.add_argument("run", help="run id or name")
    parser.add_argument(
        "--split",
        choices=runner.SPLITS,
        default="validation",
        help="rows of the run's dataset revision to score (default: validation)",
    )
    parser.add_argument("--limit", type=int, default=None, metavar="N", help="score only the first N rows")
    parser.add_argument(
        "--revision",
        type=int,
        default=None,
        metavar="N",
        help="another revision of the run's dataset (default: the one it trained on)",
    )
    parser.set_defaults(handler=_eval)


def _eval(args) -> int:
    run = runs.get_run(args.run)
    running = runner.running_job(run["id"])
    if running is not None:
        print(
            f"Run {run['name']} is being evaluated already (job {running['id']}, {running['split']} split): "
            "following it.",
            flush=True,
        )
        return follow(run, running["id"])
    job_id = runner.create_eval(run["id"], split=args.split, limit=args.limit, dataset_revision=args.revision)
    total = runner.job_progress(runner.get_job(job_id)).get("total")
    print(
        f"Evaluating run {run['name']} (job {job_id}): {total} row(s), {args.split} split, base and adapter…",
        flush=True,
    )
    try:
        status = runner.run_eval(job_id, on_progress=_printer(), echo=False)
    except KeyboardInterrupt:
        print(f"\nEvaluation job {job_id} stopped (Ctrl+C): marked interrupted.", file=sys.stderr)
        return 130
    return _report(run, runner.get_job(job_id), status)


def follow(run: dict, job_id: int) -> int:
    """Wait for an evaluation running elsewhere (a worker) and print its result; Ctrl+C stops only the wait."""
    try:
        job = runner.wait_for_eval(job_id, on_progress=_printer())
    except KeyboardInterrupt:
        print(
            f"\nStopped waiting; the evaluation goes on. Follow it again with `python -m workbench eval "
            f"{run['name']}`.",
            file=sys.stderr,
        )
        return 130
    return _report(run, job, job["status"])


def _report(run: dict, job: dict, status: str) -> int:
    if status not in ("completed", "cancelled"):
        print(f"Evaluation {status}: {job['error'] or ''}".rstrip(), file=sys.stderr)
        return 1
    print(f"Evaluation {status}.")
    print(format_table(runner.results(run["id"], job["id"])))
    return 0 if status == "completed" else 1


def _printer():
    """Prints a line when the job moves: rows done, which side it generates for, tokens so far, time left."""

    def show(progress: dict) -> None:
        if progress.get("phase") != "generating":
            return
        print(f"  {runner.describe_progress(progress)}", flush=True)

    return show


def format_table(rows: list[dict]) -> str:
    """metric | base | adapter | delta, aligned in columns (numbers right-aligned)."""
    header = ("metric", "base", "adapter", "delta")
    body = [(r["metric"], _num(r["base"]), _num(r["adapter"]), _num(r["delta"], signed=True)) for r in rows]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(4)]

    def line(cells) -> str:
        return "  ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(cells))

    return "\n".join([line(header), line(["-" * w for w in widths]), *(line(r) for r in body)])


def _num(value, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.4f}" if signed else f"{value:.4f}"
