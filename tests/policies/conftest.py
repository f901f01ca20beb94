"""The policy pack's tests: one pack process per test module, started as the Pulumi CLI starts it."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmdeploy.cli.check import PolicyPackProcess

REPO = Path(__file__).resolve().parents[2]
PACK_DIR = REPO / "policies"

# The pack's modules import the way the language host imports them: with the pack directory first on
# sys.path (runpy.run_path of the directory). The parser tests import them the same way.
if str(PACK_DIR) not in sys.path:
    sys.path.insert(0, str(PACK_DIR))


@pytest.fixture(scope="module")
def pack() -> Iterator[PolicyPackProcess]:
    with PolicyPackProcess(PACK_DIR, project="policy-tests", stack="test") as running:
        yield running
