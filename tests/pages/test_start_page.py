"""The start page: the four steps with where the user stands, the next action, and the machine."""

from workbench import journey, store
from workbench.data import repository
from workbench.data.split import SplitSpec
from workbench.jobs import registry
from workbench.publish import records
from workbench.training import runs
from workbench.training.config import TrainConfig

PAGE = "pages/start.py"
ROWS = [{"instruction": f"q{i}", "input": "", "output": f"a{i}"} for i in range(12)]


def test_a_fresh_workspace_points_to_the_dataset_step(page):
    at = page(PAGE)
    assert not at.exception, at.exception
    assert at.title[0].value == "LoRA Workbench"
    assert [c.value for c in at.caption][1:5] == [
        "no dataset yet",
        "no run yet",
        "no held-out score yet",
        "nothing published yet",
    ]
    assert any(m.value.startswith("**Next:** Bring your own data: import a file or write rows") for m in at.markdown)
    assert at.button(key="start_next").label == "Go to Dataset"
    assert any("**Device:**" in m.value and "**Ollama:**" in m.value for m in at.markdown)


def test_each_step_says_where_the_user_stands_and_the_next_one_opens_its_page(page):
    repository.create_dataset("faq", "alpaca", ROWS)
    repository.make_split("faq", 1, SplitSpec(seed=1, validation_count=2))
    run_id = runs.create_run(TrainConfig(dataset="faq", base_model="demo"), name="faq-run")
    registry.finish(runs.get_run(run_id)["job_id"], "completed")
    at = page("app.py")  # the start page is the default; its buttons switch pages of app.py's navigation
    assert [c.value for c in at.main.caption][1:3] == [
        "1 dataset(s) of your own, 1 with held-out rows",
        "1 completed run(s)",
    ]
    assert at.button(key="start_next").label == "Go to Compare"
    at.button(key="start_next").click().run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Compare"

    db = store.open_db()
    db.table("evals").insert(
        {
            "run_id": run_id,
            "split": "validation",
            "metric": "exact_match",
            "base_value": 0.0,
            "adapter_value": 0.9,
            "created": store.now(),
        }
    )
    record = records.start(run_id, "ollama:merged", "faq-bot", "http://h", "running", {})
    records.finish(record, "published", {})
    steps = journey.steps()
    assert [s.done for s in steps] == [True, True, True, True] and journey.next_step(steps) is None
    assert steps[2].status == "best held-out exact match 90% (faq-run)"
    at = page(PAGE)
    assert any("Every step is done" in s.value for s in at.success)


def test_with_only_the_sample_the_first_step_is_bringing_your_own_data(page):
    repository.ensure_samples()
    assert journey.only_the_sample()
    at = page("app.py")
    assert not at.exception, at.exception
    assert at.main.caption[1].value.startswith("only the sample (informes-proyectos")
    assert at.button(key="start_next").label == "Go to Dataset"
    assert any(m.value.startswith("**Next:** Bring your own data: import a file") for m in at.markdown)
    at.button(key="start_sample").click().run()  # the sample stays one click away
    assert not at.exception and at.title[0].value == "Train"

    repository.create_dataset("mine", "alpaca", ROWS)
    assert not journey.only_the_sample() and journey.next_step().name == "Train"
