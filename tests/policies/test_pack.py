"""The pack as a publishable unit: its policies, metadata, config files, pins and independence."""

from __future__ import annotations

import ast
import re
import tomllib

import pytest
import yaml
from google.protobuf import json_format
from pulumi.runtime.proto import analyzer_pb2

from llmdeploy.cli.check import CONFIGURED_STACKS, PolicyPackProcess, read_policy_config, reconcile_config
from tests.policies.conftest import PACK_DIR, REPO

REQUIRED_POLICIES = {
    "hf-token-secret",
    "vllm-ipc-host",
    "tgi-shm-size",
    "metrics-port-reachable",
    "pinned-image-tag",
    "imdsv2-required",
    "ebs-encrypted",
    "no-ssh-from-internet",
    "alb-https-only",
    "lb-idle-timeout-streaming",
    "asg-health-grace-period",
}


def test_pack_serves_every_required_policy_with_its_metadata(pack: PolicyPackProcess) -> None:
    info = pack.info
    assert info.name == "llm-serving"
    assert info.version == yaml.safe_load((PACK_DIR / "PulumiPolicy.yaml").read_text())["version"]
    assert info.supportsConfig
    policies = {policy.name: policy for policy in info.policies}
    assert set(policies) >= REQUIRED_POLICIES, f"missing: {REQUIRED_POLICIES - set(policies)}"
    for name, policy in policies.items():
        assert len(policy.description) > 40, f"{name}: description says too little: {policy.description!r}"
        assert len(policy.remediation_steps) > 40, f"{name}: no remediation steps"
        assert policy.severity != analyzer_pb2.POLICY_SEVERITY_UNSPECIFIED, f"{name}: no severity"
        assert policy.displayName, f"{name}: no display name"


def test_stack_policies_and_resource_policies(pack: PolicyPackProcess) -> None:
    kinds = {policy.name: policy.policy_type for policy in pack.info.policies}
    # These need more than one resource: security groups and their rules, listeners, attachments, outputs,
    # the image resource a container's image id comes from, the launch template an instance inherits from.
    stack_level = (
        "hf-token-secret",
        "metrics-port-reachable",
        "alb-https-only",
        "asg-health-grace-period",
        "vllm-ipc-host",
        "tgi-shm-size",
        "pinned-image-tag",
        "imdsv2-required",
        "ebs-encrypted",
        "no-ssh-from-internet",
    )
    for name in stack_level:
        assert kinds[name] == analyzer_pb2.POLICY_TYPE_STACK, name
    for name in ("user-data-inspectable", "lb-idle-timeout-streaming"):
        assert kinds[name] == analyzer_pb2.POLICY_TYPE_RESOURCE, name


@pytest.mark.parametrize("stack", CONFIGURED_STACKS)
def test_stack_config_files_choose_a_level_for_every_policy(pack: PolicyPackProcess, stack: str) -> None:
    path = PACK_DIR / "config" / f"{stack}.json"
    config = read_policy_config(path)
    names = {policy.name for policy in pack.info.policies}
    assert set(config) == names, f"{path}: policies without a level: {names - set(config)}"
    assert all(setting.level in ("mandatory", "advisory") for setting in config.values()), path
    reconciled = reconcile_config(pack.info, config, str(path))
    assert {name: setting.level for name, setting in reconciled.items()} == {
        name: setting.level for name, setting in config.items()
    }


def test_security_policies_are_mandatory_where_they_apply() -> None:
    for stack in ("staging", "prod"):
        config = read_policy_config(PACK_DIR / "config" / f"{stack}.json")
        advisory = sorted(name for name, setting in config.items() if setting.level != "mandatory")
        # Advice by design: an unpinned model revision is a risk to weigh, not a hole.
        assert advisory == ["model-revision-pinned"], f"{stack}: advisory policies {advisory}"
    dev = read_policy_config(PACK_DIR / "config" / "dev.json")
    for name in ("hf-token-secret", "vllm-ipc-host", "tgi-shm-size", "pinned-image-tag"):
        assert dev[name].level == "mandatory", f"dev: {name} must block on a laptop too"


def test_config_defaults_come_from_the_schemas(pack: PolicyPackProcess) -> None:
    reconciled = reconcile_config(pack.info, {}, "none")
    assert reconciled["asg-health-grace-period"].properties == {"minimumSeconds": 600}
    assert reconciled["lb-idle-timeout-streaming"].properties == {"minimumSeconds": 300}
    assert reconciled["tgi-shm-size"].properties == {"minimumGib": 1}
    schema = next(p for p in pack.info.policies if p.name == "metrics-port-reachable").configSchema
    assert json_format.MessageToDict(schema.properties)["monitoringCidrs"]["type"] == "array"


def test_requirements_pin_the_projects_versions() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    pins = dict(
        re.match(r"^([A-Za-z0-9_.-]+)==(\S+)$", dep).groups() for dep in pyproject["project"]["dependencies"]
    )  # type: ignore[union-attr]
    pins = {name.lower(): version for name, version in pins.items()}
    lines = [line.strip() for line in (PACK_DIR / "requirements.txt").read_text().splitlines()]
    required = dict(line.split("==") for line in lines if line and not line.startswith("#"))
    assert set(required) >= {"pulumi", "pulumi-policy"}
    for name, version in required.items():
        assert pins.get(name.lower()) == version, (
            f"requirements.txt pins {name}=={version}, pyproject {pins.get(name.lower())}"
        )


def test_pack_imports_nothing_of_the_project() -> None:
    """policies/ checks any program: it must not import llmdeploy, stacks or components."""
    forbidden = {"llmdeploy", "stacks", "components"}
    for path in PACK_DIR.rglob("*.py"):
        if ".venv" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                assert module.split(".")[0] not in forbidden, f"{path.relative_to(REPO)} imports {module}"


def test_main_only_builds_the_pack() -> None:
    tree = ast.parse((PACK_DIR / "__main__.py").read_text())
    calls = [node for node in tree.body if isinstance(node, ast.Expr)]
    assert len(calls) == 2 and isinstance(calls[1].value, ast.Call), (
        "expected a docstring and one PolicyPack(...)"
    )
    assert ast.unparse(calls[1].value.func) == "PolicyPack"
