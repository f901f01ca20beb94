"""SLOs: `ttft_p99=2s,itl_p99=100ms,error_rate=1%`, each level pass or fail, the highest that passes."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from llmdeploy.core.bench.errors import BenchInputError
from llmdeploy.core.bench.result import LevelResult

LATENCY_METRICS = ("ttft", "itl", "e2e")
PERCENTILES = ("p50", "p90", "p99")
ERROR_RATE = "error_rate"
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s)$")
_FRACTION = re.compile(r"^(\d+(?:\.\d+)?)(%?)$")
_ACCEPTED = (
    "comma-separated NAME=LIMIT, NAME one of "
    + ", ".join(f"{m}_{p}" for m in LATENCY_METRICS for p in PERCENTILES)
    + " with a duration (2s, 100ms), or error_rate with a fraction (0.01 or 1%)"
)


@dataclass(frozen=True)
class SloTarget:
    name: str  # ttft_p99, error_rate
    limit: float  # milliseconds for latencies, a fraction for error_rate
    text: str  # as given, for reports

    def failure(self, level: LevelResult) -> str | None:
        """Why `level` misses this target, or None when it meets it."""
        if self.name == ERROR_RATE:
            if level.error_rate > self.limit:
                return f"error_rate {level.error_rate:.1%} > {self.limit:.1%}"
            return None
        metric, percentile = self.name.split("_")
        distribution = getattr(level, f"{metric}_ms")
        if distribution is None:
            return f"{self.name}: no successful request"
        measured = float(getattr(distribution, percentile))
        if measured > self.limit:
            return f"{self.name} {measured:.0f}ms > {self.limit:g}ms"
        return None


def parse_slo(text: str) -> tuple[SloTarget, ...]:
    targets: dict[str, SloTarget] = {}
    for part in (p.strip() for p in text.split(",")):
        name, sep, limit_text = part.partition("=")
        name, limit_text = name.strip(), limit_text.strip()
        if not sep or not name:
            raise BenchInputError(f"--slo: found {part!r} in {text!r}; accepted: {_ACCEPTED}")
        if name == ERROR_RATE:
            match = _FRACTION.match(limit_text)
            limit = None
            if match:
                limit = float(match[1]) / (100 if match[2] else 1)
            if limit is None or limit > 1:
                raise BenchInputError(
                    f"--slo: {name}: found {limit_text!r}; accepted: a fraction (0.01 or 1%)"
                )
        elif name in {f"{m}_{p}" for m in LATENCY_METRICS for p in PERCENTILES}:
            match = _DURATION.match(limit_text)
            if not match:
                raise BenchInputError(
                    f"--slo: {name}: found {limit_text!r}; accepted: a duration in s or ms (2s, 100ms)"
                )
            limit = float(match[1]) * (1000 if match[2] == "s" else 1)
        else:
            raise BenchInputError(f"--slo: found {name!r} in {text!r}; accepted: {_ACCEPTED}")
        targets[name] = SloTarget(name=name, limit=limit, text=f"{name}={limit_text}")
    return tuple(targets.values())


def level_failures(level: LevelResult, targets: Sequence[SloTarget]) -> list[str]:
    return [failure for target in targets if (failure := target.failure(level)) is not None]


def highest_passing_concurrency(levels: Sequence[LevelResult]) -> int | None:
    """The highest concurrency whose level met every target (levels already judged), None if none did."""
    passing = [level.concurrency for level in levels if level.slo_passed]
    return max(passing) if passing else None
