"""The real vLLM (CPU build, the catalogue's version) started with the prod stack's own command line.

One server for the whole test session (the session fixture `real_vllm`, registered in tests/conftest.py);
every module that uses it is one xdist work unit (REAL_VLLM_MODULES there), run on one worker, and the
drain test, marked `stops_real_vllm`, is moved to the end of the collection: it stops the server last.
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import openai
import pytest

from llmdeploy.cli import main
from llmdeploy.core.dashboards import grafana_dashboard
from llmdeploy.core.engines import VLLM
from llmdeploy.core.metrics import VLLM_METRICS
from tests.fixtures.vllm_server import TEST_API_KEY, RealVllm

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PROMPT = [{"role": "user", "content": "Say hello in five words."}]
# Random weights stop at a random token: ignore_eos gives every answer the asked length.
FIXED_LENGTH = {"ignore_eos": True}


def client(server: RealVllm, key: str = TEST_API_KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.endpoint, api_key=key, timeout=60, max_retries=0)


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def post(url: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> tuple[int, str]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def sample_names(text: str) -> set[str]:
    """Metric names of the samples in Prometheus text exposition (what scrapers match on)."""
    return {
        line.split("{", 1)[0].split(" ", 1)[0]
        for line in text.splitlines()
        if line and not line.startswith("#")
    }


def test_the_generated_command_line_is_what_runs(real_vllm: RealVllm) -> None:
    command = real_vllm.command
    assert command.image == VLLM.image()
    # The model is vLLM's positional argument; `--model` is deprecated in 0.30.0.
    assert not command.arguments[0].startswith("-") and "--model" not in command.arguments
    assert command.environment["VLLM_NO_USAGE_STATS"] == "1"
    assert command.environment["DO_NOT_TRACK"] == "1"
    assert "--sse-keep-alive-interval" in command.arguments
    # Everything but the three mapped flags reaches vLLM as generated.
    generated = [word for word in command.arguments[1:] if word not in {"8000", "--port"}]
    assert all(word in real_vllm.argv for word in generated if word != "--tensor-parallel-size")


def test_health(real_vllm: RealVllm) -> None:
    assert get(f"{real_vllm.base_url}{VLLM.health_path}")[0] == 200


def test_models_lists_the_served_name(real_vllm: RealVllm) -> None:
    models = [model.id for model in client(real_vllm).models.list()]
    assert models == [real_vllm.served_name]


def test_chat_with_the_key(real_vllm: RealVllm) -> None:
    answer = client(real_vllm).chat.completions.create(
        model=real_vllm.served_name, messages=PROMPT, max_tokens=8, extra_body=FIXED_LENGTH
    )
    assert answer.choices[0].message.content
    assert answer.usage is not None and answer.usage.completion_tokens == 8


def test_streamed_chat_with_the_key(real_vllm: RealVllm) -> None:
    stream = client(real_vllm).chat.completions.create(
        model=real_vllm.served_name, messages=PROMPT, max_tokens=12, stream=True, extra_body=FIXED_LENGTH
    )
    pieces = [chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices]
    assert len([piece for piece in pieces if piece]) >= 2
    assert "".join(pieces)


def test_no_key_is_refused_on_the_openai_routes(real_vllm: RealVllm) -> None:
    status, _ = post(
        f"{real_vllm.endpoint}/chat/completions", {"model": real_vllm.served_name, "messages": PROMPT}
    )
    assert status == 401
    with pytest.raises(openai.AuthenticationError):
        client(real_vllm, key="wrong-key").models.list()


def test_the_key_does_not_guard_every_inference_path(real_vllm: RealVllm) -> None:
    """Why the API port may face only the load balancer (the policy `engine-port-only-from-load-balancer`):
    `/invocations` runs a chat completion without any key."""
    status, body = post(
        f"{real_vllm.base_url}/invocations",
        {"model": real_vllm.served_name, "messages": PROMPT, "max_tokens": 4, **FIXED_LENGTH},
    )
    assert status == 200, body
    assert json.loads(body)["choices"][0]["message"]["content"]
    assert get(f"{real_vllm.base_url}{VLLM.metrics_path}")[0] == 200


def test_every_scraped_metric_exists(real_vllm: RealVllm) -> None:
    # One request first, so that request-scoped families have samples.
    client(real_vllm).completions.create(
        model=real_vllm.served_name, prompt="hello", max_tokens=4, extra_body=FIXED_LENGTH
    )
    status, text = get(f"{real_vllm.base_url}{VLLM.metrics_path}")
    assert status == 200
    names = sample_names(text)
    assert set(VLLM_METRICS.scraped) - names == set(), sorted(n for n in names if n.startswith("vllm:"))
    histograms = {line.split()[2] for line in text.splitlines() if line.endswith(" histogram")}
    assert set(VLLM_METRICS.latency_families) - histograms == set(), sorted(histograms)


def test_every_series_the_grafana_dashboard_queries_exists(real_vllm: RealVllm) -> None:
    names = sample_names(get(f"{real_vllm.base_url}{VLLM.metrics_path}")[1])
    exprs = [target["expr"] for panel in grafana_dashboard("vllm")["panels"] for target in panel["targets"]]
    queried = {name for expr in exprs for name in re.findall(r"vllm:[a-z0-9_:]+", expr)}
    assert queried and queried - names == set(), sorted(queried - names)


def test_verify_passes_against_the_real_vllm(
    real_vllm: RealVllm, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMDEPLOY_API_KEY", TEST_API_KEY)
    code = main(
        [
            "verify",
            "staging",
            "--program",
            str(tmp_path),
            "--endpoint",
            real_vllm.endpoint,
            "--model",
            real_vllm.served_name,
            "--health-url",
            f"{real_vllm.base_url}{VLLM.health_path}",
            "--format",
            "json",
            "--timeout",
            "60",
        ]
    )
    document = json.loads(capsys.readouterr().out)
    checks = {check["name"]: check for check in document["checks"]}
    assert {name: checks[name]["status"] for name in ("models", "chat", "stream", "health")} == {
        "models": "pass",
        "chat": "pass",
        "stream": "pass",
        "health": "pass",
    }, checks
    assert code == 0
    assert checks["models"]["detail"] == f"{real_vllm.served_name} listed (1 model)"


def test_verify_fails_without_the_key(
    real_vllm: RealVllm, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LLMDEPLOY_API_KEY", raising=False)
    code = main(
        [
            "verify",
            "staging",
            "--program",
            str(tmp_path),
            "--endpoint",
            real_vllm.endpoint,
            "--model",
            real_vllm.served_name,
            "--health-url",
            f"{real_vllm.base_url}{VLLM.health_path}",
            "--format",
            "json",
            "--timeout",
            "60",
        ]
    )
    checks = {check["name"]: check for check in json.loads(capsys.readouterr().out)["checks"]}
    assert code == 1
    assert checks["models"]["status"] == "fail", checks["models"]


@pytest.mark.stops_real_vllm
def test_sigterm_drains_a_stream_in_flight_then_exits(real_vllm: RealVllm) -> None:
    """Last: it stops the server. A stream open at SIGTERM completes; the process then exits
    within the generated `--shutdown-timeout`."""
    arguments = real_vllm.command.arguments
    shutdown_timeout = int(arguments[arguments.index("--shutdown-timeout") + 1])
    tokens = 200
    stream = client(real_vllm).chat.completions.create(
        model=real_vllm.served_name, messages=PROMPT, max_tokens=tokens, stream=True, extra_body=FIXED_LENGTH
    )
    received: list[str] = []
    finish: list[str | None] = []
    first = threading.Event()

    def read() -> None:
        for chunk in stream:
            if chunk.choices:
                received.append(chunk.choices[0].delta.content or "")
                if chunk.choices[0].finish_reason:
                    finish.append(chunk.choices[0].finish_reason)
                first.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert first.wait(60), "no first token"
    signalled = time.monotonic()
    real_vllm.terminate()
    reader.join(timeout=shutdown_timeout)
    assert not reader.is_alive(), f"the stream was not closed within {shutdown_timeout} s"
    assert finish == ["length"], f"stream ended without finishing: {len(received)} chunks, {finish}"
    exit_code = real_vllm.process.process.wait(
        timeout=max(1, shutdown_timeout - (time.monotonic() - signalled))
    )
    assert exit_code == 0 or exit_code < 0, real_vllm.process.log_tail()
