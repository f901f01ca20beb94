"""Running the real command in its own process, and what every hostile-input test asserts."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import CANARY_TOKEN
from tests.support import REPO

# A second canary, the shape of an API key rather than an HF token (no masking pattern knows it).
CANARY_API_KEY = "sk-canary-7c1f0e9a2b4d6f8091a3c5e7"


@dataclass(frozen=True)
class Finished:
    code: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path = REPO, timeout: float = 90) -> Finished:
    """`python -m llmdeploy ARGS` as a user runs it; `env` adds to a scrubbed AWS environment."""
    base = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "HF_"))}
    base.update({"AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"})
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "llmdeploy", *args],
        cwd=cwd,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Finished(done.returncode, done.stdout, done.stderr, time.monotonic() - started)


def assert_refused(result: Finished, code: int, fragment: str, *, lines: int = 1) -> None:
    """Exit `code`, at most `lines` lines on stderr (the first an `error:` line holding `fragment`),
    no traceback, no canary anywhere."""
    shown = f"exit {result.code}\nstdout:\n{result.stdout[-2000:]}\nstderr:\n{result.stderr[-3000:]}"
    assert result.code == code, shown
    assert "Traceback" not in result.stderr + result.stdout, shown
    assert 1 <= len(result.error_lines) <= lines, shown
    assert result.error_lines[0].startswith("error: "), shown
    assert fragment in result.error_lines[0], shown
    assert_no_canary(result)


def assert_no_canary(result: Finished) -> None:
    for canary in (CANARY_TOKEN, CANARY_API_KEY):
        assert canary not in result.stdout + result.stderr, f"a canary secret was printed:\n{result.stderr}"
