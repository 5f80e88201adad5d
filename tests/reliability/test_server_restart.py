"""The Streamlit server killed (SIGKILL) and started again during a run and during an evaluation, both
launched from its pages: the work goes on, and the restarted app shows it live."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from tests.browser import turn_off_auto_evaluate
from workbench.evaluation import results as eval_results
from workbench.training import runs

pytestmark = pytest.mark.e2e


def _step_shown(page) -> int:
    text = page.get_by_text(re.compile(r"Step \d+ of 600")).first.inner_text()
    return int(re.search(r"Step (\d+) of", text).group(1))


def test_a_run_goes_on_through_a_server_restart_and_shows_live_again(app_server, browser_page):
    page = browser_page
    page.goto(f"{app_server.url}/train")
    max_steps = page.get_by_role("spinbutton", name="Max steps")
    max_steps.fill("600")
    max_steps.press("Enter")
    page.get_by_text("Advanced settings").click()
    turn_off_auto_evaluate(page)
    page.get_by_role("button", name="Launch training").click()
    expect(page.get_by_text(re.compile(r"Step [1-9]\d* of 600"))).to_be_visible(timeout=90_000)
    run = runs.list_runs()[0]

    app_server.kill()
    before = max((m["step"] for m in runs.run_metrics(run["id"], ("loss",))), default=0)
    time.sleep(3)
    assert runs.get_run(run["id"])["status"] == "running"  # the worker did not die with the server
    app_server.start()

    page.goto(f"{app_server.url}/runs?run={run['id']}")
    expect(page.get_by_text(re.compile(r"Step \d+ of 600"))).to_be_visible(timeout=60_000)
    first = _step_shown(page)
    assert first > before
    deadline = time.monotonic() + 30
    while _step_shown(page) <= first:  # live: the view keeps moving after the restart
        assert time.monotonic() < deadline, f"the restarted app's view stayed at step {first}"
        page.wait_for_timeout(500)
    runs.cancel_run(run["id"])  # the point is made; stopping keeps the suite short (cancel saves the adapter)
    assert runs.wait_for(run["id"], poll=0.5, timeout=120)["status"] == "cancelled"


def test_an_evaluation_goes_on_through_a_server_restart(app_server, browser_page, trained_run, monkeypatch):
    page = browser_page
    page.goto(f"{app_server.url}/compare")
    page.get_by_text("Held-out evaluation").click()
    rows = page.get_by_role("combobox", name="Rows")
    rows.click()
    page.get_by_role("option", name="all").click()
    page.get_by_role("button", name="Evaluate both").click()
    expect(page.get_by_text(re.compile(r"Evaluation (queued|running)"))).to_be_visible(timeout=60_000)

    app_server.kill()
    job = eval_results.latest_job(trained_run["id"])
    assert job is not None and job["status"] in ("queued", "running")
    app_server.start()

    page.goto(f"{app_server.url}/compare")
    page.get_by_text("Held-out evaluation").click()
    expect(page.get_by_text(re.compile(r"Evaluation (running|completed)|adapter better|same"))).to_be_visible(
        timeout=60_000
    )
    deadline = time.monotonic() + 240
    while eval_results.get_job(job["id"])["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, "the evaluation did not finish after the restart"
        time.sleep(0.5)
    assert eval_results.get_job(job["id"])["status"] == "completed"
    page.reload()
    page.get_by_text("Held-out evaluation").click()
    expect(page.get_by_test_id("stDataFrame").first).to_be_visible(timeout=60_000)
