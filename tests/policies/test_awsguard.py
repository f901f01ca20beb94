"""Pulumi's AWSGuard (npm @pulumi/awsguard, pinned in policies/awsguard) beside our pack, offline.

The Node.js pack is started as the Pulumi CLI starts one and driven over the Analyzer protocol by
`llmdeploy check`. `make test` runs `npm ci` there first (`make awsguard`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmdeploy import cli
from llmdeploy.cli.check import CONFIGURED_STACKS, PolicyPackProcess, read_policy_config, stack_policy_config
from llmdeploy.cli.mockrun import run_program
from tests.policies.conftest import PACK_DIR, REPO
from tests.policies.helpers import ALL_MANDATORY, CANARY, PROGRAMS

AWSGUARD_DIR = PACK_DIR / "awsguard"

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def awsguard() -> Iterator[PolicyPackProcess]:
    assert (AWSGUARD_DIR / "node_modules").is_dir(), "AWSGuard is not installed: run `make awsguard`"
    with PolicyPackProcess(AWSGUARD_DIR, project="llmdeploy", stack="test") as running:
        yield running


def test_it_is_awsguard_pinned(awsguard: PolicyPackProcess) -> None:
    assert awsguard.info.name == "pulumi-awsguard"
    lock = json.loads((AWSGUARD_DIR / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/@pulumi/awsguard"]["version"] == "0.3.1"
    names = {policy.name for policy in awsguard.info.policies}
    assert {"ec2-instance-detailed-monitoring-enabled", "elb-logging-enabled", "encrypted-volumes"} <= names


@pytest.mark.parametrize("stack", CONFIGURED_STACKS)
def test_every_exception_is_written_down_with_its_reason(stack: str) -> None:
    config = read_policy_config(AWSGUARD_DIR / "config" / f"{stack}.json")
    for name, setting in config.items():
        if setting.level != "mandatory":
            assert setting.reason and len(setting.reason) > 60, (
                f"{stack}: {name} is an exception without a reason"
            )


@pytest.mark.parametrize("stack", CONFIGURED_STACKS)
def test_the_stacks_pass_awsguard_except_the_written_down_exceptions(
    awsguard: PolicyPackProcess, stack: str
) -> None:
    run = run_program(REPO, stack)
    config, source = stack_policy_config(AWSGUARD_DIR, stack)
    result = awsguard.check(run, config, source)
    assert result.mandatory == [], "\n".join(f"{v.policy} {v.urn}: {v.message}" for v in result.mandatory)
    for violation in result.violations:
        assert violation.policy in result.reasons, f"{violation.policy} reported with no written reason"


def test_awsguard_sees_what_it_checks(awsguard: PolicyPackProcess) -> None:
    """Not a pass for want of looking: a GPU instance without detailed monitoring is reported."""
    run = run_program(
        PROGRAMS / "corpus",
        "corpus",
        config={"corpus:variant": "v_gpu_instance_basic_monitoring", "corpus:hfToken": CANARY},
        secret_keys=["corpus:hfToken"],
    )
    result = awsguard.check(run, ALL_MANDATORY, "every policy mandatory")
    reported = {(v.policy, v.urn.rsplit("::", 1)[-1]) for v in result.violations}
    assert ("ec2-instance-detailed-monitoring-enabled", "vllm") in reported, reported


def test_check_runs_both_packs_on_prod(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(
        [
            "check",
            "prod",
            "--program",
            str(REPO),
            "--policy-pack",
            str(PACK_DIR),
            "--policy-pack",
            str(AWSGUARD_DIR),
            "--format",
            "json",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    items = json.loads(captured.out)
    # Ours reports only that the example pins no model revision (an advisory policy: the example cannot
    # name a commit for you); AWSGuard only its written-down exceptions.
    ours = {item["policy"] for item in items if item["pack"] == "llm-serving"}
    assert ours == {"model-revision-pinned"}, items
    assert {item["pack"] for item in items} == {"llm-serving", "pulumi-awsguard"}, items
    assert all(item["level"] == "advisory" for item in items), items


def test_a_node_pack_without_its_modules_is_one_clear_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "PulumiPolicy.yaml").write_text("runtime: nodejs\n")
    (tmp_path / "config.json").write_text("{}")
    code = cli.main(
        [
            "check",
            "dev",
            "--program",
            str(REPO),
            "--policy-pack",
            str(tmp_path),
            "--policy-config",
            str(tmp_path / "config.json"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip() == (
        f"error: {tmp_path}: a Node.js pack without node_modules/@pulumi/pulumi/cmd/run-policy-pack: run "
        f"`npm ci` in {tmp_path} first"
    ), err
