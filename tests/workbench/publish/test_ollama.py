"""Publishing to Ollama with the real `ollama` client against a fake Ollama server (pytest-httpserver).

The fake checks what a real server checks (a blob's digest is the sha256 of its bytes, create refers to
uploaded blobs) and records every request, so the tests assert the exact uploads and create requests.
"""

from __future__ import annotations

import hashlib
import json

import pytest

from workbench.publish import ollama as publish_ollama
from workbench.publish.merge import PublishError, adapter_dir, exports_dir

NAME = "words-bot"


@pytest.fixture
def fake(fake_ollama):
    return fake_ollama


def _sha(path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def test_model_names_follow_ollama_rules():
    for good in ("bot", "support-bot", "acme/support-bot:v2", "a.b_c-d:latest"):
        assert publish_ollama.check_name(good) == good
    for bad in ("", "Bot", "my bot", "-bot", "a/b/c", "bot:", "bot:-x", "x" * 81):
        with pytest.raises(PublishError, match="not a valid Ollama model name"):
            publish_ollama.check_name(bad)


def test_plan_and_modelfile_round_trip(trained_run, fake):
    spec = publish_ollama.plan(trained_run["id"], NAME, host=fake.host)
    assert (spec.route, spec.family, spec.quantize, spec.base_model) == ("merged", "chatml", None, None)
    assert spec.parameters == {"stop": ["<|im_end|>", *[s for s in spec.parameters["stop"][1:]]], "num_ctx": 1024}
    assert "<|im_start|>" in spec.template
    text = publish_ollama.modelfile(spec)
    assert text.startswith("FROM ./merged") and 'PARAMETER stop "<|im_end|>"' in text
    assert publish_ollama.apply_modelfile(spec, text) == spec

    edited = (
        text.replace("PARAMETER num_ctx 1024", "PARAMETER num_ctx 2048\nPARAMETER temperature 0.2")
        + 'SYSTEM """Answer in Spanish."""\n'
    )
    changed = publish_ollama.apply_modelfile(spec, edited)
    assert changed.parameters["num_ctx"] == 2048 and changed.parameters["temperature"] == 0.2
    assert changed.system == "Answer in Spanish." and changed.template == spec.template
    with pytest.raises(PublishError, match="line 1: LICENSE is not supported"):
        publish_ollama.apply_modelfile(spec, "LICENSE mit\n" + text)
    with pytest.raises(PublishError, match="no TEMPLATE"):
        publish_ollama.apply_modelfile(spec, "FROM ./merged\n")
    with pytest.raises(PublishError, match="quantize: 'q3' is not one Ollama offers"):
        publish_ollama.plan(trained_run["id"], NAME, host=fake.host, quantize="q3")


def test_merged_route_uploads_blobs_creates_verifies_and_records(trained_run, fake):
    spec = publish_ollama.plan(trained_run["id"], NAME, host=fake.host, quantize="q8_0")
    # The fake answers the held-out prompts as the app does, so the replay agrees on both rows.
    from workbench.evaluation.heldout import heldout_prompts
    from workbench.inference.engine import Engine, GenerationSettings, Side

    prompts = heldout_prompts(trained_run, 5)
    engine = Engine("demo")
    name = engine.attach(str(adapter_dir(trained_run)), trained_run["name"])
    app = engine.generate(
        [Side(name, m) for m, _ in prompts],
        GenerationSettings(
            system_prompt="",
            temperature=0.0,
            top_p=1.0,
            max_new_tokens=256,
            repetition_penalty=1.0,
            seed=42,
            greedy=True,
        ),
    )
    fake.answers = {m[-1]["content"]: r.text for (m, _), r in zip(prompts, app, strict=True)}
    seen = []

    record = publish_ollama.publish(spec, seen.append)

    folder = publish_ollama.merge_run(trained_run["id"])
    expected_files = {
        f: _sha(folder / f)
        for f in (
            "config.json",
            "generation_config.json",
            "tokenizer.json",
            "tokenizer_config.json",
            "model.safetensors",
        )
    }
    assert len(fake.creates) == 1
    request = fake.creates[0]
    assert {k: v for k, v in request["files"].items() if k in expected_files} == expected_files
    assert set(request["files"]) <= {*expected_files, "special_tokens_map.json"}
    assert request == {
        "model": NAME,
        "stream": True,
        "quantize": "q8_0",
        "files": request["files"],
        "template": spec.template,
        "parameters": spec.parameters,
    }
    assert all(digest in fake.blobs for digest in request["files"].values())
    assert "ollama: success" in seen and seen[-1] == f"Published: `ollama run {NAME}`."
    assert record["status"] == "published" and record["name"] == NAME and record["target"] == "ollama:merged"
    verification = record["details"]["verification"]
    assert verification["replayed"] == len(prompts) == 2 and verification["agreed"] == 2
    assert verification["differing"] == []
    assert [c["options"]["temperature"] for c in fake.chats] == [0, 0, 0]
    assert publish_ollama.list_publishes(trained_run["id"])[0]["id"] == record["id"]

    publish_ollama.delete_published(record["id"])
    assert fake.deleted == [NAME] and publish_ollama.list_publishes() == []


def test_replay_shows_the_answers_that_differ(trained_run, fake):
    spec = publish_ollama.plan(trained_run["id"], NAME, host=fake.host)
    record = publish_ollama.publish(spec, replay=1)
    verification = record["details"]["verification"]
    assert verification["replayed"] == 1 and verification["agreed"] == 0
    pair = verification["differing"][0]
    assert pair["ollama"] == "Hello!" and pair["prompt"].startswith("Repite:") and pair["app"] != "Hello!"


def test_a_refused_create_deletes_the_half_made_model_and_says_why(trained_run, fake):
    fake.create_error = "unsupported architecture"
    spec = publish_ollama.plan(trained_run["id"], NAME, host=fake.host)
    with pytest.raises(PublishError, match="Ollama refused: unsupported architecture"):
        publish_ollama.publish(spec)
    assert fake.deleted == [NAME]
    record = publish_ollama.list_publishes()[0]
    assert record["status"] == "failed" and "unsupported architecture" in record["details"]["error"]


def test_ollama_not_running_is_a_clear_error_and_creates_nothing(trained_run):
    spec = publish_ollama.plan(trained_run["id"], NAME, host="http://127.0.0.1:9")
    assert spec.route == "merged"  # no server: no base to build on
    with pytest.raises(
        PublishError, match=r"Ollama is not running at http://127.0.0.1:9 — start it with `ollama serve`"
    ):
        publish_ollama.publish(spec)
    assert publish_ollama.list_publishes()[0]["status"] == "failed"


def test_adapter_route_creates_the_base_once_then_only_uploads_the_adapter(trained_run, fake):
    spec = publish_ollama.plan(trained_run["id"], NAME, host=fake.host, route="adapter")
    assert spec.base_model == "wb-base-demo"
    publish_ollama.publish(spec, replay=0)
    base_request, model_request = fake.creates
    assert base_request["model"] == "wb-base-demo" and "model.safetensors" in base_request["files"]
    folder = adapter_dir(trained_run)
    assert model_request == {
        "model": NAME,
        "stream": True,
        "from": "wb-base-demo",
        "adapters": {
            "adapter_config.json": _sha(folder / "adapter_config.json"),
            "adapter_model.safetensors": _sha(folder / "adapter_model.safetensors"),
        },
        "template": spec.template,
        "parameters": spec.parameters,
    }
    # With the base in Ollama, the next publish picks the adapter route by itself and uploads no base.
    again = publish_ollama.plan(trained_run["id"], "words-bot-2", host=fake.host)
    assert again.route == "adapter"
    publish_ollama.publish(again, replay=0)
    assert [c["model"] for c in fake.creates] == ["wb-base-demo", NAME, "words-bot-2"]


def test_adapter_route_refuses_what_it_cannot_carry(trained_run, fake):
    config_file = adapter_dir(trained_run) / "adapter_config.json"
    config = json.loads(config_file.read_text())
    config_file.write_text(json.dumps({**config, "use_dora": True}))
    with pytest.raises(PublishError, match="DoRA.*Use the merged route"):
        publish_ollama.plan(trained_run["id"], NAME, host=fake.host, route="adapter")
    assert publish_ollama.plan(trained_run["id"], NAME, host=fake.host).route == "merged"


# ---------------------------------------------- architectures Ollama cannot read as safetensors: GGUF instead


def test_merged_route_uploads_a_gguf_where_ollama_cannot_read_the_safetensors(
    trained_run, fake, monkeypatch, converter_dir
):
    monkeypatch.setattr(publish_ollama, "OLLAMA_READS_MODEL", frozenset({"Qwen2ForCausalLM"}))
    spec = publish_ollama.plan(trained_run["id"], NAME, host=fake.host, route="merged")
    assert spec.weights == "gguf" and "GGUF made by llama.cpp" in publish_ollama.modelfile(spec)
    publish_ollama.publish(spec, replay=0)
    [request] = fake.creates
    assert list(request["files"]) == ["model.gguf"]
    assert fake.blobs[request["files"]["model.gguf"]][:4] == b"GGUF"
    assert not list(publish_ollama.merge_run(trained_run["id"]).parent.glob(".ollama-upload-*"))  # scratch removed


def test_adapter_route_uploads_a_gguf_adapter_where_ollama_cannot_convert_it(
    trained_run, fake, monkeypatch, converter_dir
):
    monkeypatch.setattr(publish_ollama, "OLLAMA_READS_ADAPTER", frozenset({"Gemma2ForCausalLM"}))
    spec = publish_ollama.plan(trained_run["id"], NAME, host=fake.host, route="adapter")
    assert spec.weights == "gguf"
    publish_ollama.publish(spec, replay=0)
    base_request, model_request = fake.creates
    assert "model.safetensors" in base_request["files"]  # Ollama reads the Llama base itself
    assert list(model_request["adapters"]) == ["adapter.gguf"]
    from gguf import GGUFReader

    blob = fake.blobs[model_request["adapters"]["adapter.gguf"]]
    path = adapter_dir(trained_run).parent / "uploaded.gguf"
    path.write_bytes(blob)
    reader = GGUFReader(str(path))
    assert reader.fields["general.type"].contents() == "adapter"
    assert reader.fields["adapter.lora.alpha"].contents() == 16.0


# ------------------------------------------------------------------------------------ Ollama going away


class GoneAfter:
    """An httpx transport that lets requests through to the fake until `path` is hit for the `nth` time;
    from then on Ollama is gone (every request fails as a dropped connection would)."""

    def __init__(self, transport, path: str, nth: int = 1):
        self.transport, self.path, self.nth, self.gone = transport, path, nth, False

    def handle_request(self, request):
        import httpx

        if request.url.path.startswith(self.path):
            self.nth -= 1
            self.gone = self.gone or self.nth <= 0
        if self.gone:
            raise httpx.ReadError("Server disconnected without sending a response.", request=request)
        return self.transport.handle_request(request)

    def close(self):
        self.transport.close()


def _client_losing_ollama(host: str, path: str, nth: int = 1):
    client = publish_ollama.client_for(host)
    client._client._transport = GoneAfter(client._client._transport, path, nth)
    return client


def test_ollama_going_away_mid_upload_creates_nothing_and_says_so(trained_run, fake):
    spec = publish_ollama.plan(trained_run["id"], NAME, host=fake.host, route="merged")
    client = _client_losing_ollama(fake.host, "/api/blobs/", nth=2)
    with pytest.raises(
        PublishError, match=r"Ollama is not running at .* \(or went away\) — start it with `ollama serve`"
    ):
        publish_ollama.publish(spec, client=client, replay=0)
    assert len(fake.blobs) == 1 and fake.creates == [] and fake.models == {}
    [record] = publish_ollama.list_publishes()
    assert record["status"] == "failed" and "went away" in record["details"]["error"]


def test_ollama_going_away_mid_create_asks_to_remove_the_half_made_model(trained_run, fake):
    spec = publish_ollama.plan(trained_run["id"], NAME, host=fake.host, route="merged")
    client = _client_losing_ollama(fake.host, "/api/create")
    seen = []
    with pytest.raises(PublishError, match="went away"):
        publish_ollama.publish(spec, seen.append, client=client, replay=0)
    assert f"Could not delete {NAME}: remove it with `ollama rm {NAME}`." in seen


# --------------------------------------------------------------------------- a base that does not match


def test_adapter_route_refuses_an_ollama_base_of_another_shape(trained_run, fake):
    spec = publish_ollama.plan(trained_run["id"], NAME, host=fake.host, route="adapter")
    publish_ollama.publish(spec, replay=0)  # creates wb-base-demo, then the model
    fake.model_info = {"general.architecture": "llama", "llama.embedding_length": 2048, "llama.block_count": 16}
    again = publish_ollama.plan(trained_run["id"], "words-bot-2", host=fake.host, route="adapter")
    with pytest.raises(
        PublishError,
        match=r"wb-base-demo is not the base this run trained on \(hidden size 2048 vs "
        r"64, layers 16 vs 2.*`ollama rm wb-base-demo`",
    ):
        publish_ollama.publish(again, replay=0)
    assert [c["model"] for c in fake.creates] == ["wb-base-demo", NAME]  # nothing more was created


def test_merging_onto_a_base_that_does_not_fit_the_adapter_says_so(trained_run, tmp_path, monkeypatch):
    import shutil

    from transformers import LlamaConfig, LlamaForCausalLM

    from workbench.models.demo import demo_model_path
    from workbench.publish import merge

    other = tmp_path / "other-base"
    LlamaForCausalLM(
        LlamaConfig(
            vocab_size=3000,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
        )
    ).save_pretrained(other)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copyfile(demo_model_path() / name, other / name)
    monkeypatch.setattr(merge, "resolve_base", lambda base: str(other))
    with pytest.raises(
        PublishError,
        match=r"does not fit the base .demo. \(size mismatch for .*q_proj.*, and 27 more\)\. "
        r".*Prepare the same base again",
    ):
        publish_ollama.merge_run(trained_run["id"])
    assert not (exports_dir(trained_run) / "merged").exists()
