"""A new user creates a dataset, adds two rows, saves, and sees the token histogram."""

import pytest
from playwright.sync_api import expect

from tests.browser import settled
from workbench.data import repository

pytestmark = pytest.mark.e2e


def _add_row(page, line: int, instruction: str, output: str) -> None:
    page.get_by_role("button", name="Add row").click()
    settled(page)
    expect(page.get_by_label("Row (line in the file)")).to_have_value(str(line))
    expect(page.get_by_label("Instruction")).to_have_value("")
    page.get_by_label("Instruction").fill(instruction)
    page.get_by_label("Output (the answer to learn)").fill(output)
    page.get_by_role("button", name="Apply changes").click()
    settled(page)
    expect(page.get_by_text(f"Valid: {line} rows, no problems.")).to_be_visible()


def test_create_dataset_add_rows_save_and_see_histogram(app_url, browser_page):
    page = browser_page
    page.goto(f"{app_url}/datasets")
    expect(page.get_by_role("heading", name="Datasets", exact=True)).to_be_visible()
    page.get_by_role("button", name="New dataset").click()  # a visible action, not only an entry of the list
    settled(page)
    page.get_by_label("Name").fill("support-faq")
    page.get_by_role("button", name="Create dataset").click()
    settled(page)
    expect(page.get_by_text("alpaca rows · revision 1")).to_be_visible()

    _add_row(page, 1, "¿Cuál es el horario?", "De 9 a 17 h, de lunes a viernes.")
    expect(page.get_by_text("Unsaved changes since revision 1")).to_be_visible()
    page.reload()  # a reload (or a closed tab) starts a new session: the unsaved row comes back from disk
    settled(page)
    expect(page.get_by_text("Your unsaved changes to support-faq")).to_be_visible()
    expect(page.get_by_text("Valid: 1 rows, no problems.")).to_be_visible()
    _add_row(page, 2, "¿Hacéis envíos a Canarias?", "Sí, en 3 a 5 días laborables.")
    note = page.get_by_role("textbox", name="Revision note")
    note.fill("two questions")
    note.press("Enter")
    settled(page)
    page.get_by_role("button", name="Save", exact=False).click()
    settled(page)
    expect(page.get_by_text("Saved as revision 2")).to_be_visible()
    expect(page.get_by_role("textbox", name="Revision note")).to_have_value("")  # it belonged to that save

    page.get_by_role("radio", name="Statistics").click()
    expect(page.get_by_test_id("stVegaLiteChart")).to_be_visible()
    expect(page.get_by_text("Mean tokens", exact=True)).to_be_visible()

    rows = repository.load_rows("support-faq")
    assert [r["instruction"] for r in rows] == ["¿Cuál es el horario?", "¿Hacéis envíos a Canarias?"]
    assert repository.get_dataset("support-faq").latest.note == "two questions"
