"""Running the minimal test programs in tests/policies/programs through the pack."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import yaml

from llmdeploy.cli.check import CheckResult, PolicyPackProcess, PolicySetting
from llmdeploy.cli.mockrun import run_program

PROGRAMS = Path(__file__).parent / "programs"
# A made-up token in Hugging Face's shape: it must never come out of a check.
CANARY = "hf_" + "CanaryToken" * 3 + "x7"
ALL_MANDATORY = {"all": PolicySetting("mandatory")}


def program_dir(case: str, variant: str) -> Path:
    return PROGRAMS / case / variant


def project_name(directory: Path) -> str:
    return str(yaml.safe_load((directory / "Pulumi.yaml").read_text())["name"])


def check(
    pack: PolicyPackProcess,
    case: str,
    variant: str,
    config: Mapping[str, PolicySetting] = ALL_MANDATORY,
) -> CheckResult:
    """Run programs/<case>/<variant> offline (the canary as its secret `hfToken`) and check it."""
    directory = program_dir(case, variant)
    key = f"{project_name(directory)}:hfToken"
    run = run_program(directory, "test", config={key: CANARY}, secret_keys=[key])
    return pack.check(run, config, "test config")


def names(result: CheckResult, policy: str) -> list[str]:
    """The resource names (last URN segment) a policy reports, one entry per violation."""
    return sorted(v.urn.rsplit("::", 1)[-1] for v in result.violations if v.policy == policy)


def messages(result: CheckResult, policy: str) -> str:
    return "\n".join(f"{v.urn}: {v.message}" for v in result.violations if v.policy == policy) or "(none)"
