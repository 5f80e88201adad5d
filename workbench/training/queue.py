"""Which runs are waiting or running. (The scheduler itself arrives with the Training issue.)"""

from __future__ import annotations

from workbench import store


def active_runs() -> list[dict]:
    db = store.open_db()
    marks = ", ".join("?" for _ in store.ACTIVE_RUN_STATUSES)
    return list(db["runs"].rows_where(f"status in ({marks})", list(store.ACTIVE_RUN_STATUSES), order_by="id"))
