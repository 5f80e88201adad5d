"""The built-in demo model, resolving base models and loading tokenizers.

`demo_model_dir` (session-scoped, built once) comes from tests/conftest.py.
"""

import json
import shutil
import time

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from workbench import paths
from workbench.models import demo, loading
from workbench.models.loading import ModelLoadError

MESSAGES = [
    {"role": "system", "content": "Eres un asistente útil."},
    {"role": "user", "content": "¿Cuál es el estado del proyecto?"},
    {"role": "assistant", "content": "En curso, al 45 %."},
    {"role": "user", "content": "And the risks?"},
    {"role": "assistant", "content": '{"risks": ["permit delays"]}'},
]


@pytest.fixture
def fresh_home(tmp_path, monkeypatch):
    home = tmp_path / "fresh"
    monkeypatch.setenv("WORKBENCH_HOME", str(home))
    loading.clear_tokenizer_cache()
    yield home
    loading.clear_tokenizer_cache()


def test_build_into_workspace_is_quick_complete_and_not_repeated(fresh_home, monkeypatch):
    started = time.perf_counter()
    path = demo.build_demo_model()
    elapsed = time.perf_counter() - started
    assert elapsed < 60, f"building the demo model took {elapsed:.1f}s"
    assert path == fresh_home / "models" / "demo" == demo.demo_model_path()
    for name in (
        "config.json",
        "model.safetensors",
        "generation_config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "manifest.json",
    ):
        assert (path / name).is_file(), name
    assert [p.name for p in (fresh_home / "models").iterdir()] == ["demo"], "temporary folders left behind"
    manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["name"] == "demo" and manifest["source"] == "built locally"
    assert manifest["chat_template"] == "chatml" and manifest["licence"] == "Apache-2.0 (generated)"
    assert 50_000 < manifest["parameters"] < 2_000_000
    assert manifest["created"][:4].isdigit()

    before = {name: (path / name).stat().st_mtime_ns for name in ("manifest.json", "model.safetensors")}

    def no_rebuild(folder):
        raise AssertionError("the demo model was rebuilt")

    monkeypatch.setattr(demo, "_build_into", no_rebuild)
    assert demo.build_demo_model() == path
    assert {name: (path / name).stat().st_mtime_ns for name in before} == before
    assert loading.resolve_base("demo") == str(path)


def test_force_rebuilds_in_place(fresh_home):
    path = demo.build_demo_model()
    (path / "stale.txt").write_text("from the old build")
    assert demo.build_demo_model(force=True) == path
    assert not (path / "stale.txt").exists()
    assert (path / "manifest.json").is_file()
    assert [p.name for p in path.parent.iterdir()] == ["demo"]


def test_a_failed_build_leaves_nothing_behind(fresh_home, monkeypatch):
    def crash(folder):
        (folder / "config.json").write_text("{}")
        raise OSError("disk full")

    monkeypatch.setattr(demo, "_build_into", crash)
    with pytest.raises(OSError, match="disk full"):
        demo.build_demo_model()
    assert list(paths.models_dir().iterdir()) == []


