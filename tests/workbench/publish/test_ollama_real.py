"""Publishing to a real Ollama server: run when OLLAMA_HOST (or 127.0.0.1:11434) answers, skipped otherwise.

The demo model is tiny and random, so what is asserted is what publishing promises whatever the weights: the
model is created with the run's template and stop parameters, answers without leaking template tokens, and the
held-out replay ran; models created here are deleted again.
"""

from __future__ import annotations

import contextlib
import uuid

import pytest

from workbench.publish import ollama as publish_ollama
from workbench.publish.merge import PublishError
from workbench.system import ollama_host

pytestmark = pytest.mark.ollama
HOST = ollama_host()  # read before any test changes OLLAMA_HOST


@pytest.fixture(scope="module")
def real_ollama():
    try:
        publish_ollama.connection(HOST)
    except PublishError:
        pytest.skip(f"no Ollama answers at {HOST}")
    client = publish_ollama.client_for(HOST)
    created: list[str] = []
    yield client, created
    for name in created:
        with contextlib.suppress(Exception):  # already gone
            client.delete(name)


def _name(prefix: str) -> str:
    return f"wb-test-{prefix}-{uuid.uuid4().hex[:6]}"


def test_merged_route_on_a_real_ollama(trained_run, real_ollama):
    client, created = real_ollama
    spec = publish_ollama.plan(trained_run["id"], _name("merged"), host=HOST, route="merged")
    created.append(spec.name)
    record = publish_ollama.publish(spec, replay=2)
    assert record["status"] == "published"
    shown = client.show(spec.name)
    assert shown.template.strip() == spec.template.strip() and "<|im_end|>" in shown.parameters
    verification = record["details"]["verification"]
    assert verification["replayed"] == 2
    answer = client.chat(
        model=spec.name,
        messages=[{"role": "user", "content": "Repite: dos"}],
        options={"temperature": 0, "num_predict": 32},
    ).message.content
    assert "<|im_end|>" not in answer and "<|im_start|>" not in answer


def test_adapter_route_on_a_real_ollama(trained_run, real_ollama):
    client, created = real_ollama
    spec = publish_ollama.plan(trained_run["id"], _name("adapter"), host=HOST, route="adapter")
    created += [spec.name, spec.base_model]
    record = publish_ollama.publish(spec, replay=1)
    assert record["status"] == "published"
    assert "ADAPTER" in client.show(spec.name).modelfile
