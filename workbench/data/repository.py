"""Datasets on disk and in the registry: create, load, save revisions, diff, restore, split.

Layout under WORKBENCH_HOME:
    datasets/<name>.jsonl                  the latest revision (the file a user opens by hand)
    datasets/.history/<name>/r000001.jsonl every revision, immutable once written
    datasets/.history/<name>/dataset.json  format, notes and splits (what a registry rebuild reads)
The registry row of a revision is the truth: rows are always read from its history file, so a crash
between writing files and committing the row leaves the previous revision in force. The latest file is
copied to datasets/<name>.jsonl after the commit; `sync_current_files` redoes a copy a crash cut short.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from workbench import paths, store
from workbench.data.records import STORED_FORMATS, row_text
from workbench.data.split import Split, SplitSpec, split_rows
from workbench.errors import WorkbenchError
from workbench.fileio import jsonl_text, remove_orphan_temps, write_json_atomic, write_text_atomic

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
SAMPLE_SPLIT = SplitSpec(seed=42, validation_ratio=0.1)
SAMPLE_NOTE = "sample shipped with LoRA Workbench"


class DatasetError(WorkbenchError, ValueError):
    """A dataset operation that cannot be done; the message says why and what to do."""


class RevisionConflict(DatasetError):
    """Someone saved the dataset after this editor loaded it."""


@dataclass
class Revision:
    id: int
    dataset_id: int
    n: int
    sha256: str
    rows: int
    created: str
    note: str
    path: str
    split: Split | None = None


@dataclass
class DatasetInfo:
    id: int
    name: str
    format: str
    created: str
    updated: str
    latest: Revision


@dataclass
class RevisionDiff:
    """Row-level difference between two revisions (0-based row indices on each side)."""

    a: int
    b: int
    added: list[int] = field(default_factory=list)  # indices in b
    removed: list[int] = field(default_factory=list)  # indices in a
    changed: list[tuple[int, int]] = field(default_factory=list)  # (index in a, index in b)

    @property
    def unchanged(self) -> bool:
        return not (self.added or self.removed or self.changed)


def check_name(name: str) -> str:
    if not (name or "").strip():
        raise DatasetError(
            "The dataset needs a name: 1-64 letters, digits, '.', '_' or '-' (for example 'support-faq')."
        )
    if not NAME_PATTERN.match(name or ""):
        raise DatasetError(
            f"{name!r} is not a valid dataset name: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (for example 'support-faq')."
        )
    return name


def current_path(name: str) -> Path:
    return paths.datasets_dir() / f"{paths.safe_name(name, 'dataset name')}.jsonl"


def list_datasets() -> list[DatasetInfo]:
    db = store.open_db()
    return [_info(db, row) for row in db.table("datasets").rows_where(order_by="name")]


def last_used_dataset() -> str | None:
    """The dataset saved or imported most recently (the sample on a fresh workspace)."""
    row = store.open_db().execute("select name from datasets order by updated desc, id desc limit 1").fetchone()
    return row[0] if row else None


def dataset_names(kinds: tuple[str, ...] | None = None) -> list[str]:
    """Every dataset's name, or only those of the stored `kinds` (records.STORED_FORMATS)."""
    db = store.open_db().table("datasets")
    if kinds is None:
        return [row["name"] for row in db.rows_where(order_by="name", select="name")]
    marks = ", ".join("?" for _ in kinds)
    return [row["name"] for row in db.rows_where(f"format in ({marks})", list(kinds), order_by="name", select="name")]


def get_dataset(name: str) -> DatasetInfo:
    db = store.open_db()
    row = _dataset_row(db, name)
    return _info(db, row)


def create_dataset(name: str, fmt: str, rows: list[dict] | None = None, note: str = "created") -> Revision:
    check_name(name)
    if fmt not in STORED_FORMATS:
        raise DatasetError(f"Unknown dataset format {fmt!r}: choose one of {', '.join(STORED_FORMATS)}.")
    db = store.open_db()
    with store.transaction(db):
        if db.table("datasets").count_where("name = ?", [name]):
            raise DatasetError(f"A dataset named {name!r} already exists: pick another name or open it.")
        stamp = store.now()
        dataset_id = store.row_id(
            db.table("datasets").insert({"name": name, "format": fmt, "created": stamp, "updated": stamp})
        )
        revision = _write_revision(db, dataset_id, name, 1, rows or [], note)
    _after_commit(db, name, revision)
    return revision


def revisions(name: str) -> list[Revision]:
    db = store.open_db()
    dataset = _dataset_row(db, name)
    found = db.table("revisions").rows_where("dataset_id = ?", [dataset["id"]], order_by="n desc")
    return [_revision(row) for row in found]


