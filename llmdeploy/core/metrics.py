"""vLLM's Prometheus metric names, as the instances publish them to CloudWatch.

The one home of each name: the user data scrapes them, the scaling policy
tracks the queue depth, the dashboard and alarms read them back. Source: vLLM's
`/metrics` (ENGINE_FACTS); `vllm:kv_cache_usage_perc` replaced the removed
`vllm:gpu_cache_usage_perc` in vLLM 0.12.
"""

from __future__ import annotations

from llmdeploy.core.instance.latency_emf import DEFAULT_FAMILIES

# The latency histograms: latency_emf.py runs alone on the instance (stdlib only,
# shipped verbatim in the user data), so it owns their names and we take them from it.
TIME_TO_FIRST_TOKEN, INTER_TOKEN_LATENCY, E2E_REQUEST_LATENCY, REQUEST_QUEUE_TIME = DEFAULT_FAMILIES

# Requests waiting for a slot: the queue depth that target tracking scales on.
QUEUE_DEPTH = "vllm:num_requests_waiting"
REQUESTS_RUNNING = "vllm:num_requests_running"
KV_CACHE_USAGE = "vllm:kv_cache_usage_perc"
PROMPT_TOKENS = "vllm:prompt_tokens_total"
GENERATION_TOKENS = "vllm:generation_tokens_total"
REQUEST_SUCCESS = "vllm:request_success_total"
PREEMPTIONS = "vllm:num_preemptions_total"

__all__ = [
    "E2E_REQUEST_LATENCY",
    "GENERATION_TOKENS",
    "INTER_TOKEN_LATENCY",
    "KV_CACHE_USAGE",
    "PREEMPTIONS",
    "PROMPT_TOKENS",
    "QUEUE_DEPTH",
    "REQUESTS_RUNNING",
    "REQUEST_QUEUE_TIME",
    "REQUEST_SUCCESS",
    "TIME_TO_FIRST_TOKEN",
]
