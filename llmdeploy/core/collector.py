"""The OpenTelemetry Collector on a serving instance: its configuration and install steps, pure.

Why a collector: vLLM serves `/metrics` on its API port, where `/invocations` and `/tokenize`
answer without the API key (measured on vLLM 0.30.0). Monitoring that scrapes the API port can
run inference. The collector scrapes the engine on loopback and re-exposes every series, histograms
included, in Prometheus format on its own port: monitoring reaches that port, the load balancer
alone reaches the engine's.

Build: the contrib distribution (`otelcol-contrib`), pinned, installed from its release's RPM or
DEB package the way opentelemetry.io's "Install the Collector on Linux" does; the package brings
the `otelcol-contrib` systemd unit, which reads /etc/otelcol-contrib/config.yaml.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from llmdeploy.core.userdata import write_file

COLLECTOR_VERSION = "0.146.1"
COLLECTOR_PACKAGE = "otelcol-contrib"
COLLECTOR_SERVICE = "otelcol-contrib.service"
COLLECTOR_CONFIG_PATH = "/etc/otelcol-contrib/config.yaml"
COLLECTOR_RELEASES = "https://github.com/open-telemetry/opentelemetry-collector-releases/releases/download"
# The Prometheus exporter's port registered with OpenTelemetry (the SDKs' default too).
PROMETHEUS_EXPORT_PORT = 9464
PROMETHEUS_EXPORT_PATH = "/metrics"
# OTLP from processes on the instance only.
OTLP_GRPC_LISTENER = "127.0.0.1:4317"


@dataclass(frozen=True)
class CollectorArgs:
    # The Prometheus job name; it becomes the `job` label (and `service.name`) of every series.
    job: str
    # The engine's metrics endpoint on loopback.
    scrape_target: str
    metrics_path: str
    scrape_interval_seconds: int
    # Labels added to every scraped series, e.g. {"AutoScalingGroupName": "llmdeploy-prod-vllm"}.
    labels: Mapping[str, str] = field(default_factory=dict)
    # Forward metrics and traces to any OTLP endpoint as well (`otlpEndpoint`).
    otlp_endpoint: str | None = None


def collector_config(args: CollectorArgs) -> dict[str, Any]:
    """The collector's configuration (written as JSON, which is YAML)."""
    # The collector expands `${...}` in its configuration; nothing here may carry a `$`.
    for value in (args.job, args.scrape_target, args.metrics_path, *args.labels.values()):
        if "$" in value:
            raise ValueError(f"collector configuration values must not contain $: {value!r}")
    receivers: dict[str, Any] = {
        "prometheus": {
            "config": {
                "scrape_configs": [
                    {
                        "job_name": args.job,
                        "scrape_interval": f"{args.scrape_interval_seconds}s",
                        "metrics_path": args.metrics_path,
                        "static_configs": [{"targets": [args.scrape_target], "labels": dict(args.labels)}],
                    }
                ]
            }
        }
    }
    exporters: dict[str, Any] = {
        "prometheus": {
            "endpoint": f"0.0.0.0:{PROMETHEUS_EXPORT_PORT}",
            # Keep the engine's own names (`vllm:num_requests_waiting`): dashboards and alerts use them.
            "add_metric_suffixes": False,
            # The scrape's labels (job, instance, the group's name) stay on every series.
            "resource_to_telemetry_conversion": {"enabled": True},
        }
    }
    pipelines: dict[str, Any] = {
        "metrics": {"receivers": ["prometheus"], "processors": ["batch"], "exporters": ["prometheus"]}
    }
    if args.otlp_endpoint:
        if "$" in args.otlp_endpoint:
            raise ValueError(f"collector configuration values must not contain $: {args.otlp_endpoint!r}")
        receivers["otlp"] = {"protocols": {"grpc": {"endpoint": OTLP_GRPC_LISTENER}}}
        exporters["otlp"] = {"endpoint": args.otlp_endpoint}
        pipelines["metrics"]["exporters"].append("otlp")
        pipelines["traces"] = {"receivers": ["otlp"], "processors": ["batch"], "exporters": ["otlp"]}
    return {
        "receivers": receivers,
        "processors": {"batch": {}},
        "exporters": exporters,
        "service": {"pipelines": pipelines},
    }


def package_url(kind: str, arch_variable: str = "${arch}") -> str:
    """The release package for this machine's architecture (`kind`: rpm or deb)."""
    name = f"{COLLECTOR_PACKAGE}_{COLLECTOR_VERSION}_linux_{arch_variable}.{kind}"
    return f"{COLLECTOR_RELEASES}/v{COLLECTOR_VERSION}/{name}"


def collector_steps(args: CollectorArgs) -> list[str]:
    """Shell lines: install the pinned collector (RPM on Amazon Linux, DEB on Ubuntu), configure, start."""
    return [
        f"# The OpenTelemetry Collector ({COLLECTOR_PACKAGE} {COLLECTOR_VERSION}): scrapes the engine on",
        f"# loopback and re-exposes its metrics on port {PROMETHEUS_EXPORT_PORT} for monitoring.",
        f"if ! command -v {COLLECTOR_PACKAGE} >/dev/null 2>&1; then",
        '  case "$(uname -m)" in aarch64) arch=arm64 ;; *) arch=amd64 ;; esac',
        "  if command -v dnf >/dev/null 2>&1; then",
        f'    curl -fsSL --retry 5 -o /tmp/{COLLECTOR_PACKAGE}.rpm "{package_url("rpm")}"',
        f"    rpm -Uvh /tmp/{COLLECTOR_PACKAGE}.rpm",
        "  else",
        f'    curl -fsSL --retry 5 -o /tmp/{COLLECTOR_PACKAGE}.deb "{package_url("deb")}"',
        f"    dpkg -i /tmp/{COLLECTOR_PACKAGE}.deb",
        "  fi",
        "fi",
        *write_file(COLLECTOR_CONFIG_PATH, json.dumps(collector_config(args), indent=1), "0644"),
        f"systemctl enable {COLLECTOR_SERVICE}",
        f"systemctl restart {COLLECTOR_SERVICE}",
    ]
