"""A user picks the sample dataset and the demo model, launches, watches the live chart grow, sees it complete."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser import turn_off_auto_evaluate
from workbench.evaluation import results as eval_results
from workbench.training import runs

pytestmark = pytest.mark.e2e


def test_launch_a_run_and_watch_it_complete(app_url, browser_page):
    page = browser_page
    page.goto(f"{app_url}/train")
    expect(page.get_by_role("heading", name="Train", exact=True)).to_be_visible()
    expect(page.get_by_role("combobox", name="Dataset")).to_have_value("informes-proyectos")
    expect(page.get_by_text("CPU preset", exact=True)).to_be_visible()
    # keep the CPU run short: a handful of steps, evaluated twice
    max_steps = page.get_by_role("spinbutton", name="Max steps")
    max_steps.fill("24")
    max_steps.press("Enter")
    page.get_by_text("Advanced settings").click()
    eval_steps = page.get_by_role("spinbutton", name="Eval steps")
    eval_steps.fill("8")
    eval_steps.press("Enter")
    # The evaluation has tests of its own; keep this journey short.
    turn_off_auto_evaluate(page)
    page.get_by_role("button", name="Launch training").click()

    expect(page.get_by_role("heading", name="Live", exact=True)).to_be_visible()
    expect(page.get_by_text(re.compile(r"Step \d+ of 24"))).to_be_visible(timeout=90_000)
    chart = page.get_by_test_id("stVegaLiteChart").first
    expect(chart).to_be_visible(timeout=60_000)
    expect(page.get_by_text("— completed")).to_be_visible(timeout=180_000)
    expect(page.get_by_text("Adapter saved in")).to_be_visible()
    _charts_are_readable(page)

    run = runs.list_runs()[0]
    assert run["status"] == "completed"
    losses = [m["value"] for m in runs.run_metrics(run["id"], ("loss",))]
    assert len(losses) >= 10 and min(losses[-3:]) < losses[0]
    assert runs.run_config(run).auto_evaluate is False and eval_results.latest_job(run["id"]) is None


def _charts_are_readable(page) -> None:
    """Each chart keeps its plot (a legend once squeezed the loss into a 10 px strip: the chart was 220 px in all)
    and its ticks read as numbers (6,000 tokens/s once read 6e+3)."""
    charts = page.get_by_test_id("stVegaLiteChart")
    expect(charts.first).to_be_visible()
    drawn = charts.locator("svg.marks")  # Vega's drawing (the toolbar has icons of its own)
    assert drawn.count() >= 3  # loss, learning rate, tokens per second at least
    for svg in drawn.all():
        labels = svg.locator("text").all_text_contents()
        assert svg.bounding_box()["height"] >= 280, (labels, svg.bounding_box())
        assert not [text for text in labels if re.search(r"\de[+-]\d", text)], labels
