"""Shared helpers: run this repo's program (or a test program) offline, as `llmdeploy plan` does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from llmdeploy.cli.mockrun import ProgramRun, run_program
from llmdeploy.cli.plan import plan_document
from tests.support import REPO

# Tests never reach the Hugging Face hub: model configs come from the bundled set, or from a
# loopback test double in the tests that set HF_ENDPOINT and lift this.
os.environ["HF_HUB_OFFLINE"] = "1"

# A token shaped like a real Hugging Face token. It must never show in plaintext anywhere.
CANARY_TOKEN = "hf_CANARYzq7Xv2Lm9Pw4Rt8Ys1Ku6Nb3Hj5Gd0"


def full_keys(config: dict[str, Any]) -> dict[str, str]:
    """`{"numParallel": 4}` -> `{"llmdeploy:numParallel": "4"}`, as the CLI hands config over."""
    out = {}
    for key, value in config.items():
        full = key if ":" in key else f"llmdeploy:{key}"
        if isinstance(value, str):
            out[full] = value
        elif isinstance(value, bool):
            out[full] = "true" if value else "false"
        else:
            out[full] = json.dumps(value)
    return out


def run_stack(
    stack: str, program: Path = REPO, secrets: dict[str, Any] | None = None, **config: Any
) -> ProgramRun:
    """Run `stack` offline with config overrides; `secrets` are passed as decrypted secret config."""
    values = full_keys(config)
    secret_values = full_keys(secrets or {})
    return run_program(program, stack, config={**values, **secret_values}, secret_keys=list(secret_values))


def plan_of(stack: str, program: Path = REPO, secrets: dict[str, Any] | None = None, **config: Any) -> dict:
    return plan_document(run_stack(stack, program, secrets, **config))


def resources_of(plan: dict, type_: str) -> list[dict]:
    return [r for r in plan["resources"] if r["type"] == type_]


def one_resource(plan: dict, type_: str) -> dict:
    found = resources_of(plan, type_)
    assert len(found) == 1, f"expected one {type_}, found {[r['urn'] for r in found]}"
    return found[0]


def llmdeploy_cli(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    """The real console command, in its own process, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "llmdeploy", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def canary() -> str:
    return CANARY_TOKEN
