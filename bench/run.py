"""Benchmarks that print figures (never asserted): `make bench`.

- plan: wall time of `llmdeploy plan STACK --format json` as a user runs it
  (a new process each time), after one warm-up run so bytecode is cached.
  Target (issue 2): under 2 s per stack on the 2-core CI machine.
- check: the same for `llmdeploy check STACK --format json` (the plan's run plus
  the policy pack in its own process, driven over the Analyzer protocol).

- scale-out: the cold-start budget's modelled scale-out times (bench/scale_out.py).
- help: `llmdeploy --help` (target: under 0.3 s; it imports no command module).

`make bench` prints the figures and rewrites the README's table between `<!-- bench -->` and
`<!-- /bench -->`, with the date and the machine: run it on a quiet machine and commit the table.

The capacity planner's accuracy is a separate record: `python bench/capacity_accuracy.py`
rewrites bench/results/capacity_accuracy.md.
"""

from __future__ import annotations

import datetime
import os
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


def time_command(command: list[str]) -> list[float]:
    full = [sys.executable, "-m", "llmdeploy", *command]
    subprocess.run(full, cwd=REPO, check=True, capture_output=True)  # warm-up
    timings = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run(full, cwd=REPO, check=True, capture_output=True)
        timings.append(time.perf_counter() - start)
    return timings


def machine() -> str:
    """The CPU model, cores, memory and Python, as far as this platform says."""
    cpu = platform.processor() or platform.machine()
    memory = ""
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        cpu = next(
            line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")
        )
        kib = int(
            next(
                line.split()[1]
                for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal")
            )
        )
        memory = f", {kib / 1024**2:.0f} GiB"
    except (OSError, StopIteration, ValueError):
        pass
    python = f"{platform.python_implementation()} {platform.python_version()}"
    return f"{cpu}, {os.cpu_count()} cores{memory}, {python}"


def render_table(medians: dict[str, dict[str, float]], help_seconds: float, when: str, where: str) -> str:
    """The README's block: the figures, with the date and the machine they were measured on."""
    rows = [
        f"Measured by `make bench` on {where}, {when}, median of {RUNS} runs after a warm-up:",
        "",
        "| Stack | `plan` | `check` (plan + policy pack over the Analyzer protocol) |",
        "| --- | --- | --- |",
    ]
    rows += [f"| {stack} | {m['plan']:.2f} s | {m['check']:.2f} s |" for stack, m in medians.items()]
    rows += ["", f"`llmdeploy --help`: {help_seconds:.2f} s."]
    return "\n".join(rows)


def write_readme(block: str, readme: Path = REPO / "README.md") -> None:
    text = readme.read_text()
    start, end = "<!-- bench -->", "<!-- /bench -->"
    if text.count(start) != 1 or text.count(end) != 1:
        raise SystemExit(f"{readme.name}: found no single {start} ... {end} pair; accepted: exactly one")
    head, rest = text.split(start)
    readme.write_text(f"{head}{start}\n{block}\n{end}{rest.split(end, 1)[1]}")


def main() -> None:
    # Other work on the machine slows every figure: the table says how busy it was.
    where = f"{machine()}, load average {os.getloadavg()[0]:.1f} at the start"
    print(f"machine: {where}")
    medians: dict[str, dict[str, float]] = {stack: {} for stack in stacks()}
    for command_name in ("plan", "check"):
        print(f"\nllmdeploy {command_name} STACK --format json, {RUNS} runs after a warm-up (seconds)")
        print(f"{'stack':<10}{'median':>8}{'min':>8}{'max':>8}")
        for stack in stacks():
            timings = time_command([command_name, stack, "--format", "json"])
            medians[stack][command_name] = statistics.median(timings)
            print(f"{stack:<10}{statistics.median(timings):>8.2f}{min(timings):>8.2f}{max(timings):>8.2f}")
    print("\nmodelled scale-out (bench/scale_out.py)")
    subprocess.run([sys.executable, str(REPO / "bench" / "scale_out.py")], cwd=REPO, check=True)
    help_seconds = statistics.median(time_command(["--help"]))
    print(f"\nllmdeploy --help: {help_seconds:.3f} s (median)")
    block = render_table(medians, help_seconds, datetime.date.today().isoformat(), where)
    write_readme(block)
    print("\nREADME.md's performance table rewritten (commit it when measured on a quiet machine)")


if __name__ == "__main__":
    main()
