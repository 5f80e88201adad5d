"""Nothing leaves the machine: every request the app makes a browser send goes to the app's own address."""

from urllib.parse import urlparse

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e

PAGES = ("Datasets", "Train", "Runs", "Experiments", "Compare", "Models", "Publish")  # and the start page first


def test_every_page_loads_only_from_the_app(app_url, browser_page):
    page = browser_page
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(app_url)
    expect(page.get_by_role("heading", name="LoRA Workbench", exact=True)).to_be_visible()
    for name in PAGES:
        page.get_by_role("link", name=name).first.click()
        expect(page.get_by_role("heading", name=name, exact=True)).to_be_visible()
        page.wait_for_timeout(500)  # icons and the favicon load after the page draws
    own = urlparse(app_url).netloc
    elsewhere = sorted(
        {
            url
            for url in requested
            if urlparse(url).scheme in ("http", "https", "ws", "wss") and urlparse(url).netloc != own
        }
    )
    assert requested and not elsewhere, f"requests left the machine: {elsewhere}"


def test_a_deep_link_on_a_fresh_server_opens_the_page_inside_the_app(app_url, browser_page):
    """The first request a server gets is a deep link: Streamlit would run pages/train.py alone, listing
    the page files as navigation ("app", "compare", …) with no sidebar status."""
    page = browser_page
    page.goto(f"{app_url}/train")
    expect(page.get_by_role("heading", name="Train", exact=True)).to_be_visible()
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar.get_by_role("link", name="Start")).to_be_visible()
    expect(sidebar.get_by_text("Status")).to_be_visible()
    expect(sidebar.get_by_role("link", name="app", exact=True)).to_have_count(0)
