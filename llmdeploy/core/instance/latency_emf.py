"""Publish vLLM's latency histograms to CloudWatch as percentiles, through the CloudWatch agent.

Why this exists: the CloudWatch agent's Prometheus support carries gauges,
counters and summaries into CloudWatch but drops histograms ("Prometheus metric
type conversion by the CloudWatch agent", AWS docs; aws/amazon-cloudwatch-agent#593).
Every vLLM latency signal (time to first token, inter-token latency, end-to-end
latency, queue time) is a histogram. So once a minute this program reads
`/metrics`, takes each histogram's increase since the last read, estimates
p50/p90/p99 the way Prometheus's `histogram_quantile` does (linear within a
bucket) plus the mean, and hands one embedded-metric-format (EMF) event to the
agent's EMF listener (`logs.metrics_collected.emf`, TCP 127.0.0.1:25888).

Runs on the instance with the system Python (3.9+), standard library only.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import socket
import sys
import time
import urllib.request
from dataclasses import dataclass, field

DEFAULT_FAMILIES = (
    "vllm:time_to_first_token_seconds",
    "vllm:inter_token_latency_seconds",
    "vllm:e2e_request_latency_seconds",
    "vllm:request_queue_time_seconds",
)
QUANTILES = ((0.5, "p50"), (0.9, "p90"), (0.99, "p99"))

_SAMPLE = re.compile(r"^(?P<name>[A-Za-z_:][A-Za-z0-9_:]*)(?:\{(?P<labels>.*)\})?\s+(?P<value>\S+)")
_LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')


@dataclass
class Histogram:
    """One histogram family summed over its label sets: cumulative bucket counts by upper bound."""

    buckets: dict[float, float] = field(default_factory=dict)
    total: float = 0.0
    count: float = 0.0


def parse_histograms(text: str, families: tuple[str, ...]) -> dict[str, Histogram]:
    """Histograms of the named families from Prometheus text exposition, summed over labels."""
    found: dict[str, Histogram] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if not match:
            continue
        name = match.group("name")
        try:
            value = float(match.group("value"))
        except ValueError:
            continue
        for family in families:
            if not name.startswith(family):
                continue
            suffix = name[len(family) :]
            histogram = found.setdefault(family, Histogram())
            if suffix == "_bucket":
                labels = dict(_LABEL.findall(match.group("labels") or ""))
                bound = float(labels.get("le", "+Inf"))
                histogram.buckets[bound] = histogram.buckets.get(bound, 0.0) + value
            elif suffix == "_sum":
                histogram.total += value
            elif suffix == "_count":
                histogram.count += value
    return found


def increase(previous: Histogram | None, current: Histogram) -> Histogram:
    """What was observed between two reads; a counter that went down means vLLM restarted."""
    if previous is None:
        return current
    if current.count < previous.count or any(
        current.buckets.get(bound, 0.0) < count for bound, count in previous.buckets.items()
    ):
        return current
    return Histogram(
        buckets={bound: count - previous.buckets.get(bound, 0.0) for bound, count in current.buckets.items()},
        total=current.total - previous.total,
        count=current.count - previous.count,
    )


def quantile(q: float, histogram: Histogram) -> float | None:
    """Prometheus `histogram_quantile`: linear interpolation inside the bucket holding rank q."""
    bounds = sorted(histogram.buckets)
    if not bounds:
        return None
    total = histogram.buckets[bounds[-1]]
    if total <= 0:
        return None
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for bound in bounds:
        count = histogram.buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                # The top bucket has no upper edge: report the highest finite one.
                return lower_bound
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (count - lower_count)
        lower_bound, lower_count = bound, count
    return lower_bound


def statistics(histogram: Histogram) -> dict[str, float]:
    """p50/p90/p99 and mean of one interval's observations; empty when nothing was observed."""
    if histogram.count <= 0:
        return {}
    values = {"avg": histogram.total / histogram.count}
    for q, label in QUANTILES:
        estimate = quantile(q, histogram)
        if estimate is not None:
            values[label] = estimate
    return values


def emf_event(
    namespace: str,
    log_group: str,
    dimensions: dict[str, str],
    values: dict[str, float],
    timestamp_ms: int,
) -> dict[str, object]:
    """One embedded-metric-format event (CloudWatch EMF specification), all values in seconds."""
    event: dict[str, object] = {
        "_aws": {
            "Timestamp": timestamp_ms,
            "LogGroupName": log_group,
            "CloudWatchMetrics": [
                {
                    "Namespace": namespace,
                    "Dimensions": [sorted(dimensions)],
                    "Metrics": [{"Name": name, "Unit": "Seconds"} for name in sorted(values)],
                }
            ],
        }
    }
    event.update(dimensions)
    event.update(values)
    return event


def interval_values(previous: dict[str, Histogram], current: dict[str, Histogram]) -> dict[str, float]:
    values: dict[str, float] = {}
    for family, histogram in sorted(current.items()):
        for label, value in statistics(increase(previous.get(family), histogram)).items():
            values[f"{family}_{label}"] = value
    return values


def read_metrics(url: str, timeout: float) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return str(response.read().decode("utf-8"))


def send(address: tuple[str, int], event: dict[str, object]) -> None:
    with socket.create_connection(address, timeout=5) as connection:
        connection.sendall((json.dumps(event, separators=(",", ":")) + "\n").encode("utf-8"))


def _dimension(text: str) -> tuple[str, str]:
    name, _, value = text.partition("=")
    if not name or not value:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, found {text!r}")
    return name, value


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--metrics-url", default="http://127.0.0.1:8000/metrics")
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--log-group", required=True)
    parser.add_argument("--dimension", type=_dimension, action="append", default=[])
    parser.add_argument("--agent", type=_address, default=("127.0.0.1", 25888))
    parser.add_argument("--interval", type=float, default=60.0)
    parser.add_argument("--family", action="append", default=[])
    parser.add_argument("--once", action="store_true", help="read twice, one interval apart, send, exit")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    families = tuple(args.family) or DEFAULT_FAMILIES
    dimensions = dict(args.dimension)
    previous: dict[str, Histogram] | None = None
    while True:
        try:
            current = parse_histograms(read_metrics(args.metrics_url, timeout=10), families)
        except OSError as error:
            # vLLM refuses connections while it downloads and loads the model.
            print(f"latency-emf: {args.metrics_url} not readable yet: {error}", file=sys.stderr)
            current = None
        if current is not None and previous is not None:
            values = interval_values(previous, current)
            if values:
                event = emf_event(args.namespace, args.log_group, dimensions, values, int(time.time() * 1000))
                try:
                    send(args.agent, event)
                except OSError as error:
                    print(f"latency-emf: CloudWatch agent not reachable: {error}", file=sys.stderr)
            if args.once:
                return 0
        previous = current
        time.sleep(args.interval)


if __name__ == "__main__":
    sys.exit(main())
