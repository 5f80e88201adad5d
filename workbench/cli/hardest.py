"""`python -m workbench hardest RUN`: the training rows a run's adapter finds hardest, by its loss on each answer."""

from __future__ import annotations

from workbench.data import records, repository
from workbench.evaluation import hardest
from workbench.jobs import registry
from workbench.jobs.worker import quiet_libraries

SNIPPET = 70


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "hardest",
        help="the training rows a run's adapter finds hardest (its loss on each row's answer): wrong labels show here",
    )
    parser.add_argument("run", help="run id or name")
    parser.add_argument("--top", type=int, default=20, metavar="N", help="how many rows to print (default 20)")
    parser.set_defaults(handler=_hardest)


def _hardest(args) -> int:
    quiet_libraries()
    job_id = hardest.create_hardest(args.run)
    status = hardest.run_hardest(job_id)
    job = registry.get(job_id)
    if status not in ("completed", "cancelled"):
        print(f"Hardest rows {status}: {(job['error'] or '').splitlines()[:1]}")
        return 1
    dataset, revision = repository.revision_by_id(registry.args(job)["revision_id"])
    fmt = repository.get_dataset(dataset).format
    rows = repository.read_revision_rows(revision)
    found = hardest.hardest_rows(job)
    print(f"{len(found)} training rows of {dataset} r{revision.n}, hardest first (loss per answer token):")
    for row in found[: args.top]:
        prompt, answer = records.prompt_and_reference(rows[row["row"] - 1], fmt)
        question, label = (text.replace("\n", " ")[:SNIPPET] for text in (prompt[-1]["content"], answer))
        print(f"  row {row['row']:>5}  loss {row['loss']:7.3f}  {question!r} → {label!r}")
    unscored = registry.result(job).get("unscored") or []
    if unscored:
        print(f"Not measured (the prompt fills max_length): rows {', '.join(map(str, unscored[:10]))}.")
    return 0
