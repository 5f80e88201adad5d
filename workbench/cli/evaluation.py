"""`python -m workbench eval RUN`: score a run's adapter against its base on held-out rows, in the foreground."""

from __future__ import annotations

import sys

from workbench import metrics
from workbench.data import repository
from workbench.evaluation import fields, heldout
from workbench.evaluation import jobs as eval_jobs
from workbench.evaluation import results as eval_results
from workbench.jobs import registry
from workbench.training import runs


def add_parser(commands) -> None:
    parser = commands.add_parser("eval", help="score a run's adapter against its base on held-out rows")
    parser.add_argument("run", help="run id or name")
    parser.add_argument(
        "--split",
        choices=heldout.SPLITS,
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
    parser.add_argument(
        "--dataset",
        metavar="NAME",
        help="score on another dataset's rows (its latest revision; an imported adapter has none of its own)",
    )
    parser.add_argument(
        "--by-field",
        action="store_true",
        help="also a table per JSON field (right, wrong, missing, extra; base beside adapter) and, for fields "
        "with few values, reference against answer",
    )
    parser.add_argument(
        "--last",
        action="store_true",
        help="print the run's latest finished evaluation instead of running a new one",
    )
    parser.add_argument(
        "--against",
        metavar="RUN",
        help="with --by-field: put another run's latest evaluation beside this one, field by field",
    )
    parser.add_argument(
        "--versus",
        metavar="RUN",
        help="score the adapter against another run's adapter on the same base (both answer the same rows) "
        "instead of against the base",
    )
    parser.set_defaults(handler=_eval)


def _eval(args) -> int:
    run = runs.get_run(args.run)
    if args.against and not args.by_field:
        raise heldout.EvalError("--against compares runs field by field: add --by-field.")
    if args.last:
        job = eval_results.results_job(run["id"], runs.get_run(args.versus)["id"] if args.versus else None)
        if job is None:
            raise heldout.EvalError(
                f"Run {run['name']} has no finished evaluation yet: run `python -m workbench eval {run['name']}`."
            )
        return _report(run, job, job["status"], args)
    running = eval_jobs.running_job(run["id"])
    if running is not None:
        print(
            f"Run {run['name']} is being evaluated already (job {running['id']}, {running['split']} split): "
            "following it.",
            flush=True,
        )
        return follow(run, running["id"], args)
    other_dataset = repository.get_revision(args.dataset, args.revision) if args.dataset else None
    job_id = eval_jobs.create_eval(
        run["id"],
        split=args.split,
        limit=args.limit,
        dataset_revision=None if other_dataset else args.revision,
        revision_id=other_dataset.id if other_dataset else None,
        against=args.versus,
    )
    total = eval_jobs.job_progress(eval_results.get_job(job_id)).get("total")
    sides = f"{runs.get_run(args.versus)['name']} (base column) and this adapter" if args.versus else "base and adapter"
    print(
        f"Evaluating run {run['name']} (job {job_id}): {total} row(s), {args.split} split, {sides}…",
        flush=True,
    )
    try:
        status = eval_jobs.run_eval(job_id, on_progress=_printer(), echo=False)
    except KeyboardInterrupt:
        print(f"\nEvaluation job {job_id} stopped (Ctrl+C): marked interrupted.", file=sys.stderr)
        return 130
    return _report(run, eval_results.get_job(job_id), status, args)


def follow(run: dict, job_id: int, args=None) -> int:
    """Wait for an evaluation running elsewhere (a worker) and print its result; Ctrl+C stops only the wait."""
    try:
        job = eval_jobs.wait_for_eval(job_id, on_progress=_printer())
    except KeyboardInterrupt:
        print(
            f"\nStopped waiting; the evaluation goes on. Follow it again with `python -m workbench eval "
            f"{run['name']}`.",
            file=sys.stderr,
        )
        return 130
    return _report(run, job, job["status"], args)


def _report(run: dict, job: dict, status: str, args=None) -> int:
    if status not in ("completed", "cancelled"):
        print(f"Evaluation {status}: {job['error'] or ''}".rstrip(), file=sys.stderr)
        return 1
    print(f"Evaluation {status}.")
    for line in eval_results.describe_coverage(registry.result(job)):
        print(f"Note: {line}")
    other = runs.get_run(job["against"])["name"] if job.get("against") else "base"
    print(format_table(eval_results.results(run["id"], job["id"]), other))
    if args is not None and args.by_field:
        print(_by_field(run, job, args.against))
    return 0 if status == "completed" else 1


def _by_field(run: dict, job: dict, against: str | None) -> str:
    rows = eval_results.eval_rows_for(job)
    if not fields.is_json_task([row["reference"] for row in rows]):
        ranked = fields.worst_text_rows(rows, "adapter")[:10]
        lines = [
            f"{r['row']:>5}  {_num(r['rouge_l'])}  {r['answer_chars']:>6}  {r['reference_chars']:>9}" for r in ranked
        ]
        return "\n".join(
            ["", "Not a JSON task: the adapter's worst rows by ROUGE-L.", "  row  rouge_l  answer  reference", *lines]
        )
    tables = fields.side_tables(rows)
    columns = {"base": tables["base"], run["name"]: tables["adapter"]}
    if against:
        other = runs.get_run(against)
        other_job = eval_results.results_job(other["id"])
        if other_job is None:
            raise heldout.EvalError(
                f"Run {other['name']} has no finished evaluation to compare with: evaluate it first."
            )
        columns[other["name"]] = fields.side_tables(eval_results.eval_rows_for(other_job))["adapter"]
    out = ["", format_fields(columns)]
    for matrix in fields.side_confusions(rows, "adapter"):
        out += ["", format_confusion(matrix, run["name"])]
    return "\n".join(out)


def format_fields(columns: dict[str, list[fields.FieldCounts]]) -> str:
    """One line per field: for each column (base, the adapter, another run) right/present, and the adapter's
    wrong, missing and extra counts."""
    names = list(columns)
    first = names[1] if len(names) > 1 else names[0]
    paths = list(dict.fromkeys(c.field for table in columns.values() for c in table))
    by_name = {name: {c.field: c for c in table} for name, table in columns.items()}
    header = ["field", *(f"{name} right" for name in names), "wrong", "missing", "extra"]
    body = []
    for path in paths:
        cells = [path]
        for name in names:
            counts = by_name[name].get(path)
            cells.append(f"{counts.right}/{counts.present}" if counts and counts.present else "-")
        ours = by_name[first].get(path)
        cells += [str(ours.wrong), str(ours.missing), str(ours.extra)] if ours else ["-", "-", "-"]
        body.append(cells)
    return _columns(header, body)


def format_confusion(matrix: fields.Confusion, who: str) -> str:
    """Reference values down, answer values across, counts in the cells."""
    header = [f"{matrix.field} ({who}): reference \\ answer", *matrix.answers]
    body = [[ref, *(str(matrix.count(ref, ans) or ".") for ans in matrix.answers)] for ref in matrix.references]
    return _columns(header, body)


def _columns(header: list[str], body: list[list[str]]) -> str:
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]

    def line(cells) -> str:
        return "  ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(cells))

    return "\n".join([line(header), *(line(r) for r in body)])


def _printer():
    """Prints a line when the job moves: rows done, which side it generates for, tokens so far, time left."""

    def show(progress: dict) -> None:
        if progress.get("phase") != "generating":
            return
        print(f"  {eval_jobs.describe_progress(progress)}", flush=True)

    return show


def format_table(rows: list[dict], other: str = "base") -> str:
    """metric | base (or the other run's name) | adapter | delta, aligned in columns (numbers right-aligned)."""
    header = ("metric", other, "adapter", "delta")
    body = [
        (
            metrics.SHOWN_NAMES.get(r["metric"], r["metric"]),
            _num(r["base"]),
            _num(r["adapter"]),
            _num(r["delta"], signed=True),
        )
        for r in rows
    ]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(4)]

    def line(cells) -> str:
        return "  ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(cells))

    return "\n".join([line(header), line(["-" * w for w in widths]), *(line(r) for r in body)])


def _num(value, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.4f}" if signed else f"{value:.4f}"
