"""Bad input to `llmdeploy bench`: one line each on stderr, exit 2, no traceback, the key never shown.

Against real servers on loopback: nothing listening, the known-latency server with a key, and a
plain HTTP server that is not OpenAI-compatible. None of these reach GuideLLM.
"""

from __future__ import annotations

import json
import subprocess
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from tests.bench.conftest import KnownLatencyServer, bench_cli, explain
from tests.fixtures.servers import ThreadedHttpServer, closed_port

pytestmark = pytest.mark.integration

WRONG_KEY = "sk-wrong-CANARY-Qm3Zr8Xk1Vb6"


class HtmlPage(BaseHTTPRequestHandler):
    """A web server, not an inference server: every path answers an HTML page."""

    def do_GET(self) -> None:
        body = b"<html><body>It works!</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def assert_one_line(done: subprocess.CompletedProcess[str], starts: str, *secrets: str) -> str:
    assert done.returncode == 2, explain(done)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(starts), explain(done)
    assert "Traceback" not in done.stderr and done.stdout == ""
    for secret in secrets:
        assert secret not in done.stderr
    return lines[0]


def test_unreachable_endpoint() -> None:
    port = closed_port()
    done = bench_cli("--endpoint", f"http://127.0.0.1:{port}/v1", "--model", "m")
    line = assert_one_line(done, f"error: endpoint http://127.0.0.1:{port}/v1: unreachable")
    assert "Connection refused" in line


def test_wrong_key(known_latency: KnownLatencyServer) -> None:
    done = bench_cli("--endpoint", known_latency.endpoint, "--model", known_latency.model, api_key=WRONG_KEY)
    assert_one_line(
        done, f"error: endpoint {known_latency.endpoint}: refused the key in $LLMDEPLOY_API_KEY", WRONG_KEY
    )


def test_no_key_where_one_is_needed(known_latency: KnownLatencyServer) -> None:
    done = bench_cli("--endpoint", known_latency.endpoint, "--model", known_latency.model)
    assert_one_line(
        done, f"error: endpoint {known_latency.endpoint}: refused no key ($LLMDEPLOY_API_KEY is not set)"
    )


def test_a_model_the_endpoint_does_not_serve(known_latency: KnownLatencyServer) -> None:
    done = bench_cli("--endpoint", known_latency.endpoint, "--model", "nope", api_key=known_latency.api_key)
    assert_one_line(done, "error: --model: found 'nope'; accepted: a model", known_latency.api_key)
    assert "known-latency" in done.stderr


def test_not_openai_compatible() -> None:
    server = ThreadedHttpServer(HtmlPage)
    try:
        done = bench_cli("--endpoint", f"{server.url}/v1", "--model", "m", api_key=WRONG_KEY)
    finally:
        server.stop()
    assert_one_line(
        done,
        f"error: endpoint {server.url}/v1: not OpenAI-compatible (GET {server.url}/v1/models answered 200, not a model list)",
        WRONG_KEY,
    )


def test_a_stack_with_no_outputs(tmp_path: Path) -> None:
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({}))
    done = bench_cli("staging", "--outputs", str(outputs))
    assert_one_line(done, "error: endpoint: found None; accepted: the OpenAI base URL")


def test_no_outputs_at_all(tmp_path: Path) -> None:
    """No Pulumi CLI here and no --outputs: say so, not a traceback."""
    done = bench_cli("staging", "--program", str(tmp_path))
    assert_one_line(
        done, "error: no stack outputs: the Pulumi CLI is not installed here and no --outputs FILE"
    )


@pytest.mark.parametrize(
    ("args", "starts"),
    [
        (["--slo", "ttft_p99=fast"], "error: --slo: ttft_p99: found 'fast'; accepted: a duration"),
        (["--concurrency", "1,two"], "error: --concurrency: found 'two' in '1,two'"),
        (
            ["--slo", "ttft_p99=2s", "--require-concurrency", "3"],
            "error: --require-concurrency: found 3; accepted: a level",
        ),
        (["--require-concurrency", "1"], "error: --require-concurrency: found no --slo"),
        (["--max-seconds", "0"], "error: --max-seconds: found 0; accepted: seconds above 0"),
        (["--instances", "0", "--instance-type", "g5.xlarge"], "error: --instances: found 0"),
    ],
)
def test_bad_options_before_anything_is_sent(args: list[str], starts: str) -> None:
    port = closed_port()  # nothing listens: a bad option must be reported before any request
    assert_one_line(bench_cli("--endpoint", f"http://127.0.0.1:{port}/v1", "--model", "m", *args), starts)


def test_compare_bad_files(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    assert_one_line(bench_cli("compare", str(broken), str(broken)), f"error: {broken}: not JSON")
    assert_one_line(
        bench_cli("compare", str(tmp_path / "missing.json")),
        f"error: {tmp_path / 'missing.json'}: cannot read",
    )
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"benchmarks": []}))
    assert_one_line(bench_cli("compare", str(other), str(other)), f"error: {other}: ")
