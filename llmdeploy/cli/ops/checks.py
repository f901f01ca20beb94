"""Checks and their report, shared by `preflight` and `verify`.

A check is a name, a function of a context returning an `Outcome`, and the
names of checks that must pass before it is worth running. Adding one is
appending a `Check` to a command's list:

    PREFLIGHT_CHECKS.append(Check("capacity", check_capacity, requires=("instance-type",)))

A check that raises `OpsError` (every AWS error does, through `llmdeploy.cli.ops.aws`)
fails with the error's message and remedy; any other exception is a bug and
propagates.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

from llmdeploy.cli.ops.aws import OpsError

Status = Literal["pass", "fail", "skip"]
ContextT = TypeVar("ContextT")


@dataclass(frozen=True)
class Outcome:
    status: Status
    detail: str
    remedy: str = ""
    # Measured numbers worth keeping in the JSON report (seconds, counts).
    figures: Mapping[str, float] = field(default_factory=dict)


def passed(detail: str, figures: Mapping[str, float] | None = None) -> Outcome:
    return Outcome("pass", detail, figures=figures or {})


def failed(detail: str, remedy: str) -> Outcome:
    return Outcome("fail", detail, remedy)


def skipped(detail: str) -> Outcome:
    return Outcome("skip", detail)


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: Status
    detail: str
    remedy: str = ""
    figures: Mapping[str, float] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return self.status == "fail"


@dataclass(frozen=True)
class Check(Generic[ContextT]):
    name: str
    run: Callable[[ContextT], Outcome]
    requires: tuple[str, ...] = ()


def run_checks(checks: Iterable[Check[ContextT]], context: ContextT) -> list[CheckResult]:
    """Run each check in order; one whose prerequisites did not pass is skipped."""
    results: list[CheckResult] = []
    status_of: dict[str, Status] = {}
    for check in checks:
        blocked = [name for name in check.requires if status_of.get(name) != "pass"]
        if blocked:
            outcome = skipped(f"needs {', '.join(blocked)} to pass first")
        else:
            try:
                outcome = check.run(context)
            except OpsError as error:
                outcome = failed(error.message, error.remedy)
        status_of[check.name] = outcome.status
        results.append(
            CheckResult(check.name, outcome.status, outcome.detail, outcome.remedy, outcome.figures)
        )
    return results


def any_failed(results: Sequence[CheckResult]) -> bool:
    return any(result.failed for result in results)


def render_table(title: str, results: Sequence[CheckResult]) -> str:
    """A plain-text table: one row per check, with what to do under each failure."""
    name_width = max([len("CHECK"), *(len(result.name) for result in results)])
    lines = [title, "", f"{'CHECK':<{name_width}}  RESULT  DETAIL"]
    indent = " " * (name_width + 10)
    for result in results:
        lines.append(f"{result.name:<{name_width}}  {result.status.upper():<6}  {result.detail}")
        if result.failed and result.remedy:
            lines.append(f"{indent}what to do: {result.remedy}")
    failures = sum(result.failed for result in results)
    skips = sum(result.status == "skip" for result in results)
    if failures:
        summary = f"{failures} of {len(results)} checks failed."
    elif skips:
        summary = f"No check failed; {skips} of {len(results)} skipped."
    else:
        summary = f"All {len(results)} checks passed."
    return "\n".join([*lines, "", summary]) + "\n"


def render_json(header: Mapping[str, Any], results: Sequence[CheckResult]) -> str:
    document = {
        **header,
        "ok": not any_failed(results),
        "checks": [
            {
                "name": result.name,
                "status": result.status,
                "detail": result.detail,
                "remedy": result.remedy,
                "figures": dict(result.figures),
            }
            for result in results
        ],
    }
    return json.dumps(document, indent=2) + "\n"
