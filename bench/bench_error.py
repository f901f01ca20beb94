"""`llmdeploy bench`'s own error, measured on the known-latency server (printed, never asserted).

The server (tests/fixtures/known_latency_server.py) sends the first token TTFT_MS after each
request and one token every ITL_MS, by timers. Whatever bench reports beyond that is the tool's
added error: GuideLLM's scheduling, its HTTP client, the loopback. The figure is what one load
generating process sustains on one core: GuideLLM's request worker (`--workers 1`, the one process
that holds the connections, sends the requests and timestamps the tokens) runs alone on CPU 0.
GuideLLM's coordinator (which aggregates results) and its data loader (which renders prompts) run
on CPU 1 with the server, which, being timers, needs little of it. Pinning every GuideLLM process to
one core measures instead how much of that core the coordinator takes from the worker (about 40 %
here at 64 streams).

Prints, per concurrency level: median TTFT measured and the added error, in ms and as a share of
the known TTFT; the same for ITL; the added error at 64 streams (target: under 5 ms), and the
highest level whose added TTFT error stays under 10 % while the generator keeps that many streams busy
(output tokens/s within 10 % of the ideal). Also an independent asyncio client's
median TTFT at 64 streams (tests/fixtures/stream_client.py), for comparison.
Writes the same table to bench/results/bench_error.txt.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.fixtures.servers import free_port  # noqa: E402
from tests.fixtures.stream_client import measure  # noqa: E402

TTFT_MS = 100.0
ITL_MS = 10.0
OUTPUT_TOKENS = 16
LEVELS = (1, 16, 64, 128, 256, 512)
SECONDS_PER_LEVEL = 20
TARGET_ADDED_MS_AT_64 = 5.0
GROWTH_LIMIT = 0.10


GENERATOR_CPU = 0
OTHERS_CPU = 1


def pinned(cpu: int) -> list[str]:
    return (
        ["taskset", "-c", str(cpu)]
        if os.path.exists("/usr/bin/taskset") and (os.cpu_count() or 1) > 1
        else []
    )


def load_generator(bench: psutil.Process, server_port: int) -> psutil.Process | None:
    """The process under `bench` that holds the most connections to the server: GuideLLM's worker."""
    best, most = None, 0
    for child in bench.children(recursive=True):
        try:
            held = sum(
                1
                for connection in child.net_connections(kind="tcp")
                if connection.raddr and connection.raddr.port == server_port
            )
        except psutil.Error:
            continue
        if held > most:
            best, most = child, held
    return best


def pin_load_generators(bench: psutil.Process, server_port: int, pinned_pids: list[int]) -> None:
    """Move each level's load generator (GuideLLM starts a worker per level) to its own core once it
    holds connections; the first moments of a level run before that, which the median does not notice."""
    while bench.is_running():
        worker = load_generator(bench, server_port)
        if worker is not None and worker.pid not in pinned_pids:
            try:
                for thread in worker.threads():
                    os.sched_setaffinity(thread.id, {GENERATOR_CPU})
                pinned_pids.append(worker.pid)
            except (psutil.Error, OSError):
                pass
        time.sleep(0.05)


