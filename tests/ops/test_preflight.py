"""Preflight against moto's server (Service Quotas through its test double: moto has no EC2 quotas)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from llmdeploy.cli import main
from llmdeploy.cli.ops.aws import open_aws
from llmdeploy.cli.ops.checks import CheckResult
from llmdeploy.cli.ops.preflight import (
    PreflightTarget,
    preflight_target_from_spec,
    quota_class,
    quota_demands,
    run_preflight,
    vcpu_quota_for,
)
from llmdeploy.cli.ops.stack import load_stack_spec, read_stack
from llmdeploy.core.capacity import CapacityRequest, assess_capacity
from stacks.resolve import DevSpec
from stacks.settings import DLAMI_PARAMETER
from tests.fixtures.aws_test_doubles import ServiceQuotasTestDouble
from tests.fixtures.moto_server import ALLOW_ALL, Credentials, MotoServer, deny, use_credentials

# A public AWS parameter moto ships (AL2023), standing in for the DLAMI one, which moto does not have.
PUBLIC_AMI_PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
G_ON_DEMAND = "L-DB2E81BA"
G_SPOT = "L-3819A6DF"
P_ON_DEMAND = "L-417A185B"

PROD = PreflightTarget(
    stack="prod",
    kind="prod",
    instance_type="g5.xlarge",
    instance_count=2,
    use_spot=False,
    ami_parameter=PUBLIC_AMI_PARAMETER,
    ami_id=None,
    hf_token_secret_name=None,
    availability_zones=(),
    region="us-east-1",
)


def preflight(target: PreflightTarget) -> dict[str, CheckResult]:
    results = run_preflight(target, open_aws(target.region))
    return {result.name: result for result in results}


def assert_status(results: dict[str, CheckResult], expected: dict[str, str]) -> None:
    found = {name: results[name].status for name in expected}
    assert found == expected, "\n".join(
        f"{r.name}: {r.status} {r.detail} | {r.remedy}" for r in results.values()
    )


# ---------------------------------------------------------------------------
# Pure parts


@pytest.mark.parametrize(
    ("instance_type", "family"),
    [
        ("g5.xlarge", "G"),
        ("g4dn.12xlarge", "G"),
        ("g6e.48xlarge", "G"),
        ("g5g.xlarge", "G"),
        ("gr6.4xlarge", "G"),
        ("vt1.3xlarge", "G"),
        ("p4d.24xlarge", "P"),
        ("p5.48xlarge", "P"),
        ("p3dn.24xlarge", "P"),
        ("m5.xlarge", None),
        ("inf2.xlarge", None),
        ("trn1.2xlarge", None),
    ],
)
def test_quota_class_by_instance_family(instance_type: str, family: str | None) -> None:
    assert quota_class(instance_type) == family, instance_type


@pytest.mark.parametrize(
    ("instance_type", "spot", "code"),
    [
        ("g6e.xlarge", False, "L-DB2E81BA"),
        ("g6e.xlarge", True, "L-3819A6DF"),
        ("p5.48xlarge", False, "L-417A185B"),
        ("p5.48xlarge", True, "L-7212CCBC"),
    ],
)
def test_vcpu_quota_code_for_class_and_market(instance_type: str, spot: bool, code: str) -> None:
    quota = vcpu_quota_for(instance_type, spot)
    assert quota is not None and quota.code == code, f"{instance_type} spot={spot}: {quota}"


STAGING_STACK_FILE = """\
config:
  aws:region: us-east-1
  llmdeploy:model: meta-llama/Llama-3.1-8B-Instruct
  llmdeploy:instanceType: g5.2xlarge
  llmdeploy:hfToken:
    secure: v1:cGxhY2Vob2xkZXI=:bm90IGEgcmVhbCB0b2tlbg==
  llmdeploy:modelNeedsToken: true
  llmdeploy:apiKey:
    secure: v1:cGxhY2Vob2xkZXI=:bm90IGEgcmVhbCBrZXk=
  llmdeploy:apiAllowedCidrs: ["203.0.113.0/24"]
