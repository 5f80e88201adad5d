"""The base's answers, shared by an experiment's evaluations: the runs of a sweep share their base, rows and
prompts, so the base answers them once (on a CPU a rambling base takes more than half of an evaluation).

An evaluation of a run in an experiment reuses the base side of a completed evaluation of another run of the
same experiment when everything that shapes those answers is the same: the base and how it is loaded, the
dataset revision, split and rows, the system prompt and chat template, and max_length (for the loss).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from workbench import store
from workbench.evaluation import results
from workbench.training import runs

SAME = ("base_model", "method", "system_prompt", "chat_template", "max_length", "trust_remote_code")


@dataclass
class Answer:
    """A stored base answer in the shape the engine's results have."""

    text: str
    tokens: int
    total_s: float = 0.0
    stopped: str | None = None


@dataclass
class ReusedBase:
    run: str
    job_id: int
    rows: dict[int, dict]  # row_index -> its stored eval row
    loss: float | None

    def answers(self, indices: list[int]) -> list[Answer] | None:
        """The base's answers to these rows, or None when any of them was not answered there."""
        if not all(index in self.rows for index in indices):
            return None
        found = []
        for index in indices:
            row = self.rows[index]
            details = json.loads(row.get("details_json") or "{}")
            found.append(Answer(row["base_output"], details.get("base_tokens", 0), 0.0, details.get("base_stopped")))
        return found


def reusable_base(run: dict, job: dict) -> ReusedBase | None:
    """The base side of another completed evaluation of the experiment that answered these rows the same way."""
    if not run.get("experiment_id") or job.get("against"):
        return None
    config = runs.run_config(run)
    db = store.open_db()
    for peer in runs.list_runs(run["experiment_id"]):
        if peer["id"] == run["id"] or any(getattr(runs.run_config(peer), k) != getattr(config, k) for k in SAME):
            continue
        done = results.results_job(peer["id"])
        if done is None or done["status"] != "completed":
            continue
        if (done["revision_id"], done["split"], done["limit_n"]) != (job["revision_id"], job["split"], job["limit_n"]):
            continue
        rows = {row["row_index"]: row for row in db.table("eval_rows").rows_where("job_id = ?", [done["id"]])}
        loss = next((row["base"] for row in results.results(peer["id"], done["id"]) if row["metric"] == "loss"), None)
        return ReusedBase(peer["name"], done["id"], rows, loss)
    return None
