"""Hostile programs through the real commands: whatever a program does, llmdeploy decides.

Each program in tests/programs/hostile registers a vLLM container that violates
policies (the canary token in its plain environment) and then misbehaves. They
run through `python -m llmdeploy check/plan --program DIR` in a new process, with
canary secrets in HF_TOKEN and LLMDEPLOY_API_KEY, as a user would run them.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import REPO

HOSTILE = REPO / "tests" / "programs" / "hostile"
TOKEN = "hf_" + "HostileCanary" * 3
API_KEY = "sk-hostile-canary-" + "9" * 12
VIOLATION_URN = "docker:index/container:Container::vllm"


def llmdeploy(*args: str, cwd: Path) -> tuple[int, str, str, float]:
    env = {**os.environ, "HF_TOKEN": TOKEN, "LLMDEPLOY_API_KEY": API_KEY}
    start = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "llmdeploy", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    return result.returncode, result.stdout, result.stderr, time.monotonic() - start


def assert_no_canary(out: str, err: str, directory: Path) -> None:
    for secret in (TOKEN, API_KEY):
        assert secret not in out and secret not in err, f"a canary secret leaked: {out}\n{err}"
        for path in directory.rglob("*"):
            if path.is_file():
                assert secret not in path.read_text(errors="replace"), f"a canary secret leaked into {path}"


def check(case: str, tmp_path: Path, *extra: str) -> tuple[int, str, str, float]:
    code, out, err, seconds = llmdeploy(
        "check", "hostile", "--program", str(HOSTILE / case), "--format", "json", *extra, cwd=tmp_path
    )
    assert_no_canary(out, err, tmp_path)
    return code, out, err, seconds


def violated(out: str) -> set[str]:
    """The policies the JSON report names for the vLLM container (the report must be pure JSON)."""
    return {v["policy"] for v in json.loads(out) if v["urn"].endswith(VIOLATION_URN)}


@pytest.mark.parametrize(
    ("case", "ending"),
    [
        ("exit_zero", "the program exited with code 0 before it finished"),
        ("os_exit_zero", "the program exited with code 0 before it finished"),
        ("exit_nonzero", "the program exited with code 3 before it finished"),
        ("raises", "RuntimeError: boom [secret]"),
        ("patches_checker", "the program exited with code 0 before it finished"),
    ],
)
def test_an_early_ending_still_gets_its_violations_reported(case: str, ending: str, tmp_path: Path) -> None:
    code, out, err, _ = check(case, tmp_path)
    assert code == 1, err
    assert {"vllm-ipc-host", "hf-token-secret"} <= violated(out), out
    line = f"error: the program failed to run to its end: {ending} (1 resources registered before it ended)"
    assert line in err.splitlines(), err


def test_the_program_cannot_patch_the_checker(tmp_path: Path) -> None:
    """It imports llmdeploy's checker and recorder and patches them, and prints `[]`: in its own process."""
    code, out, err, _ = check("patches_checker", tmp_path)
    assert code == 1 and out.strip() != "[]"
    assert "program: []" in err.splitlines()


def test_prints_go_to_the_log_masked_never_into_the_output(tmp_path: Path) -> None:
    code, out, err, _ = check("prints", tmp_path)
    assert code == 1, err
    assert "vllm-ipc-host" in violated(out)
    assert "program: token=[secret] key [secret]" in err.splitlines()
    assert "warning: the token is [secret]" in err.splitlines()

    code, out, err, _ = llmdeploy(
        "plan", "hostile", "--program", str(HOSTILE / "prints"), "--format", "json", cwd=tmp_path
    )
    assert_no_canary(out, err, tmp_path)
    assert code == 0, err
    plan = json.loads(out)
    assert [r["name"] for r in plan["resources"]] == ["vllm"]
    assert plan["outputs"] == {"hint": "key [secret]"}


def test_a_forked_child_does_not_hold_the_command(tmp_path: Path) -> None:
    code, out, err, seconds = check("forks", tmp_path)
    assert code == 1, err
    assert "vllm-ipc-host" in violated(out)
    assert seconds < 60, f"check waited {seconds:.0f} s for a child that sleeps 120 s"
    pids = [int(m) for m in re.findall(r"^program: forked child pid (\d+)$", err, re.M)]
    assert len(pids) == 1, err
    (pid,) = pids
    status = Path(f"/proc/{pid}/status")
    state = status.read_text() if status.exists() else "State:\tgone"
    assert re.search(r"^State:\s+[ZX]|gone", state, re.M), f"the forked child {pid} outlived the check"


@pytest.mark.parametrize("case", ["never_ends", "hangs_after_registering"])
def test_a_program_that_never_ends_is_stopped_at_the_limit(case: str, tmp_path: Path) -> None:
    code, out, err, seconds = check(case, tmp_path, "--timeout", "6")
    assert code == 2
    assert out == ""
    line = "error: the program did not finish within 6 s (--timeout); it was stopped with every process it started"
    assert line in err.splitlines(), err
    assert seconds < 60


def test_plan_of_a_program_that_never_ends_is_one_line(tmp_path: Path) -> None:
    code, out, err, _ = llmdeploy(
        "plan", "hostile", "--program", str(HOSTILE / "never_ends"), "--timeout", "5", cwd=tmp_path
    )
    assert_no_canary(out, err, tmp_path)
    assert (code, out) == (2, "")
    assert err.splitlines()[-1].startswith("error: the program did not finish within 5 s (--timeout)")


def test_plan_shows_what_an_early_exit_registered(tmp_path: Path) -> None:
    code, out, err, _ = llmdeploy(
        "plan", "hostile", "--program", str(HOSTILE / "exit_zero"), "--format", "json", cwd=tmp_path
    )
    assert_no_canary(out, err, tmp_path)
    assert code == 2
    assert [r["name"] for r in json.loads(out)["resources"]] == ["vllm"]
    assert err.splitlines()[-1].startswith("error: the program failed to run to its end")


def test_timeout_must_be_positive(tmp_path: Path) -> None:
    code, out, err, _ = llmdeploy(
        "plan", "hostile", "--program", str(HOSTILE / "prints"), "--timeout", "0", cwd=tmp_path
    )
    assert (code, out, err) == (2, "", "error: --timeout: found 0; accepted: seconds above 0\n")
