"""Where a user stands: steps done in order, and the best held-out score read from the evaluations."""

from workbench import journey, store
from workbench.data import repository


def test_steps_follow_the_workspace():
    steps = journey.steps()
    assert [s.name for s in steps] == ["Dataset", "Train", "Compare", "Publish"]
    assert journey.next_step(steps).name == "Dataset"
    repository.create_dataset("one-row", "alpaca", [{"instruction": "q", "input": "", "output": "a"}])
    assert journey.next_step().name == "Dataset"  # one row trains nothing
    repository.create_dataset("two", "alpaca", [{"instruction": f"q{i}", "input": "", "output": "a"} for i in range(2)])
    assert journey.next_step().name == "Train"


def test_the_best_held_out_score_ignores_training_rows():
    db = store.open_db()
    run_id = store.row_id(db.table("runs").insert({"name": "r", "created": store.now()}))
    for split, value in (("train", 1.0), ("validation", 0.5)):
        db.table("evals").insert(
            {
                "run_id": run_id,
                "split": split,
                "metric": "exact_match",
                "base_value": 0.0,
                "adapter_value": value,
                "created": store.now(),
            }
        )
    assert journey.best_held_out() == ("r", 0.5)


def test_of_equal_held_out_scores_the_best_is_the_one_the_experiments_page_ranks_first():
    """Two runs at 0 %: the lower final eval loss wins on the Start page as in an experiment's ranking."""
    import json

    from workbench.experiments import ranking

    db = store.open_db()
    for name, eval_loss in (("low-loss", 7.5), ("high-loss", 7.6)):  # the high-loss run is the newer
        run_id = store.row_id(db.table("runs").insert({"name": name, "created": store.now()}))
        result = {"final_metrics": {"eval_loss": eval_loss}}
        db.table("jobs").insert(
            {"kind": "train", "run_id": run_id, "status": "completed", "result_json": json.dumps(result)}
        )
        db.table("evals").insert(
            {
                "run_id": run_id,
                "split": "validation",
                "metric": "exact_match",
                "base_value": 0.0,
                "adapter_value": 0.0,
                "created": store.now(),
            }
        )
    assert journey.best_held_out() == ("low-loss", 0.0)
    assert ranking.tie_break(7.5, 1) < ranking.tie_break(7.6, 2) < ranking.tie_break(None, 3)
    assert ranking.tie_break(7.5, 2) < ranking.tie_break(7.5, 1)  # equal losses: the newer run
