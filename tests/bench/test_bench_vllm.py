"""`llmdeploy bench` against the real vLLM server (CPU build, tiny model), started from the prod plan.

The session fixture `real_vllm` (tests/fixtures/vllm_server.py) is the one server every real-vLLM test
shares. vLLM schedules at most
--max-num-seqs sequences at once (4 in the CPU test server): 16 and 64 streams queue, so time to
first token grows with concurrency while throughput levels off.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from llmdeploy.core.bench.result import load_run
from tests.bench.conftest import bench_cli, explain
from tests.fixtures.vllm_server import TEST_API_KEY, RealVllm

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_bench_real_vllm_shows_queueing(real_vllm: RealVllm, tmp_path: Path) -> None:
    done = bench_cli(
        "--endpoint",
        real_vllm.endpoint,
        "--model",
        real_vllm.served_name,
        "--engine",
        "vllm",
        "--tokenizer",
        "bytes",
        "--concurrency",
        "1,16,64",
        "--max-requests",
        "64",
        "--max-seconds",
        "90",
        "--prompt-tokens",
        "64",
        "--output-tokens",
        "16",
        "--slo",
        "ttft_p99=60s",
        "--out",
        str(tmp_path),
        api_key=TEST_API_KEY,
    )
    assert done.returncode == 0, explain(done)
    run = load_run((tmp_path / "bench.json").read_text(), "bench.json")
    one, sixteen, sixty_four = run.levels
    for level in run.levels:
        assert level.requests_completed > 0 and level.error_rate == 0, level
    assert one.ttft_ms is not None and sixteen.ttft_ms is not None and sixty_four.ttft_ms is not None
    # Queueing behind --max-num-seqs: the median stream waits longer for its first token.
    assert sixteen.ttft_ms.p50 > 2 * one.ttft_ms.p50
    assert sixty_four.ttft_ms.p50 > sixteen.ttft_ms.p50
    assert sixteen.output_tokens_per_second > one.output_tokens_per_second
    assert TEST_API_KEY not in done.stdout + done.stderr
