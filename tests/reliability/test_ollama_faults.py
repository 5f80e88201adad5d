"""Ollama slow (6 s a reply) or dropping the connection mid-stream: publishing still says what happens,
leaves no half-made model behind, and fails with a clear message. (Unreachable, gone mid-upload and gone
mid-create: tests/workbench/publish/test_ollama.py.)"""

from __future__ import annotations

import time

import httpx
import pytest

from workbench.publish import ollama as publish_ollama
from workbench.publish.merge import PublishError

NAME = "words-bot"
SLOW_S = 6  # past the 5-s connect timeout: it waits for a slow reply, not for a connection


class DropsOnce:
    """An httpx transport that drops the connection of the first request to `path` mid-reply, then lets
    everything through again (a flaky network, Ollama restarting)."""

    def __init__(self, transport, path: str):
        self.transport, self.path, self.dropped = transport, path, False

    def handle_request(self, request):
        if request.url.path.startswith(self.path) and not self.dropped:
            self.dropped = True
            raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")
        return self.transport.handle_request(request)

    def close(self):
        self.transport.close()


def test_a_slow_ollama_is_waited_for_and_the_publish_completes(trained_run, fake_ollama):
    fake_ollama.chat_delay = SLOW_S
    spec = publish_ollama.plan(trained_run["id"], NAME, host=fake_ollama.host, route="merged")
    said: list[str] = []
    started = time.monotonic()
    record = publish_ollama.publish(spec, said.append, replay=1)
    assert record["status"] == "published"
    assert time.monotonic() - started >= SLOW_S  # it waited for the slow reply rather than giving up
    assert any("Published" in line for line in said)


def test_ollama_dropping_the_connection_mid_stream_leaves_no_half_made_model(trained_run, fake_ollama):
    spec = publish_ollama.plan(trained_run["id"], NAME, host=fake_ollama.host, route="merged")
    client = publish_ollama.client_for(fake_ollama.host)
    client._client._transport = DropsOnce(client._client._transport, "/api/chat")
    said: list[str] = []
    with pytest.raises(PublishError, match=r"Ollama is not running at .* \(or went away\)"):
        publish_ollama.publish(spec, said.append, client=client, replay=1)
    assert NAME not in fake_ollama.models  # the model created before the drop was deleted again
    [record] = publish_ollama.list_publishes()
    assert record["status"] == "failed" and "went away" in record["details"]["error"]
