"""Latency and throughput against concurrency: a PNG (matplotlib) and one self-contained HTML page.

The HTML page inlines the figure as SVG and the tables as HTML: it opens from a CI artifact or
an e-mail with no network and no other file. Several runs (compare) share one figure.
"""

from __future__ import annotations

import html
import io
from collections.abc import Sequence
from pathlib import Path

from llmdeploy.cli.ops.aws import OpsError
from llmdeploy.core.bench.compare import labels
from llmdeploy.core.bench.result import BenchRun


def _pyplot():  # type: ignore[no-untyped-def]
    try:
        import matplotlib
    except ImportError:
        raise OpsError(
            "matplotlib is not installed: bench draws its plots with it",
            "install the bench extra: pip install -e '.[bench]' (make install-bench)",
        ) from None

    matplotlib.use("Agg")  # no display: files only
    from matplotlib import pyplot

    return pyplot


def require_matplotlib() -> None:
    """Before a run, not after it: a missing plotting library must not cost a sweep's results."""
    _pyplot()


def _figure(runs: Sequence[BenchRun]):  # type: ignore[no-untyped-def]
    figure, axes = _pyplot().subplots(2, 2, figsize=(11, 7.5), constrained_layout=True)
    panels = (
        (axes[0][0], "TTFT (ms)", lambda lv: lv.ttft_ms),
        (axes[0][1], "ITL (ms)", lambda lv: lv.itl_ms),
        (axes[1][0], "end-to-end latency (ms)", lambda lv: lv.e2e_ms),
    )
    names = labels(runs)
    for axis, title, distribution in panels:
        for name, run in zip(names, runs, strict=True):
            levels = [lv for lv in run.levels if distribution(lv) is not None]
            streams = [lv.concurrency for lv in levels]
            for percentile, style in (("p50", "-"), ("p99", "--")):
                values = [getattr(distribution(lv), percentile) for lv in levels]
                axis.plot(streams, values, style, marker="o", label=f"{name} {percentile}")
        axis.set_title(title)
    throughput = axes[1][1]
    for name, run in zip(names, runs, strict=True):
        throughput.plot(
            [lv.concurrency for lv in run.levels],
            [lv.output_tokens_per_second for lv in run.levels],
            marker="o",
            label=name,
        )
        if run.slo_max_concurrency is not None:
            throughput.axvline(run.slo_max_concurrency, linestyle=":", color="grey")
    throughput.set_title(
        "output tokens per second" + (" (dotted: SLO's highest)" if any(r.slo for r in runs) else "")
    )
    for axis in (*(p[0] for p in panels), throughput):
        axis.set_xscale("log", base=2)
        axis.set_xlabel("concurrent streams")
        axis.grid(True, alpha=0.3)
        axis.legend(fontsize="small")
    return figure


def write_png(runs: Sequence[BenchRun], path: Path) -> None:
    figure = _figure(runs)
    figure.savefig(path, dpi=100)
    _pyplot().close(figure)


def svg_of(runs: Sequence[BenchRun]) -> str:
    figure = _figure(runs)
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg")
    _pyplot().close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def write_html(runs: Sequence[BenchRun], tables_text: str, title: str, path: Path) -> None:
    page = (
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;margin:2em}pre{background:#f6f6f6;padding:1em;overflow-x:auto}"
        "</style></head><body>"
        f"<h1>{html.escape(title)}</h1>\n{svg_of(runs)}\n<pre>{html.escape(tables_text)}</pre>\n</body></html>\n"
    )
    path.write_text(page)
