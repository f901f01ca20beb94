"""Grafana dashboards for each engine's Prometheus metrics, generated here and shipped as JSON.

`llmdeploy/core/data/dashboards/<engine>.json` is what a Grafana user imports (Dashboards > New >
Import); a test keeps the shipped files equal to what these functions generate. The queries read
the series the on-instance collector re-exposes (the engines' own names). vLLM's names were checked
against a running vLLM 0.30.0 (tests/integration); TGI's come from ENGINE_FACTS and TGI's docs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# What a dashboard needs of an engine's metrics: PromQL over the engine's own series.
RATE_WINDOW = "5m"


@dataclass(frozen=True)
class Panel:
    title: str
    unit: str
    # (PromQL, legend)
    queries: tuple[tuple[str, str], ...]


def quantiles(histogram: str) -> tuple[tuple[str, str], ...]:
    """p50, p90 and p99 of a Prometheus histogram over all instances."""
    return tuple(
        (f"histogram_quantile({q}, sum by (le) (rate({histogram}_bucket[{RATE_WINDOW}])))", f"p{label}")
        for q, label in ((0.5, "50"), (0.9, "90"), (0.99, "99"))
    )


def cloudwatch_quantile(histogram: str, quantile: float, label: str, value: str) -> str:
    """A percentile in CloudWatch's PromQL, over the OTLP histograms the collector sends there.

    CloudWatch stores an OTLP histogram as an exponential (native) histogram under the metric's own
    name, so the query reads it whole, with no `_bucket` series and no `le`; the scrape's labels are
    data point attributes, which CloudWatch's PromQL reads by their bare names.
    """
    return f'histogram_quantile({quantile}, sum(rate({histogram}{{{label}="{value}"}}[{RATE_WINDOW}])))'


VLLM_PANELS = (
    Panel("Queue depth (waiting requests)", "short", (("sum(vllm:num_requests_waiting)", "waiting"),)),
    Panel("Running requests", "short", (("sum(vllm:num_requests_running)", "running"),)),
    Panel("KV-cache usage", "percentunit", (("avg(vllm:kv_cache_usage_perc)", "average"),)),
    Panel("Time to first token", "s", quantiles("vllm:time_to_first_token_seconds")),
    Panel("Inter-token latency", "s", quantiles("vllm:inter_token_latency_seconds")),
    Panel("End-to-end latency", "s", quantiles("vllm:e2e_request_latency_seconds")),
    Panel("Queue time", "s", quantiles("vllm:request_queue_time_seconds")),
    Panel(
        "Tokens per second",
        "short",
        (
            (f"sum(rate(vllm:generation_tokens_total[{RATE_WINDOW}]))", "generated"),
            (f"sum(rate(vllm:prompt_tokens_total[{RATE_WINDOW}]))", "prompt"),
        ),
    ),
    Panel(
        "Finished requests by reason (abort and error are failures)",
        "reqps",
        (
            (
                f"sum by (finished_reason) (rate(vllm:request_success_total[{RATE_WINDOW}]))",
                "{{finished_reason}}",
            ),
        ),
    ),
    Panel(
        "Preemptions", "short", ((f"sum(rate(vllm:num_preemptions_total[{RATE_WINDOW}]))", "preemptions"),)
    ),
)

TGI_PANELS = (
    Panel("Queue depth", "short", (("sum(tgi_queue_size)", "queued"),)),
    Panel("Running batch size", "short", (("sum(tgi_batch_current_size)", "in batch"),)),
    Panel("Request duration", "s", quantiles("tgi_request_duration")),
    Panel("Queue time", "s", quantiles("tgi_request_queue_duration")),
    Panel("Time per output token", "s", quantiles("tgi_request_mean_time_per_token_duration")),
    Panel(
        "Tokens per second",
        "short",
        ((f"sum(rate(tgi_request_generated_tokens_sum[{RATE_WINDOW}]))", "generated"),),
    ),
    Panel(
        "Failed requests", "reqps", ((f"sum by (err) (rate(tgi_request_failure[{RATE_WINDOW}]))", "{{err}}"),)
    ),
)

PANELS = {"vllm": VLLM_PANELS, "tgi": TGI_PANELS}
TITLES = {"vllm": "llmdeploy: vLLM serving", "tgi": "llmdeploy: TGI serving"}


def grafana_dashboard(engine: str) -> dict[str, Any]:
    """An importable Grafana dashboard (schema 39) with a Prometheus data source variable."""
    panels = []
    for index, panel in enumerate(PANELS[engine]):
        panels.append(
            {
                "id": index + 1,
                "type": "timeseries",
                "title": panel.title,
                "gridPos": {"h": 8, "w": 12, "x": 12 * (index % 2), "y": 8 * (index // 2)},
                "datasource": {"type": "prometheus", "uid": "${datasource}"},
                "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
                "targets": [
                    {"refId": chr(ord("A") + n), "expr": expr, "legendFormat": legend}
                    for n, (expr, legend) in enumerate(panel.queries)
                ],
            }
        )
    return {
        "title": TITLES[engine],
        "uid": f"llmdeploy-{engine}",
        "schemaVersion": 39,
        "editable": True,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "1m",
        "tags": ["llmdeploy", engine],
        "templating": {
            "list": [
                {"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Prometheus"}
            ]
        },
        "panels": panels,
    }