"""


def staging_program(directory: Path, stack: str = "staging", extra: str = "") -> Path:
    (directory / "Pulumi.yaml").write_text("name: llmdeploy\nruntime: python\n")
    (directory / f"Pulumi.{stack}.yaml").write_text(STAGING_STACK_FILE + extra)
    return directory


def target_from_program(program: Path, stack: str = "staging") -> PreflightTarget:
    config = read_stack(program, stack)
    spec = load_stack_spec(program, config)
    assert not isinstance(spec, DevSpec)
    return preflight_target_from_spec(spec, config.region)


def test_adapter_reads_the_real_staging_settings(tmp_path: Path) -> None:
    target = target_from_program(staging_program(tmp_path))
    # The capacity the stack's resolve step assessed, as its program would.
    assert target.capacity is not None and target.capacity.estimate is not None
    request = target.capacity.request
    assert (request.engine, request.model, request.instance_type, request.max_model_len) == (
        "tgi",
        "meta-llama/Llama-3.1-8B-Instruct",
        "g5.2xlarge",
        8192,
    )
    # Offline, and no token: the stack file's token is an undecrypted stand-in, never sent anywhere.
    assert request.hf_token is None and not request.allow_network
    assert replace(target, capacity=None) == PreflightTarget(
        stack="staging",
        kind="staging",
        instance_type="g5.2xlarge",
        # Staging is one On-Demand instance.
        instance_count=1,
        use_spot=False,
        ami_parameter=DLAMI_PARAMETER,
        ami_id=None,
        # Named after the Pulumi project and stack, as inside the program; the stack creates it.
        hf_token_secret_name="llmdeploy/staging/hf-token",
        hf_token_secret_managed=True,
        availability_zones=(),
        region="us-east-1",
        # Staging requires an apiKey; the stack creates this secret from it.
        api_key_secret_name="llmdeploy/staging/api-key",
    )


PROD_STACK_FILE = """\
config:
  aws:region: us-east-1
  llmdeploy:model: meta-llama/Llama-3.1-8B-Instruct
  llmdeploy:instanceType: g5.2xlarge
  llmdeploy:apiKey:
    secure: v1:cGxhY2Vob2xkZXI=:bm90IGEgcmVhbCBrZXk=
  llmdeploy:maxModelLen: 8192
  llmdeploy:minSize: 1
  llmdeploy:maxSize: 4
  llmdeploy:allowPlainHttp: true
  llmdeploy:apiAllowedCidrs: ["203.0.113.0/24"]