def get_revision(name: str, n: int | None = None) -> Revision:
    db = store.open_db()
    dataset = _dataset_row(db, name)
    if n is None:
        n = _latest_n(db, dataset["id"])
    row = next(db.table("revisions").rows_where("dataset_id = ? and n = ?", [dataset["id"], n]), None)
    if row is None:
        raise DatasetError(f"Dataset {name!r} has no revision {n}; see its history for the revisions it has.")
    return _revision(row)


def revision_by_id(revision_id: int) -> tuple[str, Revision]:
    db = store.open_db()
    row = db.table("revisions").get(revision_id)
    return db.table("datasets").get(row["dataset_id"])["name"], _revision(row)


def load_rows(name: str, n: int | None = None) -> list[dict]:
    revision = get_revision(name, n)
    return read_revision_rows(revision)


def read_revision_rows(revision: Revision) -> list[dict]:
    path = paths.home() / revision.path
    if not path.exists():
        raise DatasetError(f"{path} is missing: revision {revision.n} cannot be read. Restore another one.")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def save_rows(name: str, rows: list[dict], base_revision: int, note: str = "") -> Revision:
    """Write `rows` as a new revision, unless someone saved after `base_revision` was loaded."""
    db = store.open_db()
    with store.transaction(db):
        dataset = _dataset_row(db, name)
        latest = _latest_n(db, dataset["id"])
        if latest != base_revision:
            raise RevisionConflict(
                f"Dataset {name!r} was saved elsewhere (revision {latest}) after you opened revision "
                f"{base_revision}. Nothing was overwritten: reload to see the new revision, or save your "
                "rows under a new dataset name."
            )
        revision = _write_revision(db, dataset["id"], name, latest + 1, rows, note or "edited")
    _after_commit(db, name, revision)
    return revision


def drop_rows(name: str, indices: list[int], base_revision: int, note: str) -> Revision:
    """A new revision without the rows at 0-based `indices` of revision `base_revision`; its split, if any,
    follows the rows that stay (the held-out rows stay the same rows)."""
    old = get_revision(name, base_revision)
    dropped = set(indices)
    rows = read_revision_rows(old)
    kept = [i for i in range(len(rows)) if i not in dropped]
    revision = save_rows(name, [rows[i] for i in kept], base_revision, note=note)
    if old.split:
        moved = {before: after for after, before in enumerate(kept)}
        split = Split(
            spec=old.split.spec,
            train=[moved[i] for i in old.split.train if i in moved],
            validation=[moved[i] for i in old.split.validation if i in moved],
        )
        set_split(name, revision.n, split)
        revision.split = split
    return revision


def restore_revision(name: str, n: int, base_revision: int) -> Revision:
    old = get_revision(name, n)
    rows = read_revision_rows(old)
    revision = save_rows(name, rows, base_revision, note=f"restored revision {n}")
    if old.split:
        set_split(name, revision.n, old.split)
        revision.split = old.split
    return revision


def diff_revisions(name: str, a: int, b: int) -> RevisionDiff:
    dataset = get_dataset(name)
    rows_a, rows_b = load_rows(name, a), load_rows(name, b)
    keys_a = [row_text(r, dataset.format) for r in rows_a]
    keys_b = [row_text(r, dataset.format) for r in rows_b]
    diff = RevisionDiff(a=a, b=b)
    matcher = difflib.SequenceMatcher(a=keys_a, b=keys_b, autojunk=False)
    for tag, a0, a1, b0, b1 in matcher.get_opcodes():
        if tag == "replace":
            paired = min(a1 - a0, b1 - b0)
            diff.changed += [(a0 + i, b0 + i) for i in range(paired)]
            diff.removed += list(range(a0 + paired, a1))
            diff.added += list(range(b0 + paired, b1))
        elif tag == "delete":
            diff.removed += list(range(a0, a1))
        elif tag == "insert":
            diff.added += list(range(b0, b1))
    return diff


def set_split(name: str, n: int, split: Split) -> None:
    revision = get_revision(name, n)
    if max(split.train + split.validation, default=-1) >= revision.rows:
        raise DatasetError(f"The split does not fit revision {n} of {name!r} ({revision.rows} rows).")
    db = store.open_db()
    db.table("revisions").update(revision.id, {"split_json": json.dumps(split.to_dict())})
    write_manifest(db, name)


def make_split(name: str, n: int, spec: SplitSpec) -> Split:
    revision = get_revision(name, n)
    split = split_rows(revision.rows, spec)
    set_split(name, n, split)
    return split


def delete_dataset(name: str) -> None:
    db = store.open_db()
    with store.transaction(db):
        dataset = _dataset_row(db, name)
        used = db.execute(
            "select count(*) from runs join revisions on runs.dataset_revision_id = revisions.id "
            "where revisions.dataset_id = ?",
            [dataset["id"]],
        ).fetchone()[0]
        if used:
            raise DatasetError(f"Dataset {name!r} is used by {used} run(s): delete those runs first.")
        db.table("revisions").delete_where("dataset_id = ?", [dataset["id"]])
        db.table("datasets").delete(dataset["id"])
    current_path(name).unlink(missing_ok=True)
    history = paths.datasets_dir() / ".history" / name
    for file in [*history.glob("r*.jsonl"), history / "dataset.json", history / "unsaved.json"]:
        file.unlink(missing_ok=True)
    if history.exists():
        history.rmdir()


