"""A finished evaluation written straight into the registry, for tests of what reads one back."""

import json

from workbench import metrics, store
from workbench.evaluation import jobs as eval_jobs
from workbench.jobs import registry


def store_evaluation(run_id: int, rows: list[tuple[str, str, str]]) -> int:
    """A finished evaluation job holding `rows` of (reference, base answer, adapter answer), stored as the
    the evaluation stores them (what `--last` and the Compare page read back)."""
    job_id = eval_jobs.create_eval(run_id, split="train")
    db = store.open_db()
    for index, (reference, base, adapter) in enumerate(rows):
        base_scores, adapter_scores = metrics.score_row(base, reference), metrics.score_row(adapter, reference)
        db.table("eval_rows").insert(
            {
                "run_id": run_id,
                "job_id": job_id,
                "row_index": index,
                "prompt": f"ticket {index}",
                "reference": reference,
                "base_output": base,
                "adapter_output": adapter,
                "details_json": json.dumps(
                    {
                        "base_scores": base_scores,
                        "adapter_scores": adapter_scores,
                        "verdict": metrics.verdict(base_scores, adapter_scores),
                    }
                ),
            }
        )
    db.table("evals").insert(
        {
            "run_id": run_id,
            "job_id": job_id,
            "split": "train",
            "metric": "exact_match",
            "base_value": 0.0,
            "adapter_value": 0.5,
            "created": store.now(),
        }
    )
    registry.finish(job_id, "completed")
    return job_id


def register_copy(run: dict, name: str) -> int:
    """Another finished run with the same adapter and dataset revision as `run` (a second run to compare)."""
    from workbench import paths
    from workbench.training import runs

    return runs.register_finished_run(
        name, runs.run_config(run), run["dataset_revision_id"], paths.home() / run["adapter_dir"]
    )
