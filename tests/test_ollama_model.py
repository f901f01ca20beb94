"""The model-pull dynamic provider, against a loopback HTTP test double of Ollama's API.

Ollama itself cannot run here (no Docker engine, no Ollama binary on PyPI), so
`FakeOllamaApi` is a test double: it speaks the three endpoints the provider
uses, with Ollama's documented request and response shapes.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from components.ollama_model import (
    OllamaApiError,
    OllamaModelProvider,
    delete_model,
    model_present,
    pull_model,
)


class FakeOllamaApi(BaseHTTPRequestHandler):
    models: ClassVar[set[str]] = set()
    requests: ClassVar[list[tuple[str, str, dict]]] = []
    fail_pull = False

    def log_message(self, *args: object) -> None:
        pass

    def _body(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"{}")

    def _answer(self, status: int, payload: object) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self.requests.append(("GET", self.path, {}))
        if self.path == "/":
            self._answer(200, b"Ollama is running")
        elif self.path == "/api/tags":
            self._answer(200, {"models": [{"name": m, "model": m} for m in sorted(self.models)]})
        else:
            self._answer(404, {"error": "not found"})

    def do_POST(self) -> None:
        body = self._body()
        self.requests.append(("POST", self.path, body))
        if self.path == "/api/pull":
            if self.fail_pull:
                self._answer(500, {"error": "pull model manifest: file does not exist"})
                return
            name = body["model"] if ":" in body["model"] else body["model"] + ":latest"
            self.models.add(name)
            self._answer(200, {"status": "success"})
        else:
            self._answer(404, {"error": "not found"})

    def do_DELETE(self) -> None:
        body = self._body()
        self.requests.append(("DELETE", self.path, body))
        name = body["model"] if ":" in body["model"] else body["model"] + ":latest"
        if name in self.models:
            self.models.discard(name)
            self._answer(200, {})
        else:
            self._answer(404, {"error": f"model '{body['model']}' not found"})


@pytest.fixture
def ollama_url() -> Iterator[str]:
    FakeOllamaApi.models = set()
    FakeOllamaApi.requests = []
    FakeOllamaApi.fail_pull = False
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeOllamaApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_pull_waits_for_the_server_then_pulls_without_streaming(ollama_url: str) -> None:
    pull_model(ollama_url, "llama3.2:1b", timeout_seconds=30)
    assert ("POST", "/api/pull", {"model": "llama3.2:1b", "stream": False}) in FakeOllamaApi.requests
    assert FakeOllamaApi.requests[0][:2] == ("GET", "/")
    assert model_present(ollama_url, "llama3.2:1b")


def test_provider_create_read_delete(ollama_url: str) -> None:
    provider = OllamaModelProvider()
    props = {"base_url": ollama_url, "model": "nomic-embed-text", "timeout_seconds": 30}
    created = provider.create(props)
    assert created.id == f"{ollama_url}#nomic-embed-text"
    assert provider.read(created.id, props).id == created.id
    provider.delete(created.id, props)
    assert not model_present(ollama_url, "nomic-embed-text")
    # Gone already: deleting again is not an error.
    delete_model(ollama_url, "nomic-embed-text")
    assert provider.read(created.id, props).id is None


def test_changing_the_model_replaces_the_resource(ollama_url: str) -> None:
    diff = OllamaModelProvider().diff(
        "id",
        {"base_url": ollama_url, "model": "a", "timeout_seconds": 1},
        {"base_url": ollama_url, "model": "b", "timeout_seconds": 1},
    )
    assert diff.changes and diff.replaces == ["model"]


def test_a_failed_pull_is_reported(ollama_url: str) -> None:
    FakeOllamaApi.fail_pull = True
    with pytest.raises(OllamaApiError, match=r"POST /api/pull answered 500: .*file does not exist"):
        pull_model(ollama_url, "no-such-model", timeout_seconds=30)


def test_a_server_that_never_comes_up() -> None:
    with pytest.raises(OllamaApiError, match="was not ready within 1 s"):
        pull_model("http://127.0.0.1:9", "m", timeout_seconds=1)
