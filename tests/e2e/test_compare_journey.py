"""After training, a user asks one question and sees the base's and the adapter's answers side by side."""

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e


def test_one_prompt_two_answers(trained_run, app_url, browser_page):
    page = browser_page
    page.goto(f"{app_url}/compare")
    expect(page.get_by_role("heading", name="Compare", exact=True)).to_be_visible()
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


def test_a_linked_run_shows_where_its_json_answers_go_wrong_field_by_field(trained_run, app_url, browser_page):
    from tests.evaluations import store_evaluation

    tickets = [
        ('{"priority": "alta", "refund": true}', "no sé", '{"priority": "alta", "refund": true}'),
        ('{"priority": "baja", "refund": false}', "{}", '{"priority": "alta", "refund": false}'),
        ('{"priority": "alta", "refund": false}', "{}", '{"priority": "alta", "refund": false}'),
    ]
    store_evaluation(trained_run["id"], tickets)
    page = browser_page
    page.goto(f"{app_url}/compare?run={trained_run['id']}")  # a link to the run opens it on the right
    expect(page.get_by_role("combobox", name="Right")).to_have_value("adapter: words-demo")
    page.get_by_role("radio", name="Held-out evaluation").click()
    expect(page.get_by_role("heading", name="By field", exact=True)).to_be_visible(timeout=30_000)
    expect(page.get_by_test_id("stVegaLiteChart")).to_be_visible()
    cells = page.get_by_role("combobox", name="Rows behind a cell (or click one on the map)")
    cells.click()
    cells.fill("baja")
    page.keyboard.press("Enter")
    # the row behind the cell, above the list of every row where it also is
    expect(page.get_by_text("Row 2 — adapter better")).to_have_count(2, timeout=30_000)
    page.screenshot(path="/tmp/e2e-fields.png", full_page=True)


def test_a_file_of_new_inputs_is_answered_and_downloaded(trained_run, app_url, browser_page, tmp_path):
    import csv
    import json

    source = tmp_path / "nuevas.jsonl"
    words = ("uno", "dos", "tres", "cuatro", "cinco", "seis")
    source.write_text("\n".join(json.dumps({"instruction": f"Repite: {w}", "output": w}) for w in words))
    page = browser_page
    page.goto(f"{app_url}/compare?run={trained_run['id']}")
    page.get_by_role("radio", name="Predict over a file").click()
    expect(page.get_by_role("combobox", name="Answer with")).to_have_value("adapter: words-demo", timeout=30_000)
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(source))
    expect(page.get_by_text("nuevas.jsonl")).to_be_visible()
    longest = page.get_by_role("spinbutton", name="Longest answer (tokens)")
    longest.fill("6")
    longest.press("Enter")
    page.get_by_role("button", name="Predict").click()
    expect(page.get_by_text("Prediction completed: 6/6 rows answered")).to_be_visible(timeout=90_000)
    expect(page.get_by_text("Scores over the 6 rows that had a reference")).to_be_visible()
    with page.expect_download() as jsonl_download:
        page.get_by_role("button", name="Download JSONL").click()
    rows = [json.loads(line) for line in jsonl_download.value.path().read_text().splitlines()]
    assert [r["input"] for r in rows] == [f"Repite: {w}" for w in words]
    assert [r["reference"] for r in rows] == list(words) and all("exact_match" in r["scores"] for r in rows)
    with page.expect_download() as csv_download:
        page.get_by_role("button", name="Download CSV").click()
    assert csv_download.value.suggested_filename.endswith(".csv")
    with open(csv_download.value.path(), newline="") as handle:
        table = list(csv.reader(handle))
    assert table[0][:4] == ["row", "line", "input", "output"] and len(table) == 7
    page.screenshot(path="/tmp/e2e-predict.png", full_page=True)
