"""After training, a user asks one question and sees the base's and the adapter's answers side by side."""

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e


def test_one_prompt_two_answers(trained_run, app_url, browser_page):
    page = browser_page
    page.goto(f"{app_url}/compare")
    expect(page.get_by_role("heading", name="Compare")).to_be_visible()
    expect(page.get_by_role("combobox", name="Right")).to_have_value("adapter: words-demo")
    page.get_by_text("Generation settings").click()
    max_new = page.get_by_role("spinbutton", name="Max new tokens")
    max_new.fill("8")
    max_new.press("Enter")
    page.get_by_placeholder("Ask both sides the same thing").fill("Repite: dos")
    page.get_by_placeholder("Ask both sides the same thing").press("Enter")
    assistants = page.get_by_test_id("stChatMessage").filter(has=page.get_by_test_id("stChatMessageAvatarAssistant"))
    expect(assistants).to_have_count(2, timeout=90_000)
    expect(page.get_by_text("tok/s").first).to_be_visible()
