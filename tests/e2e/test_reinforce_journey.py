"""A user picks field F1 as the reward, trains GRPO from their SFT run on a JSON task, and watches the reward
chart and the table of sampled answers move while it trains."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser import turn_off_auto_evaluate
from workbench.data import repository
from workbench.data.split import SplitSpec
from workbench.training import runs
from workbench.training.config import TrainConfig
from workbench.training.worker import run_training

pytestmark = pytest.mark.e2e
STEPS = 300

WORDS = ("uno", "dos", "tres", "cuatro", "cinco", "seis", "siete", "ocho")


@pytest.fixture
def json_sft_run(workbench_home, tiny_demo_run):
    rows = [{"instruction": f"Repite: {w}", "input": "", "output": f'{{"word": "{w}"}}'} for w in WORDS]
    repository.create_dataset("words-json", "alpaca", rows)
    repository.make_split("words-json", 1, SplitSpec(seed=1, validation_ratio=None, validation_count=2))
    config = TrainConfig(**{**tiny_demo_run, "dataset": "words-json", "max_steps": 6})
    run_id = runs.create_run(config, name="json-sft")
    assert run_training(run_id, schedule_next=False) == "completed", runs.get_run(run_id)["error"]
    return runs.get_run(run_id)


def _fill(page, name: str, value: str) -> None:
    box = page.get_by_role("spinbutton", name=name, exact=True)
    box.fill(value)
    box.press("Enter")


def test_grpo_with_field_f1_from_the_sft_run_shows_rewards_and_samples_live(json_sft_run, app_url, browser_page):
    page = browser_page
    page.goto(f"{app_url}/train?dataset=words-json")
    expect(page.get_by_role("combobox", name="Dataset")).to_have_value("words-json", timeout=30_000)
    base = page.get_by_role("combobox", name="Base model")
    if base.input_value() != "demo (tiny, built locally)":
        base.click()
        page.get_by_role("option", name="demo (tiny, built locally)").click()
    objective = page.get_by_role("combobox", name="Objective")
    objective.click()
    page.get_by_role("option", name=re.compile("^GRPO:")).click()
    expect(page.get_by_role("combobox", name="Start from")).to_have_value("run json-sft (sft)", timeout=30_000)

    # field F1 alone: take valid JSON out of the default rewards
    rewards = page.get_by_test_id("stMultiSelect").filter(has_text="Rewards")
    expect(rewards.get_by_text("field F1")).to_be_visible()
    rewards.get_by_text("valid JSON").locator("xpath=..").get_by_role("button").click()
    expect(rewards.get_by_text("valid JSON")).to_have_count(0)
    expect(page.get_by_role("spinbutton", name="Weight of field F1")).to_be_visible()

    # 300 steps: the demo model runs 60 in ~5 s, under the 2 s refresh of a page that a loaded machine renders late
    _fill(page, "Max steps", str(STEPS))
    _fill(page, "Longest answer (tokens)", "12")
    page.get_by_text("Advanced settings").click()
    turn_off_auto_evaluate(page)
    page.get_by_role("button", name="Launch training").click()
    expect(page.get_by_role("heading", name="Live", exact=True)).to_be_visible()

    # the samples table moves: a first step's answers, then a later step's
    header = page.get_by_text(re.compile(r"Sampled answers at step \d+"))
    expect(header).to_be_visible(timeout=120_000)
    first = header.inner_text()
    assert first != f"Sampled answers at step {STEPS}", "the live view first showed the run's samples once it had ended"
    expect(page.get_by_text(re.compile(r"Sampled answers at step \d+"))).not_to_have_text(first, timeout=120_000)
    expect(page.get_by_text("— completed")).to_be_visible(timeout=180_000)
    expect(page.get_by_test_id("stVegaLiteChart").first).to_be_visible()
    page.screenshot(path="/tmp/e2e-grpo.png", full_page=True)

    run = runs.list_runs()[0]
    config = runs.run_config(run)
    assert (config.objective, config.start_from, config.rewards) == ("grpo", "json-sft", "field_f1:1")
    assert len(runs.run_metrics(run["id"], ("rewards/field_f1/mean",))) == STEPS
    assert run["status"] == "completed"
