"""`make bench` writes the README's performance table, with the date and the machine."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

from tests.support import REPO


def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_run", REPO / "bench" / "run.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_block_is_rewritten_between_its_markers_only(tmp_path: Path) -> None:
    run = bench()
    readme = tmp_path / "README.md"
    readme.write_text("before\n<!-- bench -->\nold figures\n<!-- /bench -->\nafter\n")
    block = run.render_table({"dev": {"plan": 0.8, "check": 1.2}}, 0.04, "2026-12-02", "a 2-core box")
    run.write_readme(block, readme)
    text = readme.read_text()
    assert text.startswith("before\n<!-- bench -->\nMeasured by `make bench` on a 2-core box, 2026-12-02")
    assert "| dev | 0.80 s | 1.20 s |" in text and "`llmdeploy --help`: 0.04 s." in text
    assert text.endswith("<!-- /bench -->\nafter\n") and "old figures" not in text


def test_a_readme_without_the_markers_is_refused(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("no table here\n")
    with pytest.raises(SystemExit, match="bench"):
        bench().write_readme("x", readme)


def test_the_readme_table_came_from_make_bench() -> None:
    text = (REPO / "README.md").read_text()
    block = text.split("<!-- bench -->", 1)[1].split("<!-- /bench -->", 1)[0]
    assert re.search(r"Measured by `make bench` on .+ cores.+, \d{4}-\d\d-\d\d, median of", block), block
    for stack in ("dev", "staging", "prod"):
        assert re.search(rf"^\| {stack} \| [\d.]+ s \| [\d.]+ s \|$", block, re.MULTILINE), stack


def test_the_readme_and_docs_show_the_recorded_vllm_run() -> None:
    """The table in the README and docs/bench.md is the one the recorded run renders (real vLLM, CPU build)."""
    from llmdeploy.core.bench.render import level_row, markdown_row
    from llmdeploy.core.bench.result import load_run

    recorded = REPO / "docs" / "bench" / "vllm-cpu-tiny.json"
    run = load_run(recorded.read_text(), str(recorded))
    assert run.target.engine == "vllm" and "CPU build" in (run.target.image or "")
    assert run.load_generator.name.lower() == "guidellm"
    assert [level.concurrency for level in run.levels] == [1, 2, 4, 8, 16, 32, 64]
    rows = [markdown_row(level_row(level)) for level in run.levels]
    for document in (REPO / "README.md", REPO / "docs" / "bench.md"):
        text = document.read_text()
        assert all(row in text for row in rows), document
        assert "docs/bench/vllm-cpu-tiny.png" in text or "bench/vllm-cpu-tiny.png" in text
    assert (REPO / "docs" / "bench" / "vllm-cpu-tiny.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
