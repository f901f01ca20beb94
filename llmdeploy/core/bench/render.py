"""A bench run as a text table (terminal), a markdown table (pull requests, CI run summaries)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from llmdeploy.core.bench.result import BenchRun, LevelResult, Percentiles

COLUMNS = (
    "streams",
    "ok",
    "errors",
    "TTFT p50/p90/p99 ms",
    "ITL p50/p90/p99 ms",
    "E2E p50/p90/p99 ms",
    "out tok/s",
    "req/s",
    "$/M out tok",
    "SLO",
)


def _percentiles(value: Percentiles | None) -> str:
    if value is None:
        return "-"
    return (
        f"{value.p50:.0f}/{value.p90:.0f}/{value.p99:.0f}"
        if value.p99 >= 10
        else (f"{value.p50:.1f}/{value.p90:.1f}/{value.p99:.1f}")
    )


def money(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}" if value >= 1 else f"{value:.4f}"


def slo_cell(level: LevelResult) -> str:
    if level.slo_failures is None:
        return ""
    return "pass" if not level.slo_failures else "FAIL: " + "; ".join(level.slo_failures)


def level_row(level: LevelResult) -> list[str]:
    return [
        str(level.concurrency),
        str(level.requests_completed),
        f"{level.requests_errored} ({level.error_rate:.0%})",
        _percentiles(level.ttft_ms),
        _percentiles(level.itl_ms),
        _percentiles(level.e2e_ms),
        f"{level.output_tokens_per_second:.1f}",
        f"{level.requests_per_second:.2f}",
        money(level.usd_per_million_output_tokens),
        slo_cell(level),
    ]


def describe_target(run: BenchRun) -> list[str]:
    target, fleet = run.target, run.target.fleet
    lines = [f"{run.label or target.model}: {target.model} at {target.endpoint}"]
    serving = [f"engine {target.engine or 'unknown'}"]
    if target.image:
        serving.append(f"image {target.image}")
    if fleet.instance_type:
        count = f"{fleet.on_demand_instances + fleet.spot_instances} x {fleet.instance_type}"
        if fleet.spot_instances:
            count += f" ({fleet.on_demand_instances} On-Demand, {fleet.spot_instances} Spot)"
        serving.append(count)
    if fleet.usd_per_hour is not None:
        serving.append(f"${fleet.usd_per_hour:.3f}/h")
    serving.append(f"prices: {fleet.price_basis or 'none'}")
    lines.append(", ".join(serving))
    settings = run.settings
    data = (
        f"dataset {settings['dataset']}"
        if settings.get("dataset")
        else f"synthetic prompts of {settings['prompt_tokens']} tokens, "
        f"{settings['output_tokens']} output tokens"
    )
    lines.append(
        f"{data}; each level at most {settings['max_requests']} requests or {settings['max_seconds']:g} s; "
        f"{run.load_generator.name} {run.load_generator.version}"
    )
    return lines


def slo_summary(run: BenchRun) -> str | None:
    if run.slo is None:
        return None
    slo = ", ".join(run.slo)
    if run.slo_max_concurrency is None:
        return f"SLO {slo}: no level meets it"
    cost = run.usd_per_million_output_tokens_at_slo
    priced = f", ${money(cost)} per million output tokens there" if cost is not None else ""
    return f"SLO {slo}: met up to {run.slo_max_concurrency} concurrent streams{priced}"


def aligned(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=False)]
    numeric = [
        all(r[i][:1].isdigit() or r[i] == "-" for r in rows) if rows else False for i in range(len(header))
    ]

    def line(cells: Sequence[str]) -> str:
        padded = (c.rjust(w) if n else c.ljust(w) for c, w, n in zip(cells, widths, numeric, strict=True))
        return "  ".join(padded).rstrip()

    return [line(header), "  ".join("-" * w for w in widths), *(line(r) for r in rows)]


def _columns(run: BenchRun) -> tuple[list[str], Callable[[LevelResult], list[str]]]:
    keep = [i for i, name in enumerate(COLUMNS) if not (name == "SLO" and run.slo is None)]
    return [COLUMNS[i] for i in keep], lambda level: [level_row(level)[i] for i in keep]


def text_table(run: BenchRun) -> str:
    header, row = _columns(run)
    lines = [*describe_target(run), "", *aligned(header, [row(level) for level in run.levels])]
    if (summary := slo_summary(run)) is not None:
        lines += ["", summary]
    return "\n".join(lines) + "\n"


def markdown_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def markdown_table(run: BenchRun) -> str:
    header, row = _columns(run)
    lines = [f"**{line}**" if i == 0 else line for i, line in enumerate(describe_target(run))]
    lines = ["  \n".join(lines), ""]
    lines += [markdown_row(header), markdown_row(["---"] * len(header))]
    lines += [markdown_row(row(level)) for level in run.levels]
    if (summary := slo_summary(run)) is not None:
        lines += ["", summary]
    return "\n".join(lines) + "\n"
