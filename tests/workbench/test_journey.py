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
