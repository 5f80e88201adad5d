"""Resolving a base model name, loading its tokenizer, and telling whether two names mean one model."""

import json

import pytest

from workbench import paths
from workbench.models import demo
from workbench.models.loading import (
    DEFAULT_TEMPLATE_ATTR,
    ModelLoadError,
    list_local_models,
    load_tokenizer,
    resolve_base,
    same_base,
)


def test_resolve_base_takes_demo_prepared_folders_and_hub_ids():
    assert resolve_base("demo") == str(demo.demo_model_path())
    prepared = paths.model_dir("tiny")
    prepared.mkdir(parents=True)
    (prepared / "manifest.json").write_text("{}")
    assert resolve_base("tiny") == str(prepared)
    assert resolve_base(f"  {prepared}  ") == str(prepared.resolve())
    assert resolve_base("Org/Model-1B") == "Org/Model-1B"  # neither: left for transformers (a hub id)
    with pytest.raises(ModelLoadError, match="No base model given"):
        resolve_base("  ")


def test_a_folder_without_tokenizer_files_says_what_is_missing(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ModelLoadError, match=r"holds no tokenizer files \(tokenizer.json"):
        load_tokenizer(str(tmp_path))


def test_a_hub_id_offline_says_the_hub_cannot_be_reached(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match="not a local folder and the Hugging Face hub cannot be reached"):
        load_tokenizer("Org/No-Such-Model")


def test_the_demo_tokenizer_keeps_its_own_template():
    tokenizer = load_tokenizer("demo")
    assert tokenizer.chat_template and getattr(tokenizer, DEFAULT_TEMPLATE_ATTR) is False
    assert load_tokenizer("demo") is tokenizer  # cached


def test_same_base_matches_names_and_folders_of_one_model():
    assert same_base("demo", str(demo.demo_model_path()))
    assert same_base("Org/Model", "Org/Model")
    assert not same_base("demo", "Org/Model")
    assert not same_base("", "demo")


def test_list_local_models_puts_demo_first_and_skips_broken_manifests():
    for name, manifest in (("alpha", {"title": "A"}), ("broken", None)):
        folder = paths.model_dir(name)
        folder.mkdir(parents=True)
        (folder / "manifest.json").write_text(json.dumps(manifest) if manifest else "{not json")
    found = list_local_models()
    assert [m["name"] for m in found] == ["demo", "alpha"]
    assert found[1]["title"] == "A" and found[1]["path"] == str(paths.model_dir("alpha"))


THREADED_FIRST_IMPORTS = """
import threading, time
from workbench.models.loading import import_model_libraries

errors = []

def first(name, delay):
    time.sleep(delay)
    try:
        import_model_libraries()
        getattr(__import__("transformers"), name)
    except Exception as exc:
        errors.append(repr(exc))

threads = [threading.Thread(target=first, args=("AutoModelForCausalLM", 0))]
threads += [threading.Thread(target=first, args=("AutoTokenizer", d / 4)) for d in range(1, 12)]
[t.start() for t in threads]
[t.join() for t in threads]
print(errors or "ok")
"""


def test_threads_meeting_in_the_first_import_of_transformers_all_get_it():
    # Without the lock, 2 in 7 such threads got "cannot import name 'AutoTokenizer'" (the Compare page's
    # "Predict over a file" opened while its chat base was still loading).
    import subprocess
    import sys

    from tests.conftest import ROOT

    done = subprocess.run(
        [sys.executable, "-c", THREADED_FIRST_IMPORTS], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "ok", done.stdout
