"""Beyond one device, in the browser: a run launched from the Train page in two CPU processes completes; an
adapter trained elsewhere is imported on the Runs page and answers on Compare."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser import turn_off_auto_evaluate
from workbench.training import runs

pytestmark = [pytest.mark.e2e, pytest.mark.multiprocess]


def _number(page, name: str, value: str) -> None:
    field = page.get_by_role("spinbutton", name=name)
    field.fill(value)
    field.press("Enter")


def test_launch_a_run_in_two_cpu_processes_from_the_train_page(app_url, browser_page):
    page = browser_page
    page.goto(f"{app_url}/train")
    expect(page.get_by_role("heading", name="Train", exact=True)).to_be_visible()
    _number(page, "Max steps", "6")
    page.get_by_text("Where it trains").click()
    expect(page.get_by_text("Trains on 1 CPU process.")).to_be_visible()
    _number(page, "Processes (0: as the devices say)", "2")
    expect(
        page.get_by_text(re.compile(r"Trains on 2 CPU processes \(data parallel, gloo\)\. Effective batch"))
    ).to_be_visible()
    page.get_by_text("Advanced settings").click()
    turn_off_auto_evaluate(page)
    page.get_by_role("button", name="Launch training").click()
    expect(page.get_by_text("— completed")).to_be_visible(timeout=240_000)
    run = runs.list_runs()[0]
    assert run["job_args"]["processes"] == 2
    steps = [m["step"] for m in runs.run_metrics(run["id"], ("loss",))]
    assert steps == list(range(1, 7))  # one row a step: process 0 alone writes


def test_import_an_adapter_on_the_runs_page_and_chat_with_it_on_compare(
    app_url, browser_page, demo_model_dir, tmp_path
):
    from tests.workbench.training.test_imported import peft_adapter

    folder = peft_adapter(demo_model_dir, tmp_path / "unsloth-out")
    page = browser_page
    page.goto(f"{app_url}/runs")
    expect(page.get_by_text("Import an adapter trained elsewhere", exact=True)).to_be_visible()
    page.get_by_role("textbox", name="Adapter folder").fill(str(folder))
    page.get_by_role("textbox", name="Run name (optional)").fill("from-unsloth")
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_text("Imported as run from-unsloth")).to_be_visible(timeout=90_000)
    # the page above the panel reran with it: its Run box holds the import, open (a fragment redraws only itself)
    expect(page.get_by_role("combobox", name="Run")).to_have_value("from-unsloth", timeout=30_000)
    run = runs.get_run("from-unsloth")
    assert run["status"] == "imported"
    page.goto(f"{app_url}/compare?run={run['id']}")
    expect(page.get_by_role("combobox", name="Right")).to_have_value("adapter: from-unsloth")
    page.get_by_text("Generation settings").click()
    _number(page, "Max new tokens", "6")
    page.get_by_placeholder("Ask both sides the same thing").fill("Repite: dos")
    page.get_by_placeholder("Ask both sides the same thing").press("Enter")
    assistants = page.get_by_test_id("stChatMessage").filter(has=page.get_by_test_id("stChatMessageAvatarAssistant"))
    expect(assistants).to_have_count(2, timeout=90_000)
