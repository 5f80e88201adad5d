"""The Experiments page: the ranked table with the best marked, re-ranking by another metric, the charts, the
next steps, extending; and the Train page's Sweep panel that starts one."""

import json

from workbench import store
from workbench.data import repository
from workbench.data.split import SplitSpec
from workbench.experiments import group
from workbench.experiments.sweep import SweepSpec
from workbench.jobs import registry
from workbench.training import runs
from workbench.training.config import TrainConfig

PAGE = "pages/experiments.py"
ROWS = [{"instruction": f"q{i}", "input": "", "output": "a"} for i in range(10)]


def _experiment(fake_launch, scores: dict[str, tuple[float, float]]) -> int:
    """An experiment over learning rates whose runs completed with (exact match, eval loss) as given."""
    repository.create_dataset("tiny", "alpaca", ROWS)
    repository.make_split("tiny", 1, SplitSpec(seed=1, validation_ratio=0.3))
    base = TrainConfig(dataset="tiny", base_model="demo", auto_evaluate=False)
    experiment_id = group.create_experiment("lr", base, SweepSpec.parse([f"learning_rate={','.join(scores)}"]))
    db = store.open_db()
    for run, (exact, loss) in zip(group.experiment_runs(experiment_id), scores.values(), strict=True):
        final = {"runtime_seconds": 30.0, "tokens_per_second": 200.0, "eval_loss": loss, "stopped_because": None}
        registry.update(run["job_id"], {"status": "completed", "result_json": json.dumps({"final_metrics": final})})
        db["metrics"].insert({"run_id": run["id"], "step": 1, "epoch": 0.5, "name": "loss", "value": loss + 1})
        job = registry.create("evaluate", "Evaluate", run_id=run["id"], args={"split": "validation"})
        registry.finish(job, "completed")
        db["evals"].insert_all(
            [
                {
                    "run_id": run["id"],
                    "job_id": job,
                    "split": "validation",
                    "metric": metric,
                    "base_value": 0.0,
                    "adapter_value": value,
                }
                for metric, value in (("exact_match", exact), ("field_f1", exact), ("loss", loss))
            ]
        )
    return experiment_id


def test_the_table_ranks_the_runs_and_marks_the_best(page, fake_launch):
    _experiment(fake_launch, {"1e-4": (0.5, 0.2), "1e-3": (0.9, 0.4), "2e-3": (0.7, 0.1)})
    at = page(PAGE)
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table["run"]) == ["lr-02", "lr-03", "lr-01"] and table.iloc[0][""] == "★ best"
    assert list(table["exact match"]) == [0.9, 0.7, 0.5] and "learning_rate" in table.columns
    # Ranked by eval loss instead: the lowest first.
    at.selectbox(key=f"experiment_metric_{group.get_experiment('lr')['id']}").set_value("eval_loss").run()
    assert list(at.dataframe[0].value["run"]) == ["lr-03", "lr-01", "lr-02"]


def test_without_experiments_it_says_how_to_start_one(page):
    at = page(PAGE)
    assert not at.exception and "open **Sweep** below Launch" in at.info[0].value


def test_a_running_experiment_says_the_table_fills_in(page, fake_launch):
    repository.create_dataset("tiny", "alpaca", ROWS)
    repository.make_split("tiny", 1, SplitSpec(seed=1, validation_ratio=0.3))
    group.create_experiment("ranks", TrainConfig(dataset="tiny", base_model="demo"), SweepSpec.parse(["lora_r=4,8"]))
    at = page(PAGE)
    assert not at.exception
    assert any("the table fills in" in c.value for c in at.caption)
    assert list(at.dataframe[0].value["status"]) == ["running", "queued"]
    assert any("No run has a score by exact match yet" in c.value for c in at.caption)


def test_extend_adds_runs_for_the_new_values(page, fake_launch):
    experiment_id = _experiment(fake_launch, {"1e-4": (0.5, 0.2), "1e-3": (0.9, 0.4)})
    at = page(PAGE)
    at.text_input(key=f"experiment_extend_values_{experiment_id}").input("5e-3").run()
    at.button(key=f"experiment_extend_{experiment_id}").click().run()
    assert not at.exception
    assert [r["name"] for r in group.experiment_runs(experiment_id)] == ["lr-01", "lr-02", "lr-03"]
    assert group.spec_of(group.get_experiment("lr")).grid["learning_rate"] == [1e-4, 1e-3, 5e-3]


def test_the_train_pages_sweep_panel_shows_the_runs_and_starts_them(page, fake_launch):
    at = page("pages/train.py")
    at.selectbox(key="sweep_key_0").set_value("lora_r").run()
    at.text_input(key="sweep_values_0").input("4, 8").run()
    assert not at.exception
    assert any("01  lora_r=4\n02  lora_r=8" in code.value for code in at.code)
    assert any("**2 runs**" in m.value for m in at.markdown)
    at.text_input(key="sweep_name").input("ranks").run()
    at.button(key="sweep_start").click().run()
    assert not at.exception
    members = group.experiment_runs(group.get_experiment("ranks")["id"])
    assert [r["trial"] for r in members] == [{"lora_r": 4}, {"lora_r": 8}]
    assert runs.run_config(members[0]).dataset == at.selectbox(key="train_dataset").value
    assert any("Experiment **ranks** queued" in s.value for s in at.success)


def test_a_bad_sweep_value_is_said_before_anything_starts(page):
    at = page("pages/train.py")
    at.selectbox(key="sweep_key_0").set_value("learning_rate").run()
    at.text_input(key="sweep_values_0").input("1e-3, fast").run()
    assert not at.exception
    assert any("learning_rate: 'fast' is not a number" in e.value for e in at.error)
    assert group.list_experiments() == []


def test_integer_settings_are_plotted_at_their_values_and_the_learning_rate_on_a_log_scale():
    import pandas as pd

    from ui.experiments.view import _against
    from ui.train.live import TICK_LABEL

    frame = pd.DataFrame({"run": ["a", "b"], "seed": [1, 2], "learning_rate": [1e-3, 2e-3], "exact_match": [0.7, 0.6]})
    by_seed = _against(frame, "seed", "exact_match").to_dict()["encoding"]
    assert by_seed["x"]["type"] == "ordinal" and by_seed["x"]["axis"]["labelAngle"] == 0  # upright: 8 read ∞ turned
    assert by_seed["y"]["axis"]["labelExpr"] == TICK_LABEL  # 0, not 0.000000
    by_rate = _against(frame, "learning_rate", "exact_match").to_dict()["encoding"]["x"]
    assert by_rate["type"] == "quantitative" and by_rate["scale"]["type"] == "log"
