"""A prediction job's outputs file: one JSON line per answered row, appended as rows finish.

The file is the job's memory: a resumed job starts after its last complete line (a line cut short by a
kill is dropped first), the page's table reads its tail, downloads stream it, and no answer is held in
memory beyond its batch. A line: {"row", "line", "input", "output", "tokens", "stopped"} plus "reference"
and "scores" (every evaluation metric) where the file gave an answer.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections import deque
from collections.abc import Iterator
from pathlib import Path

from workbench import metrics
from workbench.data.formats import spreadsheet_safe

CSV_COLUMNS = ("row", "line", "input", "output", "reference", "tokens", "stopped")


def finished_rows(path: Path) -> int:
    """How many rows the file holds complete; a last line cut short (a kill mid-write) is removed."""
    if not path.exists():
        return 0
    with open(path, "rb+") as handle:
        data = handle.read()
        complete = data.rfind(b"\n") + 1
        if complete < len(data):
            handle.truncate(complete)
            handle.flush()
            os.fsync(handle.fileno())
    return data[:complete].count(b"\n")


def append_rows(path: Path, rows: list[dict]) -> None:
    """Add rows at the end, on disk before returning (one write, so a kill leaves at most one cut line)."""
    text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def iter_rows(path: Path) -> Iterator[dict]:
    if not path.exists():
        return
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.endswith("\n"):
                yield json.loads(line)


def tail(path: Path, count: int) -> list[dict]:
    """The last `count` rows (what the page shows while a job runs)."""
    return list(deque(iter_rows(path), maxlen=count))


def summary(path: Path) -> dict:
    """Rows answered, rows with a reference, and each metric's mean over those (corpus BLEU)."""
    scores, answers, references, rows = [], [], [], 0
    for row in iter_rows(path):
        rows += 1
        if row.get("reference") is not None:
            scores.append(row["scores"])
            answers.append(row["output"])
            references.append(row["reference"])
    means = metrics.aggregate(scores, answers, references) if scores else {}
    return {"rows": rows, "scored": len(scores), "metrics": {k: v for k, v in means.items() if v is not None}}


def answered(index: int, line: int, prompt: str, output: str, tokens: int, stopped: str, reference: str | None):
    """One outputs line (scored against the reference when there is one)."""
    row = {"row": index, "line": line, "input": prompt, "output": output, "tokens": tokens, "stopped": stopped}
    if reference is not None:
        row.update(reference=reference, scores=metrics.score_row(output, reference))
    return row


def jsonl_chunks(path: Path) -> Iterator[bytes]:
    """The outputs as the JSONL download (the file as it is), in chunks."""
    if path.exists():
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                yield chunk


def csv_chunks(path: Path) -> Iterator[str]:
    """The outputs as CSV (a column per metric that some row has), a row at a time. A cell a spreadsheet
    would run as a formula starts with an apostrophe."""
    present = {
        name for row in iter_rows(path) for name, value in (row.get("scores") or {}).items() if value is not None
    }
    names = [name for name in metrics.METRICS if name in present]
    buffer = io.StringIO()
    writer = csv.writer(buffer)  # CRLF line ends: a cell holding a lone CR is quoted too (RFC 4180)
    writer.writerow([*CSV_COLUMNS, *names])
    for row in iter_rows(path):
        scores = row.get("scores") or {}
        cells = [_cell(row.get(column)) for column in CSV_COLUMNS]
        writer.writerow(cells + ["" if scores.get(name) is None else f"{scores[name]:.4f}" for name in names])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()


def _cell(value) -> str:
    return spreadsheet_safe("" if value is None else str(value))


def write_download(path: Path, out: Path) -> None:
    """Write the outputs to `out` (CSV when it ends with .csv, else JSONL), streamed, atomically."""
    partial = out.with_name(f".{out.name}.partial")
    try:
        if out.suffix.lower() == ".csv":
            with open(partial, "w", encoding="utf-8", newline="") as handle:
                for text in csv_chunks(path):
                    handle.write(text)
        else:
            with open(partial, "wb") as handle:
                for chunk in jsonl_chunks(path):
                    handle.write(chunk)
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
