"""Shared helpers: run this repo's program (or a test program) offline, as `llmdeploy plan` does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from xdist.scheduler import LoadScopeScheduling

from llmdeploy.cli.mockrun import ProgramRun, run_program
from llmdeploy.cli.plan import plan_document
from tests.fixtures.llama_server import llama_server
from tests.fixtures.vllm_server import real_vllm
from tests.support import REPO

# The servers every test session shares, registered here once: a session fixture imported into
# several modules is one fixture per module to pytest, and starts once per module.
__all__ = ["llama_server", "real_vllm"]

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


# ---------------------------------------------------------------------------
# Tiers: every test is exactly one of unit, integration, e2e (`pytest -m unit` runs one tier).
# A test may name its tier with a marker; otherwise its tier follows from what it uses:
#   e2e          runs the real `llmdeploy` command in its own process (llmdeploy_cli);
#   integration  starts a server or another process (a server fixture, subprocess, the policy pack);
#   unit         everything else: pure functions and in-process runs under the mock monitor.
TIERS = ("unit", "integration", "e2e")
E2E_NAMES = frozenset({"llmdeploy_cli"})
INTEGRATION_NAMES = frozenset({"subprocess", "ServerProcess", "PolicyPackProcess", "check_program_run"})
# Fixtures that start a server or a process (the fixtures that use them are covered, since pytest
# lists a test's fixture closure).
SERVER_FIXTURES = frozenset(
    {"moto_server", "llama_server", "pack", "service_quotas_server", "instance_refresh_server"}
)
# Modules whose tests start the policy pack through `main(["check", ...])`, which no name shows.
INTEGRATION_MODULES = frozenset({"tests/policies/test_check_command.py"})


def _code_objects(code: types.CodeType) -> Iterator[types.CodeType]:
    yield code
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            yield from _code_objects(constant)


def _names_used(function: Callable[..., Any], seen: set[int] | None = None) -> set[str]:
    """Global names `function` uses, followed through the tests' own helper functions."""
    seen = set() if seen is None else seen
    function = getattr(function, "__wrapped__", function)
    code = getattr(function, "__code__", None)
    if code is None or id(code) in seen:
        return set()
    seen.add(id(code))
    names: set[str] = set()
    for inner in _code_objects(code):
        names.update(inner.co_names)
    found = set(names)
    module_globals = getattr(function, "__globals__", {})
    for name in names:
        helper = module_globals.get(name)
        if callable(helper) and str(getattr(helper, "__module__", "")).startswith("tests"):
            found |= _names_used(helper, seen)
    return found


def tier_of(item: pytest.Item) -> str:
    """The one tier of a collected test (see TIERS)."""
    marked = [mark.name for mark in item.iter_markers() if mark.name in TIERS]
    if marked:
        if len(set(marked)) > 1:
            raise pytest.UsageError(f"{item.nodeid}: marked {sorted(set(marked))}; accepted: one of {TIERS}")
        return marked[0]
    names: set[str] = set()
    function = getattr(item, "function", None)
    if function is not None:
        names |= _names_used(function)
    fixture_info = getattr(item, "_fixtureinfo", None)
    for definitions in getattr(fixture_info, "name2fixturedefs", {}).values():
        for definition in definitions:
            names |= _names_used(definition.func)
    if names & E2E_NAMES:
        return "e2e"
    module = Path(str(item.path)).relative_to(REPO).as_posix()
    fixtures = set(getattr(item, "fixturenames", ()))
    if names & INTEGRATION_NAMES or fixtures & SERVER_FIXTURES or module in INTEGRATION_MODULES:
        return "integration"
    return "unit"


# The modules whose tests use the one real vLLM (the session fixture `real_vllm`): one xdist work
# unit, so one worker starts one server. A test marked `stops_real_vllm` (the drain test) is moved
# to the end of the collection, so it runs after every other test of that server, whatever the
# order of the files or arguments.
REAL_VLLM_MODULES = (
    "tests/bench/test_bench_vllm.py",
    "tests/integration/test_collector_scrape.py",
    "tests/integration/test_parity_live.py",
    "tests/integration/test_real_vllm.py",
)
REAL_VLLM_WORK_UNIT = "real-vllm"


def work_unit_of(nodeid: str) -> str:
    """What `-n N --dist loadscope` sends to one worker: a test's module (so a module's fixtures start
    once; xdist's own loadscope would split a module's test classes), or the real-vLLM unit."""
    module = nodeid.split("::", 1)[0]
    return REAL_VLLM_WORK_UNIT if module in REAL_VLLM_MODULES else module


class ModuleScheduling(LoadScopeScheduling):
    # xdist's --dist loadgroup would do this with marks, but it renames `item._nodeid`, which
    # pytest 9 no longer reads: the groups are silently ignored.
    def _split_scope(self, nodeid: str) -> str:
        return work_unit_of(nodeid)


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> LoadScopeScheduling | None:
    return ModuleScheduling(config, log) if config.getvalue("dist") == "loadscope" else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Stable: everything else keeps its order (the workers' collections stay identical for xdist).
    items.sort(key=lambda item: item.get_closest_marker("stops_real_vllm") is not None)
    for item in items:
        item.add_marker(tier_of(item))
        module = item.nodeid.split("::", 1)[0]
        if "real_vllm" in getattr(item, "fixturenames", ()) and module not in REAL_VLLM_MODULES:
            raise pytest.UsageError(
                f"{item.nodeid} uses the real_vllm fixture: add {module} to REAL_VLLM_MODULES "
                "(tests/conftest.py) so one worker runs every test of that one server"
            )
