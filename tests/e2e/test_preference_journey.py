"""A user chats on Compare, says which answer is better twice (writing the right one), trains DPO on those
pairs from the SFT run, and watches its reward chart live."""

import pytest
from playwright.sync_api import expect

from tests.browser import turn_off_auto_evaluate
from workbench.data import repository
from workbench.training import runs

pytestmark = pytest.mark.e2e


def _ask(page, question: str) -> None:
    box = page.get_by_placeholder("Ask both sides the same thing")
    box.fill(question)
    box.press("Enter")


def test_pairs_from_the_chat_train_dpo_from_the_sft_run(trained_run, app_url, browser_page):
    page = browser_page
    page.goto(f"{app_url}/compare")
    expect(page.get_by_role("combobox", name="Right")).to_have_value("adapter: words-demo")
    page.get_by_text("Generation settings").click()
    max_new = page.get_by_role("spinbutton", name="Max new tokens")
    max_new.fill("8")
    max_new.press("Enter")
    assistants = page.get_by_test_id("stChatMessage").filter(has=page.get_by_test_id("stChatMessageAvatarAssistant"))
    for turn, (question, right) in enumerate((("Repite: dos", "dos"), ("Repite: tres", "tres")), start=1):
        _ask(page, question)
        expect(assistants).to_have_count(2 * turn, timeout=90_000)
        written = page.get_by_role("textbox", name="The right answer")
        if turn == 1:  # the toggle stays on for the next turn
            page.get_by_text("Both wrong: write the right one").click()
        expect(written).to_be_visible(timeout=30_000)
        written.fill(right)
        page.get_by_role("button", name="Keep it, against both answers").click()
        expect(page.get_by_text(f"Kept in pairs-from-compare: now {turn} pair")).to_be_visible(timeout=30_000)
    pairs = repository.load_rows("pairs-from-compare")
    assert len(pairs) >= 2 and {p["chosen"] for p in pairs} == {"dos", "tres"}

    page.goto(f"{app_url}/train?dataset=pairs-from-compare")
    expect(page.get_by_role("combobox", name="Dataset")).to_have_value("pairs-from-compare", timeout=30_000)
    expect(page.get_by_role("combobox", name="Objective")).to_have_value(
        "DPO: prefers the chosen answer of each pair over the rejected one, staying near its reference"
    )
    base = page.get_by_role("combobox", name="Base model")
    if base.input_value() != "demo (tiny, built locally)":
        base.click()
        page.get_by_role("option", name="demo (tiny, built locally)").click()
    expect(page.get_by_role("combobox", name="Start from")).to_have_value("run words-demo (sft)", timeout=30_000)
    expect(page.get_by_text("Reference: run words-demo's adapter as it is now")).to_be_visible()
    max_steps = page.get_by_role("spinbutton", name="Max steps")
    max_steps.fill("12")
    max_steps.press("Enter")
    page.get_by_text("Advanced settings").click()
    turn_off_auto_evaluate(page)
    page.get_by_role("button", name="Launch training").click()
    expect(page.get_by_role("heading", name="Live", exact=True)).to_be_visible()
    expect(page.get_by_text("— completed")).to_be_visible(timeout=180_000)
    # loss, learning rate, tokens/s, and the preference charts: rewards and reward accuracy (drawn on a canvas)
    expect(page.get_by_test_id("stVegaLiteChart")).to_have_count(5, timeout=30_000)
    page.screenshot(path="/tmp/e2e-dpo.png", full_page=True)

    run = runs.list_runs()[0]
    config = runs.run_config(run)
    assert (config.objective, config.start_from, run["status"]) == ("dpo", "words-demo", "completed")
    assert runs.run_metrics(run["id"], ("rewards/margins",))
