"""Benchmarks that print figures (never asserted): `make bench`.

- plan: wall time of `llmdeploy plan STACK --format json` as a user runs it
  (a new process each time), after one warm-up run so bytecode is cached.
  Target (issue 2): under 2 s per stack on the 2-core CI machine.
- check: the same for `llmdeploy check STACK --format json` (the plan's run plus
  the policy pack in its own process, driven over the Analyzer protocol).

- scale-out: the cold-start budget's modelled scale-out times (bench/scale_out.py).

The capacity planner's accuracy is a separate record: `python bench/capacity_accuracy.py`
rewrites bench/results/capacity_accuracy.md.
"""

from __future__ import annotations

import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RUNS = 5


def stacks() -> list[str]:
    return sorted(p.name.split(".")[1] for p in REPO.glob("Pulumi.*.yaml"))


def time_command(command_name: str, stack: str) -> list[float]:
    command = [sys.executable, "-m", "llmdeploy", command_name, stack, "--format", "json"]
    subprocess.run(command, cwd=REPO, check=True, capture_output=True)  # warm-up
    timings = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run(command, cwd=REPO, check=True, capture_output=True)
        timings.append(time.perf_counter() - start)
    return timings


def main() -> None:
    print(
        f"machine: {platform.machine()}, {platform.python_implementation()} {platform.python_version()}, "
        f"cpus={__import__('os').cpu_count()}"
    )
    for command_name in ("plan", "check"):
        print(f"\nllmdeploy {command_name} STACK --format json, {RUNS} runs after a warm-up (seconds)")
        print(f"{'stack':<10}{'median':>8}{'min':>8}{'max':>8}")
        for stack in stacks():
            timings = time_command(command_name, stack)
            print(f"{stack:<10}{statistics.median(timings):>8.2f}{min(timings):>8.2f}{max(timings):>8.2f}")
    print("\nmodelled scale-out (bench/scale_out.py)")
    subprocess.run([sys.executable, str(REPO / "bench" / "scale_out.py")], cwd=REPO, check=True)


if __name__ == "__main__":
    main()
