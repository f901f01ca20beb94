"""The instance-side latency publisher: histogram parsing, quantiles, EMF, and one real round trip."""

from __future__ import annotations

import ast
import json
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from llmdeploy.core.instance import latency_emf
from llmdeploy.core.instance.latency_emf import (
    Histogram,
    emf_event,
    increase,
    interval_values,
    parse_histograms,
    quantile,
    statistics,
)

TTFT = "vllm:time_to_first_token_seconds"


def exposition(ttft_buckets: dict[str, float], total: float, count: float, model: str = "llama") -> str:
    """vLLM-shaped Prometheus text: a TTFT histogram and a gauge."""
    lines = [
        "# HELP vllm:num_requests_waiting Number of requests waiting to be processed.",
        "# TYPE vllm:num_requests_waiting gauge",
        f'vllm:num_requests_waiting{{engine="0",model_name="{model}"}} 3.0',
        f"# HELP {TTFT} Histogram of time to first token in seconds.",
        f"# TYPE {TTFT} histogram",
    ]
    for bound, value in ttft_buckets.items():
        lines.append(f'{TTFT}_bucket{{engine="0",le="{bound}",model_name="{model}"}} {value}')
    lines.append(f'{TTFT}_count{{engine="0",model_name="{model}"}} {count}')
    lines.append(f'{TTFT}_sum{{engine="0",model_name="{model}"}} {total}')
    return "\n".join(lines) + "\n"


FIRST = exposition({"0.1": 0, "0.5": 10, "1.0": 20, "+Inf": 20}, total=9.0, count=20)
SECOND = exposition({"0.1": 10, "0.5": 30, "1.0": 110, "+Inf": 120}, total=79.0, count=120)


def test_parse_sums_buckets_sum_and_count() -> None:
    histogram = parse_histograms(FIRST, (TTFT,))[TTFT]
    assert histogram.buckets == {0.1: 0, 0.5: 10, 1.0: 20, float("inf"): 20}
    assert (histogram.total, histogram.count) == (9.0, 20)
    assert "vllm:num_requests_waiting" not in parse_histograms(FIRST, (TTFT,))


def test_parse_adds_up_label_sets() -> None:
    text = FIRST + exposition({"0.1": 1, "0.5": 1, "1.0": 1, "+Inf": 1}, total=0.05, count=1, model="other")
    histogram = parse_histograms(text, (TTFT,))[TTFT]
    assert histogram.buckets[0.1] == 1 and histogram.count == 21


def test_increase_between_reads_and_after_a_restart() -> None:
    first = parse_histograms(FIRST, (TTFT,))[TTFT]
    second = parse_histograms(SECOND, (TTFT,))[TTFT]
    delta = increase(first, second)
    assert delta.buckets == {0.1: 10, 0.5: 20, 1.0: 90, float("inf"): 100}
    assert (delta.total, delta.count) == (70.0, 100)
    # vLLM restarted: counters went down, the new values are the whole interval.
    assert increase(second, first) is first


def test_quantile_interpolates_like_prometheus() -> None:
    delta = Histogram(buckets={0.1: 10, 0.5: 30, 1.0: 110, float("inf"): 110}, total=60.0, count=110)
    # rank 55 lies in (0.5, 1.0], 25 of its 80 observations in: 0.5 + 0.5 * 25/80.
    assert quantile(0.5, delta) == pytest.approx(0.5 + 0.5 * 25 / 80)
    # rank 5 lies in the first bucket, interpolated from 0.
    assert quantile(5 / 110, delta) == pytest.approx(0.05)
    # Everything beyond the last finite bound reports that bound.
    overflow = Histogram(buckets={0.1: 0, 1.0: 1, float("inf"): 10}, total=50, count=10)
    assert quantile(0.99, overflow) == 1.0
    assert quantile(0.5, Histogram()) is None


def test_statistics_are_empty_when_nothing_was_observed() -> None:
    assert statistics(Histogram(buckets={1.0: 0, float("inf"): 0})) == {}
    stats = statistics(Histogram(buckets={1.0: 4, float("inf"): 4}, total=2.0, count=4))
    assert stats["avg"] == 0.5 and set(stats) == {"avg", "p50", "p90", "p99"}


def test_emf_event_follows_the_specification() -> None:
    values = interval_values(parse_histograms(FIRST, (TTFT,)), parse_histograms(SECOND, (TTFT,)))
    event = emf_event(
        "llmdeploy/vllm", "/llmdeploy/prod/vllm-metrics", {"AutoScalingGroupName": "g"}, values, 1
    )
    directive = event["_aws"]
    assert isinstance(directive, dict)
    assert directive["LogGroupName"] == "/llmdeploy/prod/vllm-metrics"
    (metrics,) = directive["CloudWatchMetrics"]
    assert metrics["Namespace"] == "llmdeploy/vllm"
    assert metrics["Dimensions"] == [["AutoScalingGroupName"]]
    names = {m["Name"] for m in metrics["Metrics"]}
    assert names == {f"{TTFT}_{s}" for s in ("avg", "p50", "p90", "p99")}
    # Every declared metric and dimension is a top-level member of the event.
    assert all(name in event for name in names) and event["AutoScalingGroupName"] == "g"
    assert event[f"{TTFT}_avg"] == pytest.approx(0.7)


def test_runs_on_python_3_9() -> None:
    # The GPU AMIs' system Python: Amazon Linux 2023 ships 3.9.
    source = Path(latency_emf.__file__).read_text()
    ast.parse(source, feature_version=(3, 9))
    assert "import llmdeploy" not in source and "from llmdeploy" not in source


class _MetricsHandler(BaseHTTPRequestHandler):
    pages: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        body = (self.pages.pop(0) if len(self.pages) > 1 else self.pages[0]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return


def test_one_interval_end_to_end_over_loopback(tmp_path: Path) -> None:
    """The script as the instance runs it: a fake vLLM /metrics (test double) and a fake agent listener."""
    _MetricsHandler.pages = [FIRST, SECOND]
    server = ThreadingHTTPServer(("127.0.0.1", 0), _MetricsHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    agent = socket.create_server(("127.0.0.1", 0))
    received: list[bytes] = []

    def accept() -> None:
        connection, _ = agent.accept()
        with connection:
            received.append(connection.makefile("rb").read())

    listener = threading.Thread(target=accept, daemon=True)
    listener.start()
    try:
        result = subprocess.run(
            [
                sys.executable,
                latency_emf.__file__,
                "--metrics-url",
                f"http://127.0.0.1:{server.server_address[1]}/metrics",
                "--namespace",
                "llmdeploy/vllm",
                "--log-group",
                "/llmdeploy/test",
                "--dimension",
                "AutoScalingGroupName=test-asg",
                "--agent",
                f"127.0.0.1:{agent.getsockname()[1]}",
                "--interval",
                "0.1",
                "--once",
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        listener.join(timeout=10)
    finally:
        server.shutdown()
        agent.close()
    assert result.returncode == 0, result.stderr
    (line,) = received[0].decode().splitlines()
    event = json.loads(line)
    assert event["AutoScalingGroupName"] == "test-asg"
    # Interval: 100 observations, rank 50 in (0.5, 1.0] holding observations 21..90.
    assert event[f"{TTFT}_p50"] == pytest.approx(0.5 + 0.5 * 30 / 70)
