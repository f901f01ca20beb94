"""From measured levels to the run's verdicts: cost per million output tokens, SLO pass or fail."""

from __future__ import annotations

from collections.abc import Sequence

from llmdeploy.core.bench.cost import usd_per_million_output_tokens
from llmdeploy.core.bench.result import BenchRun, LevelResult, Target, Tool
from llmdeploy.core.bench.slo import SloTarget, highest_passing_concurrency, level_failures
from llmdeploy.core.bench.sweep import SweepSettings


def judged_levels(
    levels: Sequence[LevelResult], usd_per_hour: float | None, slo: Sequence[SloTarget] | None
) -> list[LevelResult]:
    return [
        level.model_copy(
            update={
                "usd_per_million_output_tokens": usd_per_million_output_tokens(
                    usd_per_hour, level.output_tokens_per_second
                ),
                "slo_failures": None if slo is None else level_failures(level, slo),
            }
        )
        for level in levels
    ]


def bench_run(
    *,
    created: str,
    label: str,
    load_generator: Tool,
    llmdeploy_version: str,
    target: Target,
    settings: SweepSettings,
    slo: Sequence[SloTarget] | None,
    levels: Sequence[LevelResult],
) -> BenchRun:
    judged = judged_levels(levels, target.fleet.usd_per_hour, slo)
    best = highest_passing_concurrency(judged) if slo is not None else None
    at_best = next((lv.usd_per_million_output_tokens for lv in judged if lv.concurrency == best), None)
    return BenchRun(
        created=created,
        label=label,
        load_generator=load_generator,
        llmdeploy_version=llmdeploy_version,
        target=target,
        settings=settings.as_dict(),
        slo=None if slo is None else [t.text for t in slo],
        levels=judged,
        slo_max_concurrency=best,
        usd_per_million_output_tokens_at_slo=at_best,
    )


def gate(run: BenchRun, require_concurrency: int) -> str | None:
    """Why the run fails `--require-concurrency N` (the SLO at N), or None when it passes."""
    level = next((lv for lv in run.levels if lv.concurrency == require_concurrency), None)
    if level is None:
        return (
            f"--require-concurrency: found {require_concurrency}; accepted: a level of the sweep "
            f"({', '.join(str(lv.concurrency) for lv in run.levels)})"
        )
    if level.slo_failures:
        return f"SLO fails at {require_concurrency} concurrent streams: {'; '.join(level.slo_failures)}"
    return None