"""


def prod_program(directory: Path, extra: str = "") -> Path:
    (directory / "Pulumi.yaml").write_text("name: llmdeploy\nruntime: python\n")
    (directory / "Pulumi.prod.yaml").write_text(PROD_STACK_FILE + extra)
    return directory


def test_adapter_reads_the_real_prod_settings(tmp_path: Path) -> None:
    spot = "  llmdeploy:useSpot: true\n  llmdeploy:onDemandBaseCapacity: 1\n  llmdeploy:spotInstanceTypes: [g6.2xlarge]\n"
    program = prod_program(tmp_path, spot + "  llmdeploy:availabilityZones: [us-east-1a, us-east-1b]\n")
    target = target_from_program(program, "prod")
    assert target.capacity is not None and target.capacity.request.engine == "vllm"
    assert replace(target, capacity=None) == PreflightTarget(
        stack="prod",
        kind="prod",
        instance_type="g5.2xlarge",
        instance_count=4,
        use_spot=True,
        ami_parameter=DLAMI_PARAMETER,
        ami_id=None,
        # No hfToken: the model needs none.
        hf_token_secret_name=None,
        hf_token_secret_managed=False,
        availability_zones=("us-east-1a", "us-east-1b"),
        region="us-east-1",
        on_demand_base_capacity=1,
        spot_instance_types=("g6.2xlarge",),
        api_key_secret_name="llmdeploy/prod/vllm-api-key",
    )


def test_adapter_names_the_secret_after_the_stack(tmp_path: Path) -> None:
    program = staging_program(tmp_path, "gpu-eu", "  llmdeploy:kind: staging\n")
    target = target_from_program(program, "gpu-eu")
    assert target.hf_token_secret_name == "llmdeploy/gpu-eu/hf-token"


# ---------------------------------------------------------------------------
# Against moto


def test_ready_account_passes_every_check(aws_env: MotoServer, quotas: ServiceQuotasTestDouble) -> None:
    quotas.set_applied(G_ON_DEMAND, 8)
    aws_env.client("secretsmanager").create_secret(Name="llmdeploy/hf-token", SecretString="hf_x")
    target = replace(
        PROD, hf_token_secret_name="llmdeploy/hf-token", availability_zones=("us-east-1a", "us-east-1b")
    )
    results = preflight(target)
    assert_status(
        results,
        {
            "credentials": "pass",
            "instance-type": "pass",
            "gpu-quota": "pass",
            "ami": "pass",
            "hf-token-secret": "pass",
        },
    )
    assert "account 123456789012" in results["credentials"].detail
    assert "1 x NVIDIA A10G" in results["instance-type"].detail
    assert "needs 8 (2 x g5.xlarge x 4 vCPUs, On-Demand)" in results["gpu-quota"].detail
    assert results["ami"].detail.startswith(f"{PUBLIC_AMI_PARAMETER} resolves to ami-")


def test_zero_gpu_quota_fails_with_the_increase_command(
    aws_env: MotoServer, quotas: ServiceQuotasTestDouble
) -> None:
    quotas.set_applied(G_ON_DEMAND, 0)
    result = preflight(PROD)["gpu-quota"]
    assert result.status == "fail", result
    assert "L-DB2E81BA Running On-Demand G and VT instances: 0 vCPUs" in result.detail
    assert "new accounts start at 0" in result.detail
    assert (
        "aws service-quotas request-service-quota-increase --service-code ec2 --quota-code L-DB2E81BA "
        "--desired-value 8 --region us-east-1"
    ) in result.remedy


def test_spot_demands_split_between_the_on_demand_base_and_the_spot_types() -> None:
    target = replace(
        PROD,
        instance_count=4,
        use_spot=True,
        on_demand_base_capacity=1,
        spot_instance_types=("g6e.2xlarge", "g5.xlarge", "p4d.24xlarge"),
    )
    vcpus = {"g5.xlarge": 4, "g6e.2xlarge": 8, "p4d.24xlarge": 96}
    assert [(d.quota.code, d.vcpus, d.basis) for d in quota_demands(target, vcpus)] == [
        ("L-DB2E81BA", 4, "1 x g5.xlarge x 4 vCPUs, On-Demand"),
        # Spot may fill the other three with the largest type of each class.
        ("L-3819A6DF", 24, "3 x g6e.2xlarge x 8 vCPUs, Spot"),
        ("L-7212CCBC", 288, "3 x p4d.24xlarge x 96 vCPUs, Spot"),
    ]


def test_spot_base_needs_on_demand_quota_too(aws_env: MotoServer, quotas: ServiceQuotasTestDouble) -> None:
    quotas.set_applied(G_SPOT, 64)
    quotas.set_applied(G_ON_DEMAND, 0)
    target = replace(PROD, instance_count=4, use_spot=True, on_demand_base_capacity=1)
    result = preflight(target)["gpu-quota"]
    assert result.status == "fail", result
    assert result.detail == (
        "L-DB2E81BA Running On-Demand G and VT instances: 0 vCPUs (new accounts start at 0 for GPU instances); "
        "needs 4 (1 x g5.xlarge x 4 vCPUs, On-Demand); "
        "L-3819A6DF All G and VT Spot Instance Requests: 64 vCPUs; needs 12 (3 x g5.xlarge x 4 vCPUs, Spot)"
    )
    assert "--quota-code L-DB2E81BA --desired-value 4" in result.remedy
    assert "L-3819A6DF" not in result.remedy


def test_quota_below_max_size_fails(aws_env: MotoServer, quotas: ServiceQuotasTestDouble) -> None:
    quotas.set_applied(G_ON_DEMAND, 4)
    result = preflight(replace(PROD, instance_count=3))["gpu-quota"]
    assert result.status == "fail", result
    assert "needs 12 (3 x g5.xlarge x 4 vCPUs" in result.detail


def test_spot_stack_checks_the_spot_quota(aws_env: MotoServer, quotas: ServiceQuotasTestDouble) -> None:
    quotas.set_applied(G_SPOT, 16)
    quotas.set_applied(G_ON_DEMAND, 0)
    result = preflight(replace(PROD, use_spot=True))["gpu-quota"]
    assert result.status == "pass", result
    asked = {params["QuotaCode"] for _, _, params in quotas.requests}
    assert asked == {G_SPOT}, f"preflight asked for {asked}"


def test_p_instances_check_the_p_quota(aws_env: MotoServer, quotas: ServiceQuotasTestDouble) -> None:
    quotas.set_applied(P_ON_DEMAND, 96)
    result = preflight(replace(PROD, instance_type="p4d.24xlarge", instance_count=1))["gpu-quota"]
    assert result.status == "pass", result
    assert "needs 96 (1 x p4d.24xlarge x 96 vCPUs" in result.detail


def test_aws_default_applies_when_no_applied_value(
    aws_env: MotoServer, quotas: ServiceQuotasTestDouble
) -> None:
    quotas.set_default(G_ON_DEMAND, 0)
    result = preflight(PROD)["gpu-quota"]
    assert result.status == "fail", result
    asked = [operation for operation, _, _ in quotas.requests]
    assert asked == ["GetServiceQuota", "GetAWSDefaultServiceQuota"], asked


def test_quotas_are_asked_in_the_stack_region(aws_env: MotoServer, quotas: ServiceQuotasTestDouble) -> None:
    quotas.set_applied(G_ON_DEMAND, 64, region="eu-west-3")
    result = preflight(replace(PROD, region="eu-west-3"))["gpu-quota"]
    assert result.status == "pass", result
    assert {region for _, region, _ in quotas.requests} == {"eu-west-3"}


def test_instance_type_not_offered_in_a_chosen_zone(
    aws_env: MotoServer, quotas: ServiceQuotasTestDouble
) -> None:
    quotas.set_applied(G_ON_DEMAND, 8)
    # moto's offerings data (from AWS): g5.xlarge is in us-east-1a-d and f, not e.
    result = preflight(replace(PROD, availability_zones=("us-east-1a", "us-east-1e")))["instance-type"]
    assert result.status == "fail", result
    assert "g5.xlarge is not offered in us-east-1e; offered in us-east-1a, us-east-1b" in result.detail
    assert "availabilityZones" in result.remedy


def test_instance_type_not_offered_in_the_region(
    aws_env: MotoServer, quotas: ServiceQuotasTestDouble
) -> None:
    quotas.set_applied(P_ON_DEMAND, 96, region="eu-west-3")
    target = replace(PROD, instance_type="p4d.24xlarge", instance_count=1, region="eu-west-3")
    result = preflight(target)["instance-type"]
    assert result.status == "fail", result
    assert "is not offered in any zone of eu-west-3" in result.detail
    assert "describe-instance-type-offerings" in result.remedy


def test_unknown_instance_type(aws_env: MotoServer, quotas: ServiceQuotasTestDouble) -> None:
    results = preflight(replace(PROD, instance_type="g5.enormous"))
    assert results["instance-type"].status == "fail"
    assert results["instance-type"].detail == "g5.enormous is not an EC2 instance type in us-east-1"


def test_a_type_without_gpu_quota_fails_the_quota_check(
    aws_env: MotoServer, quotas: ServiceQuotasTestDouble
) -> None:
    result = preflight(replace(PROD, instance_type="m5.xlarge"))["gpu-quota"]
    assert result.status == "fail", result
    assert "not a G, VT or P instance type" in result.detail


def test_dlami_parameter_missing_in_the_region(aws_env: MotoServer, quotas: ServiceQuotasTestDouble) -> None:
    result = preflight(replace(PROD, ami_parameter=DLAMI_PARAMETER))["ami"]
    assert result.status == "fail", result
    assert result.detail == f"SSM parameter {DLAMI_PARAMETER} does not exist in us-east-1"
    assert "amiId" in result.remedy


def test_explicit_ami_is_looked_up_instead_of_the_parameter(
    aws_env: MotoServer, quotas: ServiceQuotasTestDouble
) -> None:
    image = aws_env.client("ec2").describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    present = preflight(replace(PROD, ami_parameter=DLAMI_PARAMETER, ami_id=image))["ami"]
    assert present.status == "pass", present
    assert image in present.detail
    missing = preflight(replace(PROD, ami_id="ami-0123456789abcdef0"))["ami"]
    assert missing.status == "fail", missing
    assert "ami-0123456789abcdef0" in missing.detail and "us-east-1" in missing.detail


def test_hf_token_secret_missing(aws_env: MotoServer, quotas: ServiceQuotasTestDouble) -> None:
    result = preflight(replace(PROD, hf_token_secret_name="llmdeploy/hf-token"))["hf-token-secret"]
    assert result.status == "fail", result
    assert result.detail == "secret llmdeploy/hf-token does not exist in us-east-1"
    assert "create-secret --name llmdeploy/hf-token" in result.remedy


def test_hf_token_secret_without_a_value_or_being_deleted(
    aws_env: MotoServer, quotas: ServiceQuotasTestDouble
) -> None:
    secrets = aws_env.client("secretsmanager")
    secrets.create_secret(Name="empty")
    secrets.create_secret(Name="going", SecretString="hf_x")
    secrets.delete_secret(SecretId="going", RecoveryWindowInDays=7)
    empty = preflight(replace(PROD, hf_token_secret_name="empty"))["hf-token-secret"]
    going = preflight(replace(PROD, hf_token_secret_name="going"))["hf-token-secret"]
    assert (empty.status, empty.detail) == ("fail", "secret empty has no current value")
    assert (going.status, going.detail) == ("fail", "secret going is scheduled for deletion")
    assert "restore-secret" in going.remedy


def test_a_secret_the_stack_creates_need_not_exist_yet(
    aws_env: MotoServer, quotas: ServiceQuotasTestDouble
) -> None:
    target = replace(PROD, hf_token_secret_name="llmdeploy/prod/hf-token", hf_token_secret_managed=True)
    result = preflight(target)["hf-token-secret"]
    assert (result.status, result.detail) == (
        "pass",
        "secret llmdeploy/prod/hf-token does not exist yet: `pulumi up` creates it from hfToken",
    )


def test_a_deleted_secret_blocks_the_stack_from_creating_its_own(
    aws_env: MotoServer, quotas: ServiceQuotasTestDouble
) -> None:
    secrets = aws_env.client("secretsmanager")
    secrets.create_secret(Name="llmdeploy/prod/hf-token", SecretString="hf_x")
    secrets.delete_secret(SecretId="llmdeploy/prod/hf-token", RecoveryWindowInDays=7)
    target = replace(PROD, hf_token_secret_name="llmdeploy/prod/hf-token", hf_token_secret_managed=True)
    result = preflight(target)["hf-token-secret"]
    assert result.status == "fail", result
    assert "`pulumi up` cannot create a secret of that name" in result.detail
    assert "--force-delete-without-recovery" in result.remedy


def test_a_deleted_api_key_secret_blocks_a_prod_stack(
    aws_env: MotoServer, quotas: ServiceQuotasTestDouble
) -> None:
    secrets = aws_env.client("secretsmanager")
    secrets.create_secret(Name="llmdeploy/prod/vllm-api-key", SecretString="k")
    secrets.delete_secret(SecretId="llmdeploy/prod/vllm-api-key", RecoveryWindowInDays=7)
    result = preflight(replace(PROD, api_key_secret_name="llmdeploy/prod/vllm-api-key"))["api-key-secret"]
    assert result.status == "fail", result
    assert result.detail.startswith("secret llmdeploy/prod/vllm-api-key is scheduled for deletion")
    staging = preflight(replace(PROD, kind="staging"))["api-key-secret"]
    assert (staging.status, staging.detail) == ("skip", "staging stack: no API key secret")


def test_no_token_needed_skips_the_secret_check(aws_env: MotoServer, quotas: ServiceQuotasTestDouble) -> None:
    result = preflight(PROD)["hf-token-secret"]
    assert (result.status, result.detail) == ("skip", "the model needs no Hugging Face token")


def test_access_denied_names_the_missing_permission(
    aws_env: MotoServer, quotas: ServiceQuotasTestDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    quotas.set_applied(G_ON_DEMAND, 8)
    user = aws_env.create_user("deployer", [ALLOW_ALL, deny("ec2:DescribeInstanceTypeOfferings")])
    use_credentials(monkeypatch, user)
    with aws_env.iam_enforced():
        results = preflight(PROD)
    assert_status(
        results, {"credentials": "pass", "instance-type": "fail", "gpu-quota": "pass", "ami": "pass"}
    )
    denied = results["instance-type"]
    assert denied.detail.startswith(
        "access denied: the credentials in use may not call ec2:DescribeInstanceTypeOfferings "
        "on offerings of g5.xlarge"
    ), denied.detail
    assert denied.remedy.startswith("allow ec2:DescribeInstanceTypeOfferings in the IAM policy"), (
        denied.remedy
    )


def test_access_denied_to_a_secret(
    aws_env: MotoServer, quotas: ServiceQuotasTestDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    quotas.set_applied(G_ON_DEMAND, 8)
    aws_env.client("secretsmanager").create_secret(Name="llmdeploy/hf-token", SecretString="hf_x")
    use_credentials(monkeypatch, aws_env.create_user("deployer", [ALLOW_ALL, deny("secretsmanager:*")]))
    with aws_env.iam_enforced():
        result = preflight(replace(PROD, hf_token_secret_name="llmdeploy/hf-token"))["hf-token-secret"]
    assert result.status == "fail", result
    assert "may not call secretsmanager:DescribeSecret on secret llmdeploy/hf-token" in result.detail


def test_rejected_credentials_skip_every_other_check(
    aws_env: MotoServer, quotas: ServiceQuotasTestDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_credentials(monkeypatch, Credentials("AKIAUNKNOWNKEY000000", "not-a-secret-moto-knows"))
    with aws_env.iam_enforced():
        results = preflight(PROD)
    assert results["credentials"].status == "fail"
    assert results["credentials"].detail.startswith(
        "AWS rejected the credentials (InvalidClientTokenId) when calling sts:GetCallerIdentity"
    ), results["credentials"].detail
    assert "aws sso login" in results["credentials"].remedy
    for name in ("instance-type", "gpu-quota", "ami", "hf-token-secret"):
        assert (results[name].status, results[name].detail) == ("skip", "needs credentials to pass first")


# ---------------------------------------------------------------------------
# The command


def write_program(directory: Path, stack: str, config: dict[str, Any]) -> Path:
    (directory / "Pulumi.yaml").write_text("name: llmdeploy\nruntime: python\n")
    lines = "".join(f"  {key}: {value}\n" for key, value in config.items())
    (directory / f"Pulumi.{stack}.yaml").write_text(f"config:\n{lines}")
    return directory


def test_command_refuses_the_dev_stack(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    program = write_program(tmp_path, "dev", {"llmdeploy:model": "llama3.2:1b"})
    assert main(["preflight", "dev", "--program", str(program)]) == 1
    error = capsys.readouterr().err
    assert "llmdeploy:kind: found 'dev'; accepted: one of staging, prod" in error, error


def test_command_reports_settings_problems_one_line_each(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    program = staging_program(tmp_path, extra="  llmdeploy:instanceTyp: g5.xlarge\n")
    assert main(["preflight", "staging", "--program", str(program)]) == 1
    error = capsys.readouterr().err
    assert error.startswith(
        "error: llmdeploy:instanceTyp: found an unknown key (did you mean llmdeploy:instanceType?)"
    ), error
    assert "Traceback" not in error


def test_command_on_a_staging_stack(
    aws_env: MotoServer, quotas: ServiceQuotasTestDouble, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # moto has no DLAMI parameter (it holds only a few public ones): the stack names an AMI moto has.
    image = aws_env.client("ec2").describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    program = staging_program(
        tmp_path,
        extra=f"  llmdeploy:amiId: {image}\n  llmdeploy:availabilityZones: [us-east-1a, us-east-1b]\n",
    )
    quotas.set_applied(G_ON_DEMAND, 8)
    assert main(["preflight", "staging", "--program", str(program)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Preflight of stack staging (staging) in us-east-1: 1 x g5.2xlarge"
    assert out[-1] == "All 7 checks passed."
    capacity = next(line for line in out if line.startswith("capacity "))
    assert capacity.split()[1:3] == ["PASS", "fits:"], capacity
    assert any(line.startswith("gpu-quota        PASS    L-DB2E81BA") for line in out), out

    quotas.set_applied(G_ON_DEMAND, 4)
    assert main(["preflight", "staging", "--program", str(program), "--format", "json"]) == 1
    document = json.loads(capsys.readouterr().out)
    assert (document["ok"], document["region"]) == (False, "us-east-1")
    # Staging requires an apiKey too: its secret is checked like prod's.
    [api_key] = [check for check in document["checks"] if check["name"] == "api-key-secret"]
    assert api_key["detail"] == (
        "secret llmdeploy/staging/api-key does not exist yet: `pulumi up` creates it from apiKey"
    ), api_key
    [quota] = [check for check in document["checks"] if check["name"] == "gpu-quota"]
    assert quota["status"] == "fail" and "needs 8 (1 x g5.2xlarge x 8 vCPUs" in quota["detail"], quota


def test_command_without_stack_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: llmdeploy\nruntime: python\n")
    assert main(["preflight", "prod", "--program", str(tmp_path)]) == 1
    assert f"error: Pulumi.prod.yaml: not found in {tmp_path}" in capsys.readouterr().err


def test_command_on_a_prod_stack(
    aws_env: MotoServer, quotas: ServiceQuotasTestDouble, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image = aws_env.client("ec2").describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    program = prod_program(tmp_path, f"  llmdeploy:amiId: {image}\n")
    quotas.set_applied(G_ON_DEMAND, 32)
    assert main(["preflight", "prod", "--program", str(program), "--format", "json"]) == 0
    checks = {check["name"]: check for check in json.loads(capsys.readouterr().out)["checks"]}
    assert checks["gpu-quota"]["detail"].endswith("needs 32 (4 x g5.2xlarge x 8 vCPUs, On-Demand)")
    assert checks["api-key-secret"]["detail"] == (
        "secret llmdeploy/prod/vllm-api-key does not exist yet: `pulumi up` creates it from apiKey"
    )
    assert checks["hf-token-secret"]["status"] == "skip"


def test_capacity_verdict_passes_with_the_figures_and_fails_an_oversize_model(
    aws_env: MotoServer, quotas: ServiceQuotasTestDouble
) -> None:
    fits = replace(
        PROD,
        capacity=assess_capacity(
            CapacityRequest(
                model="meta-llama/Llama-3.1-8B-Instruct", instance_type="g5.xlarge", max_model_len=8192
            )
        ),
    )
    result = preflight(fits)["capacity"]
    assert result.status == "pass", result
    assert result.detail.startswith("fits: ") and result.figures["max_model_len"] == 8192

    oversize = replace(
        PROD,
        capacity=assess_capacity(
            CapacityRequest(
                model="meta-llama/Llama-3.1-70B-Instruct", instance_type="g5.xlarge", max_model_len=8192
            )
        ),
    )
    result = preflight(oversize)["capacity"]
    assert result.status == "fail"
    assert "llmdeploy:instanceType" in result.detail or "llmdeploy:model" in result.detail, result.detail
    assert "lower the context length" in result.remedy

    unknown = replace(
        PROD,
        capacity=assess_capacity(
            CapacityRequest(
                model="example-org/not-a-bundled-model",
                instance_type="g5.xlarge",
                max_model_len=8192,
                allow_network=False,
            )
        ),
    )
    result = preflight(unknown)["capacity"]
    assert result.status == "fail" and result.detail.startswith("capacity unknown: "), result
    assert "`llmdeploy models fetch example-org/not-a-bundled-model`" in result.remedy, result
