"""`llmdeploy bench compare A.json B.json ...`: runs side by side, the first one the baseline.

For each concurrency level the runs share, each run's figures next to the baseline's; a change of
SIGNIFICANT_CHANGE or more is marked better or worse (lower latency and cost are better, higher
throughput is better), and so is an SLO verdict that flips. Smaller changes are within the noise of
a load test on shared hardware and are left unmarked.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from llmdeploy.core.bench.errors import BenchInputError
from llmdeploy.core.bench.render import aligned, markdown_row, money
from llmdeploy.core.bench.result import BenchRun, LevelResult

SIGNIFICANT_CHANGE = 0.10


@dataclass(frozen=True)
class Metric:
    name: str
    value: Callable[[LevelResult], float | None]
    lower_is_better: bool
    show: Callable[[float], str]


def _p99(attribute: str) -> Callable[[LevelResult], float | None]:
    def value(level: LevelResult) -> float | None:
        distribution = getattr(level, attribute)
        return None if distribution is None else float(distribution.p99)

    return value


METRICS = (
    Metric("TTFT p99 ms", _p99("ttft_ms"), True, lambda v: f"{v:.0f}"),
    Metric("ITL p99 ms", _p99("itl_ms"), True, lambda v: f"{v:.1f}"),
    Metric("out tok/s", lambda level: level.output_tokens_per_second, False, lambda v: f"{v:.1f}"),
    Metric("$/M out tok", lambda level: level.usd_per_million_output_tokens, True, money),
)


def change_mark(baseline: float | None, value: float | None, lower_is_better: bool) -> str:
    """'' when within SIGNIFICANT_CHANGE (or unknown), else '+23% better' / '-40% worse'."""
    if baseline is None or value is None or baseline == 0:
        return ""
    change = (value - baseline) / baseline
    if abs(change) < SIGNIFICANT_CHANGE:
        return ""
    better = (change < 0) == lower_is_better
    return f"{change:+.0%} {'better' if better else 'worse'}"


def labels(runs: Sequence[BenchRun]) -> list[str]:
    """Each run's label (or model), made distinct with #N where two are the same."""
    names = [run.label or run.target.model for run in runs]
    return [f"{name} #{i + 1}" if names.count(name) > 1 else name for i, name in enumerate(names)]


def shared_levels(runs: Sequence[BenchRun]) -> list[int]:
    if len(runs) < 2:
        raise BenchInputError(f"compare: found {len(runs)} result file(s); accepted: two or more")
    levels = [level.concurrency for level in runs[0].levels]
    shared = [c for c in levels if all(any(lv.concurrency == c for lv in run.levels) for run in runs[1:])]
    if not shared:
        raise BenchInputError(
            "compare: the runs share no concurrency level; accepted: runs with at least one level in common"
        )
    return shared


def _level(run: BenchRun, concurrency: int) -> LevelResult:
    return next(level for level in run.levels if level.concurrency == concurrency)


def _slo_cell(level: LevelResult, baseline: LevelResult) -> str:
    if level.slo_passed is None:
        return "-"
    verdict = "pass" if level.slo_passed else "FAIL"
    if baseline.slo_passed is not None and baseline.slo_passed != level.slo_passed:
        verdict += " (flipped)"
    return verdict


def compare_rows(runs: Sequence[BenchRun]) -> tuple[list[str], list[list[str]]]:
    names = labels(runs)
    header = ["streams", "run", *(m.name for m in METRICS), "SLO", "vs baseline"]
    rows = []
    for concurrency in shared_levels(runs):
        baseline = _level(runs[0], concurrency)
        for index, (name, run) in enumerate(zip(names, runs, strict=True)):
            level = _level(run, concurrency)
            cells = []
            marks = []
            for metric in METRICS:
                value = metric.value(level)
                cells.append("-" if value is None else metric.show(value))
                if index and (mark := change_mark(metric.value(baseline), value, metric.lower_is_better)):
                    marks.append(f"{metric.name} {mark}")
            slo = _slo_cell(level, baseline)
            if index and slo.endswith("(flipped)"):
                marks.append(f"SLO {'now passes' if level.slo_passed else 'now fails'}")
            note = "baseline" if index == 0 else ("; ".join(marks) or "no change over 10%")
            rows.append([str(concurrency) if index == 0 else "", name, *cells, slo, note])
    return header, rows


def summary_lines(runs: Sequence[BenchRun]) -> list[str]:
    lines = []
    for name, run in zip(labels(runs), runs, strict=True):
        target, fleet = run.target, run.target.fleet
        what = [f"engine {target.engine or 'unknown'}"]
        if fleet.instance_type:
            what.append(f"{fleet.on_demand_instances + fleet.spot_instances} x {fleet.instance_type}")
        slo = ""
        if run.slo is not None:
            met = run.slo_max_concurrency
            slo = f"; SLO {', '.join(run.slo)} met up to {met} streams" if met else "; SLO met at no level"
            if run.usd_per_million_output_tokens_at_slo is not None:
                slo += f" at ${money(run.usd_per_million_output_tokens_at_slo)}/M out tok"
        lines.append(f"{name}: {target.model}, {', '.join(what)}{slo}")
    return lines


def compare_text(runs: Sequence[BenchRun]) -> str:
    header, rows = compare_rows(runs)
    return "\n".join([*summary_lines(runs), "", *aligned(header, rows)]) + "\n"


def compare_markdown(runs: Sequence[BenchRun]) -> str:
    header, rows = compare_rows(runs)
    lines = ["  \n".join(summary_lines(runs)), "", markdown_row(header), markdown_row(["---"] * len(header))]
    lines += [markdown_row(row) for row in rows]
    return "\n".join(lines) + "\n"
