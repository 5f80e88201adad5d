"""The registry: transactions, and migrations that keep what an older workbench stored."""

import json
import sqlite3

import pytest
import sqlite_utils

from workbench import paths, store
from workbench.evaluation import jobs as eval_jobs
from workbench.evaluation import results as eval_results
from workbench.jobs import registry
from workbench.training import runs


def _v3_database() -> None:
    """A registry as the workbench before the job model (schema 3) left it: a completed run with an
    evaluation and a publish, an interrupted run, and a queued evaluation."""
    db = sqlite_utils.Database(sqlite3.connect(str(paths.db_path()), isolation_level=None))
    for migrate in store.MIGRATIONS[:3]:
        migrate(db)
    db.execute("PRAGMA user_version=3")
    db["datasets"].insert({"id": 1, "name": "faq", "format": "alpaca", "created": "t0", "updated": "t0"})
    db["revisions"].insert(
        {
            "id": 1,
            "dataset_id": 1,
            "n": 1,
            "sha256": "x",
            "rows": 4,
            "created": "t0",
            "path": "datasets/.history/faq/r000001.jsonl",
        }
    )
    db["runs"].insert(
        {
            "id": 1,
            "name": "done",
            "status": "completed",
            "config_json": "{}",
            "dataset_revision_id": 1,
            "base_model": "demo",
            "adapter_dir": "adapters/done",
            "pid": 11,
            "created": "t1",
            "started": "t2",
            "finished": "t3",
            "progress_json": json.dumps({"step": 40}),
            "resume": 0,
        }
    )
    db["runs"].insert(
        {
            "id": 2,
            "name": "broken",
            "status": "interrupted",
            "config_json": "{}",
            "dataset_revision_id": 1,
            "base_model": "demo",
            "created": "t4",
            "started": "t5",
            "finished": "t6",
            "error": "killed",
            "stop_mode": "stop",
            "resume": 1,
        }
    )
    # Evaluation job ids overlap the run ids on purpose: the migration renumbers them.
    db["eval_jobs"].insert(
        {
            "id": 2,
            "run_id": 1,
            "status": "completed",
            "split": "validation",
            "limit_n": 3,
            "revision_id": 1,
            "created": "t7",
            "finished": "t8",
            "progress_json": json.dumps({"done": 3, "total": 3}),
        }
    )
    db["eval_jobs"].insert(
        {"id": 1, "run_id": 1, "status": "queued", "split": "all", "revision_id": 1, "created": "t6"}
    )
    db["evals"].insert(
        {
            "run_id": 1,
            "job_id": 2,
            "split": "validation",
            "metric": "exact_match",
            "base_value": 0.0,
            "adapter_value": 1.0,
            "created": "t8",
        }
    )
    db["eval_rows"].insert(
        {
            "run_id": 1,
            "job_id": 2,
            "row_index": 0,
            "prompt": "p",
            "reference": "r",
            "base_output": "b",
            "adapter_output": "r",
            "details_json": "{}",
        }
    )
    db["publishes"].insert(
        {
            "run_id": 1,
            "target": "ollama:merged",
            "name": "faq-bot",
            "host": "h",
            "created": "t9",
            "status": "published",
            "details_json": "{}",
        }
    )
    db.conn.close()


def test_a_schema_3_registry_migrates_without_losing_anything():
    _v3_database()
    db = store.open_db()
    assert db.execute("PRAGMA user_version").fetchone()[0] == store.SCHEMA_VERSION
    assert "eval_jobs" not in db.table_names()
    assert "status" not in db["runs"].columns_dict

    done, broken = runs.get_run("done"), runs.get_run("broken")
    assert (done["status"], done["pid"], done["started"], done["finished"]) == ("completed", 11, "t2", "t3")
    assert runs.run_progress(done) == {"step": 40} and done["adapter_dir"] == "adapters/done"
    assert (broken["status"], broken["error"], broken["stop_mode"], broken["resume"]) == (
        "interrupted",
        "killed",
        "stop",
        1,
    )
    assert registry.get(done["job_id"])["log"] == "runs/done/train.log"

    evaluations = eval_results.list_jobs(1)
    # Newest first, in the order the old ids gave them.
    assert [(j["status"], j["split"], j["limit_n"]) for j in evaluations] == [
        ("completed", "validation", 3),
        ("queued", "all", None),
    ]
    scored = evaluations[0]
    assert eval_results.results_job(1)["id"] == scored["id"]
    assert eval_results.results(1)[0]["metric"] == "exact_match" and eval_results.results(1)[0]["adapter"] == 1.0
    assert [r["adapter_output"] for r in eval_results.rows(1)] == ["r"]
    assert eval_jobs.job_progress(scored) == {"done": 3, "total": 3}
    assert [r["name"] for r in db["publishes"].rows] == ["faq-bot"]
    # Schema 5: experiments, which the older runs belong to none of.
    assert "experiments" in db.table_names() and list(db["experiments"].rows) == []
    assert (done["experiment_id"], done["trial_json"]) == (None, None)
    assert sorted(j["kind"] for j in registry.list_jobs()) == ["evaluate", "evaluate", "train", "train"]


def test_a_newer_schema_is_refused_with_what_to_do():
    db = store.open_db()
    db.execute(f"PRAGMA user_version={store.SCHEMA_VERSION + 1}")
    with pytest.raises(store.SchemaError, match=r"newer than this workbench .*Update the workbench"):
        store.open_db()


def test_a_transaction_rolls_back_on_error():
    db = store.open_db()
    with pytest.raises(RuntimeError), store.transaction(db):
        db["datasets"].insert({"name": "half", "format": "alpaca", "created": "t", "updated": "t"})
        raise RuntimeError("midway")
    assert db["datasets"].count == 0
    with store.transaction(db):
        db["datasets"].insert({"name": "whole", "format": "alpaca", "created": "t", "updated": "t"})
    assert [r["name"] for r in db["datasets"].rows] == ["whole"]
