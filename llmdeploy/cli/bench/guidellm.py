"""Drive GuideLLM: find it, run one sweep as a child process, read its report back.

GuideLLM lives in its own virtualenv (`make bench-venv`, pinned in bench/guidellm-requirements.txt):
it pins click and pulls torch and transformers, which must not move the versions llmdeploy pins.
So it runs as a process, with the scenario in a file and the API key in its environment only.

Progress: on a terminal GuideLLM draws its own progress bars; otherwise its log lines are read and
one line per level is printed as each level completes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from llmdeploy.cli.ops.aws import OpsError
from llmdeploy.core.bench.byte_tokenizer import NAME as BYTE_TOKENIZER
from llmdeploy.core.bench.byte_tokenizer import byte_tokenizer_files
from llmdeploy.core.bench.errors import BenchInputError
from llmdeploy.core.bench.guidellm_report import levels_from_report
from llmdeploy.core.bench.result import LevelResult
from llmdeploy.core.bench.scenario import API_KEY_ENV, WORKERS_ENV, guidellm_scenario
from llmdeploy.core.bench.sweep import SweepSettings

GUIDELLM_ENV = "LLMDEPLOY_GUIDELLM"
# Where `make bench-venv` puts it: beside the checkout llmdeploy runs from.
CHECKOUT_VENV = Path(__file__).resolve().parents[3] / ".venv-bench" / "bin" / "guidellm"
# "Benchmark 2 (concurrent@4): completed | elapsed=35.1s | successful=20 errored=0 incomplete=0 | ..."
LEVEL_DONE = re.compile(
    r"Benchmark (?P<index>\d+) \(concurrent@(?P<streams>\d+)\): completed \| elapsed=(?P<elapsed>[\d.]+)s \| "
    r"successful=(?P<ok>\d+) errored=(?P<errors>\d+).*output_tokens/s=(?P<tps>[\d.]+)"
)


def find_guidellm(explicit: str | None) -> Path:
    """--guidellm, else $LLMDEPLOY_GUIDELLM, else `guidellm` on PATH, else the checkout's .venv-bench."""
    candidates = [
        ("--guidellm", explicit),
        (f"${GUIDELLM_ENV}", os.environ.get(GUIDELLM_ENV)),
        ("PATH", shutil.which("guidellm")),
        ("make bench-venv", str(CHECKOUT_VENV) if CHECKOUT_VENV.is_file() else None),
    ]
    for source, value in candidates:
        if value:
            path = Path(value)
            if not (path.is_file() and os.access(path, os.X_OK)):
                raise OpsError(f"{source}: found {value!r}; accepted: the path of the guidellm executable")
            return path
    raise OpsError(
        "GuideLLM not found: no --guidellm, no $LLMDEPLOY_GUIDELLM, no guidellm on PATH, no .venv-bench",
        "run `make bench-venv` (GuideLLM in its own virtualenv), or pass --guidellm PATH",
    )


def write_byte_tokenizer(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, document in byte_tokenizer_files().items():
        (directory / name).write_text(json.dumps(document))
    return directory


@dataclass(frozen=True)
class GuideLLMRun:
    version: str
    levels: list[LevelResult]


def run_guidellm(
    executable: Path,
    *,
    endpoint: str,
    model: str,
    api_key: str | None,
    settings: SweepSettings,
    tokenizer: str,
    request_timeout_seconds: float,
    workers: int | None,
    interactive: bool,
    on_level: Callable[[str], None],
) -> GuideLLMRun:
    with tempfile.TemporaryDirectory(prefix="llmdeploy-bench-") as scratch:
        work = Path(scratch)
        if tokenizer == BYTE_TOKENIZER:
            tokenizer = str(write_byte_tokenizer(work / "byte-tokenizer"))
        report = work / "guidellm-report.json"
        scenario = work / "scenario.json"
        scenario.write_text(
            json.dumps(
                guidellm_scenario(
                    endpoint=endpoint,
                    model=model,
                    settings=settings,
                    tokenizer=tokenizer,
                    report_path=str(report),
                    request_timeout_seconds=request_timeout_seconds,
                )
            )
        )
        environment = {key: value for key, value in os.environ.items() if not key.startswith("GUIDELLM__")}
        if api_key:
            environment[API_KEY_ENV] = api_key
        if workers is not None:
            environment[WORKERS_ENV] = str(workers)
        command = [str(executable), "run", "--scenario", str(scenario)]
        log_tail = _run(command, work, environment, interactive, on_level)
        if not report.is_file():
            raise OpsError(
                f"GuideLLM wrote no report ({' '.join(command[:2])} failed): {log_tail}",
                "run again with --debug to see GuideLLM's whole output",
            )
        try:
            version, levels = levels_from_report(json.loads(report.read_text()))
        except (json.JSONDecodeError, BenchInputError) as error:
            raise OpsError(f"GuideLLM's report: {error}") from None
    return GuideLLMRun(version=version, levels=levels)


def _run(
    command: list[str],
    cwd: Path,
    environment: dict[str, str],
    interactive: bool,
    on_level: Callable[[str], None],
) -> str:
    """Run GuideLLM; the last lines it said (for an error message), its progress shown as it goes."""
    if interactive:
        finished = subprocess.run(command, cwd=cwd, env=environment, stdin=subprocess.DEVNULL, check=False)
        return f"exit {finished.returncode}"
    command = [*command, "--disable-console"]
    tail: list[str] = []
    with subprocess.Popen(
        command,
        cwd=cwd,
        env=environment,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
    ) as process:
        assert process.stderr is not None
        for line in process.stderr:
            if os.environ.get("LLMDEPLOY_BENCH_DEBUG"):
                sys.stderr.write(line)
            tail = [*tail[-19:], line.rstrip()]
            if match := LEVEL_DONE.search(line):
                on_level(
                    f"level {match['index']}: {match['streams']} streams done in "
                    f"{float(match['elapsed']):.1f} s, "
                    f"{match['ok']} ok, {match['errors']} errors, {float(match['tps']):.1f} output tokens/s"
                )
        code = process.wait()
    said = [line for line in tail if line.strip()]
    return f"exit {code}: {said[-1].strip() if said else 'no message'}"
