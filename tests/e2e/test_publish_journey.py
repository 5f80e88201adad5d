"""After training, a user publishes the run to Ollama (a fake Ollama server here) and exports it as GGUF."""

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e


def test_publish_to_ollama_then_export_gguf(trained_run, app_url, browser_page, fake_ollama, converter_dir):
    page = browser_page
    page.goto(f"{app_url}/publish")
    expect(page.get_by_role("heading", name="Publish", exact=True)).to_be_visible()
    expect(page.get_by_text("Ollama is not running at http://127.0.0.1:9")).to_be_visible()
    expect(page.get_by_role("button", name="Publish words-demo")).to_be_disabled()

    host = page.get_by_role("textbox", name="Ollama host")
    host.fill(fake_ollama.host)
    host.press("Enter")
    expect(page.get_by_text("Ollama 0.13.0 at")).to_be_visible()
    expect(page.get_by_role("textbox", name="Modelfile")).to_contain_text('PARAMETER stop "<|im_end|>"')
    page.get_by_role("button", name="Publish words-demo").click()
    expect(page.get_by_text("Publish words-demo to Ollama as words-demo — running").first).to_be_visible()
    # The fake Ollama answers "Hello!" to everything: published, but the replay check reads as a warning.
    expect(page.get_by_text("Published words-demo, but only 0 of").first).to_be_visible(timeout=180_000)
    table = page.get_by_test_id("stDataFrame").filter(has_text="words-demo").last
    expect(table).to_contain_text("published")
    expect(page.get_by_text("held-out answer(s) differ from the app").first).to_be_visible()
    [create] = fake_ollama.creates
    assert create["model"] == "words-demo" and "model.safetensors" in create["files"]
    assert create["parameters"]["stop"] == ["<|im_end|>"] and "<|im_start|>" in create["template"]

    page.get_by_role("tab", name="GGUF export").click()
    expect(page.get_by_text("No GGUF export yet")).to_be_visible()
    page.get_by_text("Also write the adapter alone").click()
    page.get_by_role("button", name="Export GGUF").click()
    expect(page.get_by_text("Export words-demo as GGUF (q8_0) — running").first).to_be_visible()
    exports = page.get_by_test_id("stDataFrame").filter(has_text="gguf-q8_0")
    expect(exports).to_contain_text("exported", timeout=180_000)
    expect(page.get_by_text("Exported to").first).to_be_visible()
    from workbench.publish.merge import exports_dir

    folder = exports_dir(trained_run) / "gguf-q8_0"
    assert sorted(p.name for p in folder.iterdir()) == ["Modelfile", "README.md", "export.json", "words-demo-q8_0.gguf"]
