"""Before any load: is the endpoint there, does the key open it, does it speak OpenAI's API?

One GET of `{endpoint}/models`, as the openai client would send it. Each way it can go wrong is
one line (an OpsError), so a bad endpoint costs a second, not a sweep of errors. The key is sent
as a bearer token and never written anywhere.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from llmdeploy.cli.ops.aws import OpsError

PROBE_TIMEOUT_SECONDS = 10.0


def _get(url: str, api_key: str | None, timeout: float) -> tuple[int, bytes]:
    headers = {"Accept": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return int(answer.status), answer.read(1_000_000)
    except urllib.error.HTTPError as error:
        return int(error.code), error.read(10_000)


def served_models(endpoint: str, api_key: str | None, timeout: float = PROBE_TIMEOUT_SECONDS) -> list[str]:
    """The model ids the endpoint lists; an OpsError (one line) when it cannot be benched."""
    url = endpoint.rstrip("/") + "/models"
    try:
        status, body = _get(url, api_key, timeout)
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        raise OpsError(
            f"endpoint {endpoint}: unreachable (GET {url}: {reason})",
            "check the URL (it ends in /v1), that the stack is up, and that this machine may reach it",
        ) from None
    if status in (401, 403):
        given = "the key in $LLMDEPLOY_API_KEY" if api_key else "no key ($LLMDEPLOY_API_KEY is not set)"
        raise OpsError(
            f"endpoint {endpoint}: refused {given} (GET {url} answered {status})",
            "set LLMDEPLOY_API_KEY to the stack's API key",
        )
    models = _model_ids(body)
    if status != 200 or models is None:
        raise OpsError(
            f"endpoint {endpoint}: not OpenAI-compatible (GET {url} answered {status}, "
            f"{'not a model list' if status == 200 else 'not 200'}); "
            "accepted: an OpenAI base URL ending in /v1",
            "pass the stack's `endpoint` output, the base URL ending in /v1",
        )
    return models


def _model_ids(body: bytes) -> list[str] | None:
    try:
        document: Any = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    data = document.get("data") if isinstance(document, dict) else None
    if not isinstance(data, list):
        return None
    return [str(entry.get("id")) for entry in data if isinstance(entry, dict) and "id" in entry]


def check_model_served(endpoint: str, model: str, models: list[str]) -> None:
    if model not in models:
        raise OpsError(
            f"--model: found {model!r}; accepted: a model {endpoint} serves "
            f"({', '.join(models) or 'none listed'})",
            "pass the stack's `model` output",
        )
