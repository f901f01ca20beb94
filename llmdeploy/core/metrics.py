"""Each engine's Prometheus metric names, as the instances' collector publishes them to CloudWatch.

The one home of each name: the user data scrapes them, the scaling policy tracks the
queue depth, the dashboard and alarms read them back.

- vLLM: its `/metrics` (ENGINE_FACTS); `vllm:kv_cache_usage_perc` replaced the removed
  `vllm:gpu_cache_usage_perc` in vLLM 0.12.
- SGLang: its `/metrics` with `--enable-metrics` (python/sglang/srt/metrics/collector.py):
  `sglang:num_queue_reqs`, `sglang:num_running_reqs`, `sglang:token_usage` (KV pool in use),
  token counters and latency histograms.
- TGI: its Prometheus listener (ENGINE_FACTS): `tgi_queue_size`, `tgi_batch_current_size`,
  request duration histograms; no KV-cache gauge and no time-to-first-token histogram.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

# The latency histograms (the collector sends them to CloudWatch whole, over OTLP).
TIME_TO_FIRST_TOKEN = "vllm:time_to_first_token_seconds"
INTER_TOKEN_LATENCY = "vllm:inter_token_latency_seconds"
E2E_REQUEST_LATENCY = "vllm:e2e_request_latency_seconds"
REQUEST_QUEUE_TIME = "vllm:request_queue_time_seconds"

# Requests waiting for a slot: the queue depth that target tracking scales on.
QUEUE_DEPTH = "vllm:num_requests_waiting"
REQUESTS_RUNNING = "vllm:num_requests_running"
KV_CACHE_USAGE = "vllm:kv_cache_usage_perc"
PROMPT_TOKENS = "vllm:prompt_tokens_total"
GENERATION_TOKENS = "vllm:generation_tokens_total"
REQUEST_SUCCESS = "vllm:request_success_total"
PREEMPTIONS = "vllm:num_preemptions_total"


@dataclass(frozen=True)
class EngineMetricNames:
    """One engine's series; None where the engine publishes no such series."""

    # Requests waiting for a slot (scaling and the queue alarm) and requests being served.
    queue_depth: str
    requests_running: str
    # A fraction, 0 to 1.
    kv_cache_usage: str | None
    prompt_tokens: str | None
    generation_tokens: str | None
    request_success: str | None
    preemptions: str | None
    # Histograms: CloudWatch gets them whole (OTLP); their percentiles are PromQL there.
    time_to_first_token: str | None
    inter_token_latency: str | None
    e2e_request_latency: str | None
    request_queue_time: str | None

    @property
    def latency_families(self) -> tuple[str, ...]:
        families = (
            self.time_to_first_token,
            self.inter_token_latency,
            self.e2e_request_latency,
            self.request_queue_time,
        )
        return tuple(family for family in families if family is not None)

    @property
    def scraped(self) -> dict[str, str]:
        """What the collector sends CloudWatch as EMF, with its unit: gauges and counters, which
        target tracking and the alarms read as classic CloudWatch metrics."""
        units = {
            self.queue_depth: "Count",
            self.requests_running: "Count",
            self.kv_cache_usage: "None",  # a fraction, 0 to 1
            self.prompt_tokens: "Count",
            self.generation_tokens: "Count",
            self.request_success: "Count",
            self.preemptions: "Count",
        }
        return {name: unit for name, unit in units.items() if name is not None}


VLLM_METRICS = EngineMetricNames(
    queue_depth=QUEUE_DEPTH,
    requests_running=REQUESTS_RUNNING,
    kv_cache_usage=KV_CACHE_USAGE,
    prompt_tokens=PROMPT_TOKENS,
    generation_tokens=GENERATION_TOKENS,
    request_success=REQUEST_SUCCESS,
    preemptions=PREEMPTIONS,
    time_to_first_token=TIME_TO_FIRST_TOKEN,
    inter_token_latency=INTER_TOKEN_LATENCY,
    e2e_request_latency=E2E_REQUEST_LATENCY,
    request_queue_time=REQUEST_QUEUE_TIME,
)

SGLANG_METRICS = EngineMetricNames(
    queue_depth="sglang:num_queue_reqs",
    requests_running="sglang:num_running_reqs",
    kv_cache_usage="sglang:token_usage",
    prompt_tokens="sglang:prompt_tokens_total",
    generation_tokens="sglang:generation_tokens_total",
    request_success=None,
    preemptions=None,
    time_to_first_token="sglang:time_to_first_token_seconds",
    inter_token_latency="sglang:inter_token_latency_seconds",
    e2e_request_latency="sglang:e2e_request_latency_seconds",
    request_queue_time=None,
)

TGI_METRICS = EngineMetricNames(
    queue_depth="tgi_queue_size",
    requests_running="tgi_batch_current_size",
    kv_cache_usage=None,
    prompt_tokens=None,
    generation_tokens=None,
    request_success="tgi_request_success",
    preemptions=None,
    time_to_first_token=None,
    inter_token_latency="tgi_request_mean_time_per_token_duration",
    e2e_request_latency="tgi_request_duration",
    request_queue_time="tgi_request_queue_duration",
)

# Ollama publishes no metrics (ollama/ollama#3144): it has no entry.
ENGINE_METRICS: Mapping[str, EngineMetricNames] = {
    "vllm": VLLM_METRICS,
    "sglang": SGLANG_METRICS,
    "tgi": TGI_METRICS,
}

__all__ = [
    "E2E_REQUEST_LATENCY",
    "ENGINE_METRICS",
    "GENERATION_TOKENS",
    "INTER_TOKEN_LATENCY",
    "KV_CACHE_USAGE",
    "PREEMPTIONS",
    "PROMPT_TOKENS",
    "QUEUE_DEPTH",
    "REQUESTS_RUNNING",
    "REQUEST_QUEUE_TIME",
    "REQUEST_SUCCESS",
    "SGLANG_METRICS",
    "TGI_METRICS",
    "TIME_TO_FIRST_TOKEN",
    "VLLM_METRICS",
    "EngineMetricNames",
]
