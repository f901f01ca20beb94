"""What one bench run sends: the concurrency levels, the synthetic request shape, the bounds per level."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from llmdeploy.core.bench.errors import BenchInputError

# Doubling from one stream to 64: one level below and above the knee of most single-GPU servers.
DEFAULT_CONCURRENCIES = (1, 2, 4, 8, 16, 32, 64)
DEFAULT_PROMPT_TOKENS = 256
DEFAULT_OUTPUT_TOKENS = 128
# Every level is bounded in requests and in seconds, whichever comes first, so a slow server
# cannot make a sweep run for hours.
DEFAULT_MAX_REQUESTS = 200
DEFAULT_MAX_SECONDS = 60.0
MAX_CONCURRENCY = 4096


@dataclass(frozen=True)
class SweepSettings:
    concurrencies: tuple[int, ...] = DEFAULT_CONCURRENCIES
    prompt_tokens: int = DEFAULT_PROMPT_TOKENS
    output_tokens: int = DEFAULT_OUTPUT_TOKENS
    max_requests: int = DEFAULT_MAX_REQUESTS
    max_seconds: float = DEFAULT_MAX_SECONDS
    # A dataset GuideLLM reads instead of synthetic prompts (a file or a Hugging Face dataset id).
    dataset: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "concurrencies": list(self.concurrencies)}


def parse_concurrencies(text: str) -> tuple[int, ...]:
    """`1,2,4,8` -> (1, 2, 4, 8): distinct whole numbers from 1 to MAX_CONCURRENCY, sorted."""
    accepted = f"comma-separated whole numbers from 1 to {MAX_CONCURRENCY}, such as 1,2,4,8"
    levels: list[int] = []
    for part in text.split(","):
        try:
            level = int(part.strip())
        except ValueError:
            raise BenchInputError(
                f"--concurrency: found {part.strip()!r} in {text!r}; accepted: {accepted}"
            ) from None
        if not 1 <= level <= MAX_CONCURRENCY:
            raise BenchInputError(f"--concurrency: found {level} in {text!r}; accepted: {accepted}")
        levels.append(level)
    return tuple(sorted(set(levels)))


def sweep_settings(
    *,
    concurrencies: tuple[int, ...],
    prompt_tokens: int,
    output_tokens: int,
    max_requests: int,
    max_seconds: float,
    dataset: str | None,
) -> SweepSettings:
    """The settings, each checked: a one-line BenchInputError naming the option otherwise."""
    for option, value in (
        ("--prompt-tokens", prompt_tokens),
        ("--output-tokens", output_tokens),
        ("--max-requests", max_requests),
    ):
        if value < 1:
            raise BenchInputError(f"{option}: found {value}; accepted: a whole number of at least 1")
    if not max_seconds > 0:
        raise BenchInputError(f"--max-seconds: found {max_seconds:g}; accepted: seconds above 0")
    if not concurrencies:
        raise BenchInputError("--concurrency: found no level; accepted: at least one, such as 1,2,4")
    return SweepSettings(
        concurrencies=concurrencies,
        prompt_tokens=prompt_tokens,
        output_tokens=output_tokens,
        max_requests=max_requests,
        max_seconds=max_seconds,
        dataset=dataset,
    )