def main() -> None:
    port = free_port()
    server = subprocess.Popen(
        [*pinned(OTHERS_CPU), sys.executable, "-m", "tests.fixtures.known_latency_server",
         "--port", str(port), "--ttft-ms", str(TTFT_MS), "--itl-ms", str(ITL_MS)],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    endpoint = f"http://127.0.0.1:{port}/v1"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{endpoint}/models", timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        with tempfile.TemporaryDirectory() as out:
            command = [
                *pinned(OTHERS_CPU), sys.executable, "-m", "llmdeploy", "bench", "--endpoint", endpoint,
                "--model", "known-latency", "--tokenizer", "bytes", "--workers", "1",
                "--concurrency", ",".join(map(str, LEVELS)), "--max-requests", str(4 * max(LEVELS)),
                "--max-seconds", str(SECONDS_PER_LEVEL), "--prompt-tokens", "64",
                "--output-tokens", str(OUTPUT_TOKENS), "--out", out, "--format", "json",
            ]  # fmt: skip
            started = time.perf_counter()
            with tempfile.TemporaryFile("w+") as log:
                bench = subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, text=True)
                pinned_worker: list[int] = []
                if pinned(GENERATOR_CPU):
                    # The watcher scans every 50 ms: on the other core, never the generator's.
                    os.sched_setaffinity(0, {OTHERS_CPU})
                    watched = psutil.Process(bench.pid)
                    threading.Thread(
                        target=pin_load_generators, args=(watched, port, pinned_worker), daemon=True
                    ).start()
                returncode = bench.wait(timeout=1800)
                log.seek(0)
                if returncode != 0:
                    print(log.read())
                    raise SystemExit(returncode)
            wall = time.perf_counter() - started
            run = json.loads(Path(out, "bench.json").read_text())
        if pinned(GENERATOR_CPU):
            os.sched_setaffinity(0, {GENERATOR_CPU})  # the independent client on the generator's core too
        client = asyncio.run(measure(endpoint, "known-latency", 64, 256, "word " * 64, OUTPUT_TOKENS))
    finally:
        server.terminate()
        server.wait()

    lines = [
        f"machine: {platform.machine()}, cpus={os.cpu_count()}, load average {os.getloadavg()[0]:.1f}; "
        f"GuideLLM {run['load_generator']['version']}, its request worker alone on CPU {GENERATOR_CPU}"
        f" ({len(pinned_worker)} level workers pinned); its coordinator, data loader and the server "
        f"on CPU {OTHERS_CPU}",
        f"known-latency server: TTFT {TTFT_MS:g} ms, ITL {ITL_MS:g} ms, {OUTPUT_TOKENS} output tokens; "
        f"each level at most {SECONDS_PER_LEVEL} s; sweep wall time {wall:.0f} s",
        "",
        f"{'streams':>8}{'requests':>10}{'TTFT p50':>10}{'added':>8}{'added %':>9}{'ITL p50':>9}{'added':>8}"
        f"{'out tok/s':>11}{'ideal':>8}",
    ]
    sustained = None
    at_64 = None
    for level in run["levels"]:
        streams = level["concurrency"]
        ttft, itl = level["ttft_ms"]["p50"], level["itl_ms"]["p50"]
        added, share = ttft - TTFT_MS, (ttft - TTFT_MS) / TTFT_MS
        ideal = streams * OUTPUT_TOKENS / ((TTFT_MS + (OUTPUT_TOKENS - 1) * ITL_MS) / 1000)
        lines.append(
            f"{streams:>8}{level['requests_completed']:>10}{ttft:>10.1f}{added:>8.1f}{share:>9.1%}{itl:>9.2f}"
            f"{itl - ITL_MS:>8.2f}{level['output_tokens_per_second']:>11.0f}{ideal:>8.0f}"
        )
        if streams == 64:
            at_64 = added
        # Sustained: the added error stays under the limit and the load generator keeps the streams
        # it was asked for busy (a process that cannot keep up runs fewer at once, so its TTFT error
        # alone would flatter it).
        keeps_up = level["output_tokens_per_second"] >= (1 - GROWTH_LIMIT) * ideal
        if share < GROWTH_LIMIT and keeps_up and (sustained is None or sustained == previous(run, streams)):
            sustained = streams
    lines += [
        "",
        f"added median TTFT error at 64 streams: {at_64:.1f} ms (target: under {TARGET_ADDED_MS_AT_64:g} ms)"
        if at_64 is not None
        else "64 streams: not measured",
        f"highest concurrency with the added TTFT error under {GROWTH_LIMIT:.0%} and throughput within "
        f"{GROWTH_LIMIT:.0%} of the ideal: {sustained}",
        f"independent asyncio client, 64 streams: median TTFT {client.median_ttft_ms:.1f} ms "
        f"(added {client.median_ttft_ms - TTFT_MS:.1f} ms), "
        f"{client.output_tokens_per_second:.0f} output tokens/s",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    (REPO / "bench" / "results" / "bench_error.txt").write_text(text)


def previous(run: dict, streams: int) -> int | None:
    levels = [level["concurrency"] for level in run["levels"]]
    index = levels.index(streams)
    return levels[index - 1] if index else None


if __name__ == "__main__":
    main()