def test_reloads_with_auto_classes_and_runs_forward(demo_model_dir):
    model = AutoModelForCausalLM.from_pretrained(demo_model_dir)
    tokenizer = AutoTokenizer.from_pretrained(demo_model_dir)
    assert type(model).__name__ == "LlamaForCausalLM"
    assert model.config.vocab_size == len(tokenizer)
    assert 2000 <= len(tokenizer) <= 4000
    assert model.config.tie_word_embeddings is False
    manifest = json.loads((demo_model_dir / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["parameters"] == sum(p.numel() for p in model.parameters())

    ids = tokenizer("Hola mundo, hello world", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        logits = model(input_ids=ids).logits
    assert logits.shape == (1, ids.shape[1], len(tokenizer))
    assert torch.isfinite(logits).all()

    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.eos_token_id == im_end
    assert tokenizer.pad_token == "<|endoftext|>"
    assert model.generation_config.eos_token_id == im_end
    assert model.generation_config.pad_token_id == tokenizer.pad_token_id


def test_byte_level_tokenizer_encodes_any_text(demo_model_dir):
    tokenizer = AutoTokenizer.from_pretrained(demo_model_dir)
    text = "Ñandú 北京 😀 \t tabs\nand é — “quotes”"
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(ids) == text
    special = tokenizer("<|im_start|>user", add_special_tokens=False)["input_ids"]
    assert special[0] == tokenizer.convert_tokens_to_ids("<|im_start|>")


def test_chat_template_renders_chatml(demo_model_dir):
    tokenizer = AutoTokenizer.from_pretrained(demo_model_dir)
    text = tokenizer.apply_chat_template(MESSAGES[:3], tokenize=False)
    assert text == (
        "<|im_start|>system\nEres un asistente útil.<|im_end|>\n"
        "<|im_start|>user\n¿Cuál es el estado del proyecto?<|im_end|>\n"
        "<|im_start|>assistant\nEn curso, al 45 %.<|im_end|>\n"
    )
    prompt = tokenizer.apply_chat_template(MESSAGES[1:2], tokenize=False, add_generation_prompt=True)
    assert prompt == "<|im_start|>user\n¿Cuál es el estado del proyecto?<|im_end|>\n<|im_start|>assistant\n"
    assert "{% generation %}" in tokenizer.chat_template


def test_assistant_mask_marks_exactly_the_assistant_turns(demo_model_dir):
    tokenizer = AutoTokenizer.from_pretrained(demo_model_dir)
    encoded = tokenizer.apply_chat_template(MESSAGES, return_assistant_tokens_mask=True, return_dict=True)
    ids, mask = encoded["input_ids"], encoded["assistant_masks"]
    assert len(ids) == len(mask)
    runs, current = [], []
    for token, flag in zip(ids, mask, strict=True):
        if flag:
            current.append(token)
        elif current:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    expected = [m["content"] + "<|im_end|>" for m in MESSAGES if m["role"] == "assistant"]
    assert [tokenizer.decode(run) for run in runs] == expected
    assert runs == [tokenizer(text, add_special_tokens=False)["input_ids"] for text in expected]


def test_resolve_base(demo_model_dir, tmp_path):
    assert loading.resolve_base("demo") == str(paths.models_dir() / "demo")
    local = tmp_path / "my-model"
    local.mkdir()
    assert loading.resolve_base(str(local)) == str(local.resolve())
    prepared = paths.models_dir() / "smol"
    prepared.mkdir()
    (prepared / "manifest.json").write_text(json.dumps({"name": "smol", "source": "hub"}))
    assert loading.resolve_base("smol") == str(prepared)
    assert loading.resolve_base("HuggingFaceTB/SmolLM2-135M-Instruct") == "HuggingFaceTB/SmolLM2-135M-Instruct"
    with pytest.raises(ModelLoadError):
        loading.resolve_base("  ")


def test_load_tokenizer_of_demo_is_cached_and_keeps_its_template():
    first = loading.load_tokenizer("demo")
    assert loading.load_tokenizer("demo") is first
    assert getattr(first, loading.DEFAULT_TEMPLATE_ATTR) is False
    assert "{% generation %}" in first.chat_template


def test_hub_id_offline_raises_with_the_fix(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError) as caught:
        loading.load_tokenizer("workbench-tests/no-such-model-anywhere")
    message = str(caught.value)
    assert "'workbench-tests/no-such-model-anywhere' is not a local folder" in message
    assert "HF_HUB_OFFLINE=1" in message
    assert "Use the demo model, a prepared model, or a local folder" in message


def test_folder_without_tokenizer_raises(tmp_path):
    folder = tmp_path / "weights-only"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "llama"}')
    with pytest.raises(ModelLoadError, match="holds no tokenizer files"):
        loading.load_tokenizer(str(folder))


def test_tokenizer_without_template_gets_chatml_default(demo_model_dir, tmp_path):
    folder = tmp_path / "no-template"
    folder.mkdir()
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(demo_model_dir / name, folder / name)
    config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    config.pop("chat_template", None)
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    assert AutoTokenizer.from_pretrained(folder).chat_template is None
    tokenizer = loading.load_tokenizer(str(folder))
    assert getattr(tokenizer, loading.DEFAULT_TEMPLATE_ATTR) is True
    rendered = tokenizer.apply_chat_template(MESSAGES[1:3], tokenize=False)
    assert rendered.startswith("<|im_start|>user\n") and rendered.endswith("<|im_end|>\n")


def test_list_local_models_puts_demo_first():
    models = paths.models_dir()
    for name in ("alpha", "zeta"):
        (models / name).mkdir()
        (models / name / "manifest.json").write_text(json.dumps({"name": name, "source": "hub"}))
    (models / "no-manifest").mkdir()
    (models / "broken").mkdir()
    (models / "broken" / "manifest.json").write_text("{not json")
    listed = loading.list_local_models()
    assert [m["name"] for m in listed] == ["demo", "alpha", "zeta"]
    assert listed[0]["parameters"] > 0 and listed[0]["path"] == str(models / "demo")
    assert listed[1]["path"] == str(models / "alpha") and listed[1]["source"] == "hub"


@pytest.mark.usefixtures("fresh_home")
def test_list_local_models_without_demo_is_empty():
    assert loading.list_local_models() == []
