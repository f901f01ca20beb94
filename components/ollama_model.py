"""A model pulled into a running Ollama server, as a Pulumi dynamic resource.

`pulumi up` ends with the model on disk and ready to load; `pulumi destroy`
deletes it. The provider talks to Ollama's HTTP API from the machine running
Pulumi (the developer's laptop, where Docker publishes the port).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider

# Ollama answers `GET /` with "Ollama is running" as soon as the server is up.
_READY_TEXT = "Ollama is running"


class OllamaApiError(Exception):
    pass


def _request(base_url: str, method: str, path: str, body: dict[str, Any] | None, timeout: float) -> bytes:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        f"{base_url.rstrip('/')}{path}",
        data=data,
        method=method,
        headers={"Content-Type": "application/json"} if data else {},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return bytes(response.read())
    except urllib.error.HTTPError as error:
        detail = error.read().decode(errors="replace")[:300]
        raise OllamaApiError(f"{method} {path} answered {error.code}: {detail}") from None
    except (urllib.error.URLError, OSError) as error:
        raise OllamaApiError(f"{method} {path} failed: {error}") from None


def wait_until_ready(base_url: str, timeout_seconds: float, poll_seconds: float = 1.0) -> None:
    deadline = time.monotonic() + timeout_seconds
    last_error = "no answer"
    while time.monotonic() < deadline:
        try:
            if _READY_TEXT in _request(base_url, "GET", "/", None, timeout=5).decode(errors="replace"):
                return
        except OllamaApiError as error:
            last_error = str(error)
        time.sleep(poll_seconds)
    raise OllamaApiError(f"Ollama at {base_url} was not ready within {timeout_seconds:.0f} s ({last_error})")


def pull_model(base_url: str, model: str, timeout_seconds: float) -> dict[str, Any]:
    """`POST /api/pull` without streaming: returns once the model is complete (resumable)."""
    wait_until_ready(base_url, timeout_seconds=min(timeout_seconds, 120))
    body = _request(base_url, "POST", "/api/pull", {"model": model, "stream": False}, timeout=timeout_seconds)
    answer = json.loads(body or b"{}")
    if answer.get("status") != "success":
        raise OllamaApiError(f"pull of {model!r} did not succeed: {answer}")
    return answer


def delete_model(base_url: str, model: str, timeout_seconds: float = 60) -> None:
    try:
        _request(base_url, "DELETE", "/api/delete", {"model": model}, timeout=timeout_seconds)
    except OllamaApiError as error:
        # Already gone (404) or the server is gone with its container: nothing left to delete.
        if " 404" in str(error) or "failed" in str(error):
            return
        raise


def model_present(base_url: str, model: str) -> bool:
    tags = json.loads(_request(base_url, "GET", "/api/tags", None, timeout=10) or b"{}")
    names = {entry.get("name") for entry in tags.get("models", [])} | {
        entry.get("model") for entry in tags.get("models", [])
    }
    wanted = model if ":" in model else f"{model}:latest"
    return wanted in names or model in names


class OllamaModelProvider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        pull_model(props["base_url"], props["model"], float(props["timeout_seconds"]))
        return CreateResult(id_=f"{props['base_url']}#{props['model']}", outs=props)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = [key for key in ("base_url", "model") if olds.get(key) != news.get(key)]
        return DiffResult(
            changes=bool(replaces) or olds.get("timeout_seconds") != news.get("timeout_seconds"),
            replaces=replaces,
            delete_before_replace=True,
        )

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> Any:
        from pulumi.dynamic import UpdateResult

        return UpdateResult(outs=news)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        try:
            present = model_present(props["base_url"], props["model"])
        except OllamaApiError:
            present = True  # server unreachable: keep the last known state rather than forget it
        return ReadResult(id_=id_ if present else None, outs=props)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        delete_model(props["base_url"], props["model"])


class OllamaModel(Resource):
    """A model pulled into the Ollama server at `base_url`."""

    model: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        base_url: pulumi.Input[str],
        model: str,
        timeout_seconds: int,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(
            OllamaModelProvider(),
            name,
            {"base_url": base_url, "model": model, "timeout_seconds": timeout_seconds},
            opts,
        )
