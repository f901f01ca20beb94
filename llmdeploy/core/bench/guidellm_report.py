"""GuideLLM's report (`guidellm run --output kind=json`, report version 2) read into bench's levels.

Only the figures bench reports are read, each from one documented place in the report:
`benchmarks[].config.strategy.streams`, and under `benchmarks[].metrics`: `request_totals`,
`time_to_first_token_ms`, `inter_token_latency_ms`, `request_latency` (seconds),
`output_token_count`, `requests_per_second`, over the successful requests; the level's duration
is `scheduler_metrics.measure_end_time - measure_start_time`. A report of another shape is refused
with one line, never half-read.
"""

from __future__ import annotations

from typing import Any

from llmdeploy.core.bench.errors import BenchInputError
from llmdeploy.core.bench.result import LevelResult, Percentiles

REPORT_VERSION = 2


def _path(document: Any, *keys: str | int) -> Any:
    value = document
    for key in keys:
        try:
            value = value[key]
        except (KeyError, IndexError, TypeError):
            where = ".".join(str(k) for k in keys)
            raise BenchInputError(
                f"GuideLLM report: {where}: missing; accepted: a report of version {REPORT_VERSION} "
                "(install the GuideLLM that bench/guidellm-requirements.txt pins: make bench-venv)"
            ) from None
    return value


def _percentiles(metrics: Any, name: str, scale: float) -> Percentiles | None:
    successful = _path(metrics, name, "successful")
    if not successful.get("count"):
        return None
    percentiles = _path(successful, "percentiles")
    return Percentiles(
        p50=float(percentiles["p50"]) * scale,
        p90=float(percentiles["p90"]) * scale,
        p99=float(percentiles["p99"]) * scale,
    )


def level_from_benchmark(benchmark: Any) -> LevelResult:
    streams = int(_path(benchmark, "config", "strategy", "streams"))
    metrics = _path(benchmark, "metrics")
    totals = _path(metrics, "request_totals")
    completed, errored = int(totals["successful"]), int(totals["errored"])
    finished = completed + errored
    scheduler = _path(benchmark, "scheduler_metrics")
    duration = float(scheduler["measure_end_time"]) - float(scheduler["measure_start_time"])
    output_tokens = float(_path(metrics, "output_token_count", "successful", "total_sum"))
    return LevelResult(
        concurrency=streams,
        requests_completed=completed,
        requests_errored=errored,
        error_rate=errored / finished if finished else 1.0,
        duration_seconds=round(duration, 3),
        ttft_ms=_percentiles(metrics, "time_to_first_token_ms", 1.0),
        itl_ms=_percentiles(metrics, "inter_token_latency_ms", 1.0),
        e2e_ms=_percentiles(metrics, "request_latency", 1000.0),
        output_tokens_per_second=output_tokens / duration if duration > 0 else 0.0,
        requests_per_second=completed / duration if duration > 0 else 0.0,
        load_generator_warnings=[str(w.get("message", w)) for w in benchmark.get("warnings") or []],
    )


def levels_from_report(report: Any) -> tuple[str, list[LevelResult]]:
    """(GuideLLM's version, the levels in order of concurrency) from a parsed report."""
    version = _path(report, "metadata", "version")
    if version != REPORT_VERSION:
        raise BenchInputError(
            f"GuideLLM report: metadata.version: found {version!r}; accepted: {REPORT_VERSION} "
            "(install the GuideLLM that bench/guidellm-requirements.txt pins: make bench-venv)"
        )
    levels = [level_from_benchmark(benchmark) for benchmark in _path(report, "benchmarks")]
    return str(_path(report, "metadata", "guidellm_version")), sorted(levels, key=lambda lv: lv.concurrency)
