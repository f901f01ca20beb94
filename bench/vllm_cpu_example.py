"""The example run in docs/bench.md: `llmdeploy bench` against the real vLLM CPU server.

Not a GPU figure: vLLM's CPU build (`make vllm-env`) serving the tests' tiny random-weight Llama, started
with the prod stack's own `vllm serve` arguments (mapped for CPU by tests/fixtures/vllm_server.py, as the
real-vLLM tests do). It shows the shape `bench` reports: vLLM schedules at most --max-num-seqs sequences,
so beyond that streams queue, time to first token climbs and throughput levels off.

    .venv/bin/python bench/vllm_cpu_example.py [OUT_DIR]

writes bench.json, bench.txt, bench.md, bench.png and bench.html into OUT_DIR (default:
bench-results/vllm-cpu-tiny) and prints the markdown table. Run it on a quiet machine.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from llmdeploy.core.engines import VLLM  # noqa: E402
from tests.conftest import plan_of  # noqa: E402 - the repository's tests hold the real-vLLM fixture
from tests.fixtures.vllm_server import TEST_API_KEY, prod_command, start_real_vllm  # noqa: E402

SWEEP = "1,2,4,8,16,32,64"


def main() -> int:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "bench-results" / "vllm-cpu-tiny"
    plan = plan_of("prod")
    served_name = plan["outputs"]["model"]
    with tempfile.TemporaryDirectory(prefix="llmdeploy-vllm-bench-") as scratch:
        server = start_real_vllm(prod_command(plan), served_name, Path(scratch))
        try:
            print("vLLM argv:", " ".join(server.argv[2:]), file=sys.stderr)
            env = {**os.environ, "LLMDEPLOY_API_KEY": TEST_API_KEY}
            done = subprocess.run(
                [
                    sys.executable, "-m", "llmdeploy", "bench",
                    "--endpoint", server.endpoint, "--model", served_name, "--engine", "vllm",
                    "--image", f"vllm-cpu {VLLM.default_tag} (CPU build, tiny random-weight model)",
                    "--tokenizer", "bytes", "--concurrency", SWEEP,
                    "--max-requests", "64", "--max-seconds", "60",
                    "--prompt-tokens", "64", "--output-tokens", "32",
                    "--slo", "ttft_p99=2s,itl_p99=200ms",
                    "--label", "vllm-cpu-tiny", "--out", str(out),
                ],
                cwd=REPO, env=env, stdin=subprocess.DEVNULL, check=False,
            )  # fmt: skip
        finally:
            server.process.stop()
    if done.returncode not in (0, 1):
        return done.returncode
    print((out / "bench.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
