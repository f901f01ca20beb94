"""The result of one `llmdeploy bench` run: the documented JSON file (schema: `bench_result_schema()`).

One `BenchRun` holds what was run (settings, target, tool versions) and, per concurrency level,
what was measured. Latencies are in milliseconds; throughput in tokens or requests per second of
the level's wall time; cost in US dollars. `compare` reads these files back, so a file that does
not validate is refused with one line, never half-read.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from llmdeploy.core.bench.errors import BenchInputError

SCHEMA_VERSION = 1


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Percentiles(_Model):
    """One latency's distribution over the level's successful requests, in milliseconds."""

    p50: float
    p90: float
    p99: float


class LevelResult(_Model):
    concurrency: int = Field(description="Streams kept busy at once (GuideLLM's concurrent profile).")
    requests_completed: int
    requests_errored: int
    error_rate: float = Field(description="Errored requests over all requests finished, 0 to 1.")
    duration_seconds: float
    ttft_ms: Percentiles | None = Field(description="Time to first token; null when no request succeeded.")
    itl_ms: Percentiles | None = Field(
        description="Inter-token latency (time per output token after the first)."
    )
    e2e_ms: Percentiles | None = Field(description="Request latency, from sent to last token.")
    output_tokens_per_second: float
    requests_per_second: float
    usd_per_million_output_tokens: float | None = Field(
        default=None, description="The fleet's price per hour over this level's output tokens per hour."
    )
    slo_failures: list[str] | None = Field(
        default=None, description="The SLO targets this level missed ([] = passed); null without --slo."
    )
    load_generator_warnings: list[str] = Field(
        default_factory=list, description="What GuideLLM found suspect in its own run (it lagged, say)."
    )

    @property
    def slo_passed(self) -> bool | None:
        return None if self.slo_failures is None else not self.slo_failures


class Fleet(_Model):
    """What serves the endpoint, and what it costs an hour (from the GPU catalogue's prices)."""

    instance_type: str | None = None
    on_demand_instances: int = 0
    spot_instances: int = 0
    on_demand_usd_per_hour: float | None = Field(default=None, description="Per instance, the catalogue's.")
    spot_usd_per_hour: float | None = Field(
        default=None, description="Per instance, as given (--spot-price)."
    )
    usd_per_hour: float | None = Field(
        default=None, description="The whole fleet; null when a price is unknown."
    )
    price_basis: str = Field(default="", description="Where the prices come from, or why there is none.")


class Target(_Model):
    endpoint: str
    model: str
    stack: str | None = None
    engine: str | None = None
    image: str | None = None
    fleet: Fleet = Field(default_factory=Fleet)


class Tool(_Model):
    name: str
    version: str


class BenchRun(_Model):
    schema_version: Literal[1] = 1
    created: str = Field(description="When the run finished, ISO 8601 UTC.")
    label: str = Field(
        default="", description="A name for compare's table (--label; default: the stack or model)."
    )
    load_generator: Tool
    llmdeploy_version: str
    target: Target
    settings: dict[str, Any] = Field(
        description="The sweep: levels, token counts, bounds per level, dataset."
    )
    slo: list[str] | None = Field(default=None, description="The SLO targets, as given (--slo).")
    levels: list[LevelResult]
    slo_max_concurrency: int | None = Field(
        default=None, description="The highest concurrency whose level met every SLO target."
    )
    usd_per_million_output_tokens_at_slo: float | None = None


def bench_result_schema() -> dict[str, Any]:
    return BenchRun.model_json_schema()


def dump_run(run: BenchRun) -> str:
    return run.model_dump_json(indent=2) + "\n"


def load_run(text: str, source: str) -> BenchRun:
    """A result file read back; a BenchInputError naming the file and the first problem otherwise."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise BenchInputError(
            f"{source}: not JSON ({error.msg} at line {error.lineno}); "
            "accepted: a file written by `llmdeploy bench`"
        ) from None
    try:
        return BenchRun.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top level)"
        raise BenchInputError(
            f"{source}: {where}: {first['msg']}; accepted: a result file of schema_version {SCHEMA_VERSION} "
            "written by `llmdeploy bench`"
        ) from None
