"""`python -m workbench datasets import|validate|export|stats|split|list`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from workbench.cli import pairs
from workbench.data import formats, repository
from workbench.data.split import (
    PROPOSED_SEED,
    SplitSpec,
    apply_split,
    holdout_tradeoff,
    proposed_holdout,
    split_overlap,
)
from workbench.data.stats import compute_stats
from workbench.fileio import write_text_atomic
from workbench.models.loading import load_tokenizer


def add_parser(commands) -> None:
    parser = commands.add_parser("datasets", help="list, import, validate, export, measure and split datasets")
    sub = parser.add_subparsers(dest="datasets_command", required=True, metavar="ACTION")

    sub.add_parser("list", help="every dataset with its latest revision and split").set_defaults(handler=_list)

    imp = sub.add_parser("import", help="import a file as a new dataset (or a new revision of one)")
    imp.add_argument("path", type=Path)
    imp.add_argument("--name", help="dataset name (default: the file name without extension)")
    imp.add_argument("--format", choices=formats.INPUT_FORMATS, help="override the detected format")
    imp.add_argument(
        "--holdout",
        type=int,
        metavar="N",
        help="rows to hold out for validation, seeded (default: 10 %%, at least 2, none under 10 rows)",
    )
    imp.add_argument("--no-split", action="store_true", help="keep every row for training (no held-out rows)")
    imp.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="FIELD=COLUMN",
        help="CSV/Parquet column mapping, e.g. --map instruction=question --map output=answer",
    )
    imp.add_argument("--skip-bad", action="store_true", help="import the good rows and skip rows with errors")
    imp.add_argument("--drop-duplicates", action="store_true", help="drop exact duplicate rows")
    imp.add_argument("--append", action="store_true", help="append to an existing dataset instead of replacing")
    imp.set_defaults(handler=_import)

    val = sub.add_parser("validate", help="print file:line: field: problem; exit 1 when there are errors")
    val.add_argument("path", help="a file, or the name of a stored dataset")
    val.add_argument("--format", choices=formats.INPUT_FORMATS)
    val.set_defaults(handler=_validate)

    exp = sub.add_parser("export", help="write a dataset as JSONL in any export format, or as CSV")
    exp.add_argument("name")
    exp.add_argument("--out", type=Path, required=True)
    exp.add_argument(
        "--format",
        choices=formats.EXPORT_FORMATS,
        help="default: alpaca for instruction and chat rows, TRL's own shape for preference and feedback rows",
    )
    exp.add_argument("--split", choices=("all", "train", "validation"), default="all")
    exp.add_argument("--revision", type=int)
    exp.set_defaults(handler=_export)

    stats = sub.add_parser("stats", help="rows, characters, real token counts, duplicates, JSON validity")
    stats.add_argument("name")
    stats.add_argument("--base", default="demo", help="base model whose tokenizer counts tokens")
    stats.add_argument("--max-length", type=int, default=1024)
    stats.add_argument("--revision", type=int)
    stats.add_argument("--json", action="store_true", help="print machine-readable JSON")
    stats.set_defaults(handler=_stats)

    split = sub.add_parser("split", help="seeded train/validation split, stored with the revision")
    split.add_argument("name")
    group = split.add_mutually_exclusive_group()
    group.add_argument("--ratio", type=float, default=None, help="validation share (default 0.1)")
    group.add_argument("--count", type=int, default=None, help="validation rows")
    split.add_argument("--seed", type=int, default=42)
    split.add_argument("--revision", type=int)
    split.set_defaults(handler=_split)

    pairs.add_parser(sub)


def _list(args) -> int:
    repository.ensure_samples()
    infos = repository.list_datasets()
    if not infos:
        print("No datasets yet: import one with `python -m workbench datasets import FILE`.")
    for info in infos:
        split = info.latest.split
        split_text = f"train {len(split.train)} / validation {len(split.validation)}" if split else "no split"
        print(f"{info.name}\t{info.format}\trevision {info.latest.n}\t{info.latest.rows} rows\t{split_text}")
    return 0


MAPPED_FIELDS = ("instruction", "input", "output", "system", "chosen", "rejected")


def _parse_mapping(pairs: list[str]) -> formats.ColumnMapping | None:
    if not pairs:
        return None
    mapping = formats.ColumnMapping()
    for pair in pairs:
        field, _, column = pair.partition("=")
        if field not in MAPPED_FIELDS or not column:
            raise repository.DatasetError(
                f"--map {pair!r}: expected FIELD=COLUMN with FIELD one of {', '.join(MAPPED_FIELDS)}."
            )
        setattr(mapping, field, column)
    return mapping


def _read(path: Path, fmt: str | None, mapping=None) -> formats.ImportResult:
    try:
        return formats.parse(formats.read_import_file(path), path.name, fmt, mapping)
    except formats.FormatError as exc:
        raise repository.DatasetError(str(exc)) from exc


def _import(args) -> int:
    result = _read(args.path, args.format, _parse_mapping(args.map))
    for problem in result.problems:
        print(problem, file=sys.stderr)
    if result.errors and not args.skip_bad:
        print(
            f"{len(result.bad_rows)} row(s) have errors: nothing was imported. Fix them, or pass --skip-bad "
            "to import the other rows.",
            file=sys.stderr,
        )
        return 1
    rows = result.good_rows
    if args.drop_duplicates:
        rows = _without_duplicates(rows)
    name = args.name or args.path.stem
    if name in repository.dataset_names():
        info = repository.get_dataset(name)
        if info.format != result.stored_format:
            raise repository.DatasetError(
                f"Dataset {name!r} holds {info.format} rows; this file gives "
                f"{result.stored_format} rows. Import it under another --name."
            )
        if args.append:
            rows = repository.load_rows(name) + rows
        revision = repository.save_rows(name, rows, info.latest.n, note=f"imported {args.path.name}")
    else:
        revision = repository.create_dataset(name, result.stored_format, rows, note=f"imported {args.path.name}")
    skipped = len(result.bad_rows) if args.skip_bad else 0
    print(
        f"Imported {len(rows)} rows into {name!r} (revision {revision.n}, {result.stored_format}"
        f"{f', {skipped} bad rows skipped' if skipped else ''})."
    )
    holdout = 0 if args.no_split else args.holdout if args.holdout is not None else proposed_holdout(len(rows))
    if holdout:
        made = repository.make_split(name, revision.n, SplitSpec(seed=PROPOSED_SEED, validation_count=holdout))
        print(
            f"Held out {len(made.validation)} rows for validation (seed {PROPOSED_SEED}): runs get an eval loss "
            "and a held-out score. --no-split keeps every row for training."
        )
        if tradeoff := holdout_tradeoff(len(rows), len(made.validation)):
            print(tradeoff)
    else:
        print(
            "No rows held out for validation (too few rows, or --no-split): runs get no eval loss or held-out "
            f"score. Split later with `python -m workbench datasets split {name}`."
        )
    return 0


def _without_duplicates(rows: list[dict]) -> list[dict]:
    seen, kept = set(), []
    for row in rows:
        key = json.dumps(row, sort_keys=True, ensure_ascii=False)
        if key not in seen:
            seen.add(key)
            kept.append(row)
    return kept


def _validate(args) -> int:
    path = Path(args.path)
    if not path.is_file() and args.path in repository.dataset_names():
        info = repository.get_dataset(args.path)
        problems = formats.validate_rows(
            repository.load_rows(args.path), info.format, repository.current_path(args.path).name
        )
        notes = []
    else:
        result = _read(path, args.format)
        problems, notes = result.problems, result.notes
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    for problem in problems:
        print(problem)
    errors = [p for p in problems if p.severity == "error"]
    print(f"{len(errors)} error(s), {len(problems) - len(errors)} warning(s)", file=sys.stderr)
    return 1 if errors else 0


def _selected_rows(name: str, revision_n: int | None, which: str) -> list[dict]:
    revision = repository.get_revision(name, revision_n)
    rows = repository.read_revision_rows(revision)
    if which == "all":
        return rows
    if revision.split is None:
        raise repository.DatasetError(
            f"Revision {revision.n} of {name!r} has no split: run `python -m workbench datasets split {name}` first."
        )
    train, validation = apply_split(rows, revision.split)
    return train if which == "train" else validation


def _export(args) -> int:
    info = repository.get_dataset(args.name)
    rows = _selected_rows(args.name, args.revision, args.split)
    args.format = args.format or formats.export_targets(info.format)[0]
    try:
        exported = formats.export_rows(rows, info.format, args.format, file=f"{args.name}.jsonl")
    except formats.ExportError as exc:
        raise repository.DatasetError(str(exc)) from exc
    write_text_atomic(args.out, formats.dumps_export(exported, args.format))
    print(f"Wrote {len(exported)} rows ({args.format}) to {args.out}")
    return 0


def _stats(args) -> int:

    info = repository.get_dataset(args.name)
    rows = repository.load_rows(args.name, args.revision)
    stats = compute_stats(rows, info.format, load_tokenizer(args.base), max_length=args.max_length)
    summary = {
        "dataset": args.name,
        "rows": stats.rows,
        "characters": stats.characters,
        "tokens_total": stats.tokens_total,
        "tokens_mean": round(stats.tokens_mean, 1),
        "tokens_p95": stats.tokens_p95,
        "tokens_max": stats.tokens_max,
        "max_length": stats.max_length,
        "over_max_length": len(stats.over_max),
        "exact_duplicate_groups": len(stats.exact_duplicates),
        "near_duplicate_groups": len(stats.near_duplicates),
        "json_outputs": stats.json_outputs,
        "json_valid_share": stats.json_valid_share,
    }
    if args.json:
        print(json.dumps(summary, ensure_ascii=False))
    else:
        for key, value in summary.items():
            print(f"{key:24} {value}")
    return 0


def _split(args) -> int:
    if args.count is not None:
        spec = SplitSpec(seed=args.seed, validation_ratio=None, validation_count=args.count)
    else:
        spec = SplitSpec(seed=args.seed, validation_ratio=0.1 if args.ratio is None else args.ratio)
    revision = repository.get_revision(args.name, args.revision)
    try:
        split = repository.make_split(args.name, revision.n, spec)
    except ValueError as exc:
        raise repository.DatasetError(str(exc)) from exc
    rows = repository.read_revision_rows(revision)

    overlap = split_overlap(rows, repository.get_dataset(args.name).format, split)
    print(
        f"{args.name} revision {revision.n}: train {len(split.train)}, validation {len(split.validation)} "
        f"(seed {spec.seed}); {len(overlap)} validation row(s) overlap with train"
    )
    return 0
