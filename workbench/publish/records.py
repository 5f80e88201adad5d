"""The `publishes` table: every Ollama publish and GGUF export, with how it ended and what was checked."""

from __future__ import annotations

import json
import time

from workbench import store


def start(run_id: int, target: str, name: str, host: str, status: str, details: dict) -> int:
    return store.row_id(
        store.open_db()
        .table("publishes")
        .insert(
            {
                "run_id": run_id,
                "target": target,
                "name": name,
                "host": host,
                "created": store.now(),
                "status": status,
                "details_json": json.dumps(details, ensure_ascii=False),
            }
        )
    )


def finish(record_id: int, status: str, details: dict) -> None:
    db = store.open_db()
    row = db.table("publishes").get(record_id)
    merged = {**json.loads(row["details_json"] or "{}"), **details, "finished": time.time()}
    db.table("publishes").update(record_id, {"status": status, "details_json": json.dumps(merged, ensure_ascii=False)})


def get_record(record_id: int) -> dict:
    row = store.open_db().table("publishes").get(record_id)
    return {**row, "details": json.loads(row["details_json"] or "{}")}


def list_records(run_id: int | None = None) -> list[dict]:
    where, args = ("run_id = ?", [run_id]) if run_id is not None else (None, None)
    rows = store.open_db().table("publishes").rows_where(where, args, order_by="id desc")
    return [{**row, "details": json.loads(row["details_json"] or "{}")} for row in rows]


def delete(record_id: int) -> None:
    store.open_db().table("publishes").delete(record_id)