def ensure_samples() -> list[str]:
    """Register the datasets shipped in the repository (with their validation split) on first use."""
    added = []
    known = set(dataset_names())
    for file in sorted(paths.sample_datasets_dir().glob("*.jsonl")):
        if file.stem in known or not NAME_PATTERN.match(file.stem):
            continue
        rows = [json.loads(line) for line in file.read_text(encoding="utf-8").splitlines() if line.strip()]
        fmt = "chat" if rows and "messages" in rows[0] else "alpaca"
        try:
            revision = create_dataset(file.stem, fmt, rows, note=SAMPLE_NOTE)
        except DatasetError:
            if file.stem in dataset_names():
                continue  # another process (the app's first start, a second command) registered it meanwhile
            raise
        make_split(file.stem, revision.n, SAMPLE_SPLIT)
        added.append(file.stem)
    return added


def sample_names() -> list[str]:
    """The names of the datasets shipped in the repository (registered by `ensure_samples`)."""
    return sorted(f.stem for f in paths.sample_datasets_dir().glob("*.jsonl") if NAME_PATTERN.match(f.stem))


def history_file(name: str, n: int) -> Path:
    return paths.dataset_history_dir(name) / f"r{n:06d}.jsonl"


def _write_revision(db, dataset_id: int, name: str, n: int, rows: list[dict], note: str) -> Revision:
    text = jsonl_text(rows)
    write_text_atomic(history_file(name, n), text)
    record = {
        "dataset_id": dataset_id,
        "n": n,
        "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
        "rows": len(rows),
        "created": store.now(),
        "note": note,
        "path": history_file(name, n).relative_to(paths.home()).as_posix(),
        "split_json": None,
    }
    record["id"] = store.row_id(db.table("revisions").insert(record))
    db.table("datasets").update(dataset_id, {"updated": record["created"]})
    return _revision(record)


def _after_commit(db, name: str, revision: Revision) -> None:
    source = paths.home() / revision.path
    write_text_atomic(current_path(name), source.read_text(encoding="utf-8"))
    write_manifest(db, name)


def write_manifest(db, name: str) -> None:
    dataset = _dataset_row(db, name)
    found = db.table("revisions").rows_where("dataset_id = ?", [dataset["id"]], order_by="n")
    write_json_atomic(
        paths.dataset_manifest(name),
        {
            "name": name,
            "format": dataset["format"],
            "created": dataset["created"],
            "revisions": [
                {
                    "n": row["n"],
                    "sha256": row["sha256"],
                    "created": row["created"],
                    "note": row["note"],
                    "split": json.loads(row["split_json"]) if row["split_json"] else None,
                }
                for row in found
            ],
        },
    )


def sync_current_files() -> list[str]:
    """Make each datasets/<name>.jsonl the registry's latest revision again where a crash left it behind
    (killed between the commit and the copy), and drop temp files of writers killed mid-write; returns the
    names repaired. Rows are never read from datasets/<name>.jsonl."""
    remove_orphan_temps(paths.datasets_dir())
    repaired = []
    for info in list_datasets():
        current = current_path(info.name)
        if current.is_file() and _sha256(current) == info.latest.sha256:
            continue
        source = paths.home() / info.latest.path
        if source.is_file():
            write_text_atomic(current, source.read_text(encoding="utf-8"))
            repaired.append(info.name)
    return repaired


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _dataset_row(db, name: str) -> dict:
    row = next(db.table("datasets").rows_where("name = ?", [name]), None)
    if row is None:
        known = ", ".join(dataset_names()) or "none yet"
        raise DatasetError(f"No dataset named {name!r} (known: {known}). Create or import it first.")
    return row


def _latest_n(db, dataset_id: int) -> int:
    return db.execute("select max(n) from revisions where dataset_id = ?", [dataset_id]).fetchone()[0] or 0


def _revision(row: dict) -> Revision:
    split = Split.from_dict(json.loads(row["split_json"])) if row.get("split_json") else None
    fields = {k: row[k] for k in ("id", "dataset_id", "n", "sha256", "rows", "created", "note", "path")}
    return Revision(**fields, split=split)


def _info(db, row: dict) -> DatasetInfo:
    latest = next(db.table("revisions").rows_where("dataset_id = ?", [row["id"]], order_by="n desc", limit=1))
    return DatasetInfo(**{k: row[k] for k in ("id", "name", "format", "created", "updated")}, latest=_revision(latest))
