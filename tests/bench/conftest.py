"""Fixtures of the bench tests: real servers on loopback, and `llmdeploy bench` run as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fixtures.known_latency_server import MODEL as KNOWN_MODEL
from tests.fixtures.servers import LOOPBACK, ServerProcess, free_port
from tests.support import REPO

# Shaped like a real key: it must never show in any output or file.
BENCH_KEY = "sk-bench-CANARY-7Yq2Lm9Pw4Rt8Ys1"
# GuideLLM starts its worker processes per level; on a loaded 2-core machine that alone can take
# half a minute a level.
BENCH_TIMEOUT_SECONDS = 600


@dataclass(frozen=True)
class KnownLatencyServer:
    endpoint: str
    model: str
    ttft_ms: float
    itl_ms: float
    api_key: str


def start_known_latency(
    directory: Path, ttft_ms: float, itl_ms: float, api_key: str
) -> tuple[ServerProcess, str]:
    port = free_port()
    process = ServerProcess(
        "known-latency server",
        [
            sys.executable,
            "-m",
            "tests.fixtures.known_latency_server",
            "--port",
            str(port),
            "--ttft-ms",
            str(ttft_ms),
            "--itl-ms",
            str(itl_ms),
            "--api-key",
            api_key,
        ],
        directory / "known-latency.log",
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    # Any answer (401 without the key) says it listens.
    process.wait_until_answering(f"http://{LOOPBACK}:{port}/v1/models", timeout_seconds=30)
    return process, f"http://{LOOPBACK}:{port}/v1"


@pytest.fixture(scope="session")
def known_latency(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KnownLatencyServer]:
    """TTFT 200 ms and ITL 20 ms, by timers: what a client measures beyond is the client's."""
    process, endpoint = start_known_latency(tmp_path_factory.mktemp("known"), 200.0, 20.0, BENCH_KEY)
    yield KnownLatencyServer(
        endpoint=endpoint, model=KNOWN_MODEL, ttft_ms=200.0, itl_ms=20.0, api_key=BENCH_KEY
    )
    process.stop()


def bench_cli(*args: str, api_key: str | None = None, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    """`llmdeploy bench ...` in its own process, not on a terminal (one progress line per level)."""
    env = {key: value for key, value in os.environ.items() if key != "LLMDEPLOY_API_KEY"}
    if api_key is not None:
        env["LLMDEPLOY_API_KEY"] = api_key
    return subprocess.run(
        [sys.executable, "-m", "llmdeploy", "bench", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=BENCH_TIMEOUT_SECONDS,
        stdin=subprocess.DEVNULL,
    )


def explain(done: subprocess.CompletedProcess[str]) -> str:
    return f"exit {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
