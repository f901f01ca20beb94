"""Preflight: what would make `pulumi up` of a GPU stack fail late, checked first with boto3.

New accounts have 0 vCPUs of GPU quota, instance types are offered in some
zones only, the DLAMI parameter is published per region, a missing Hugging
Face token secret shows only when the engine starts, and a destroyed stack's
secrets keep their names for days. Each check answers pass or fail with what
to do; `PREFLIGHT_CHECKS` is the list to extend.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llmdeploy.cli.ops.aws import Aws, AwsResourceMissing
from llmdeploy.cli.ops.checks import Check, CheckResult, Outcome, failed, passed, run_checks, skipped
from llmdeploy.core.capacity import CapacityAssessment
from llmdeploy.core.models import fetch_command

# Only for types: the wheel ships no `stacks`; the program's own is imported from --program DIR.
if TYPE_CHECKING:
    from stacks.resolve import ProdSpec, StagingSpec


@dataclass(frozen=True)
class PreflightTarget:
    """What preflight needs of a stack, whatever its settings class looks like."""

    stack: str
    kind: str
    instance_type: str
    # The most instances the stack runs at once: 1 for staging, max size for prod.
    instance_count: int
    use_spot: bool
    # SSM parameter naming the DLAMI; ignored when `ami_id` is set.
    ami_parameter: str | None
    ami_id: str | None
    hf_token_secret_name: str | None
    # True when `pulumi up` creates the secret from the stack's own config (hfToken): then it
    # need not exist yet, but must not be a deleted secret still holding the name.
    hf_token_secret_managed: bool = False
    # Empty: AWS picks the zones, so any zone offering the type will do.
    availability_zones: tuple[str, ...] = ()
    # `aws:region`; None leaves it to AWS_REGION or the profile.
    region: str | None = None
    # With Spot: instances always bought On-Demand, and more types for the Spot pools.
    on_demand_base_capacity: int = 0
    spot_instance_types: tuple[str, ...] = ()
    # A secret `pulumi up` creates from the stack's apiKey; None when there is none.
    api_key_secret_name: str | None = None
    # The resolve step's capacity assessment (stacks.resolve); None skips the capacity check.
    capacity: CapacityAssessment | None = None


def preflight_target_from_spec(spec: StagingSpec | ProdSpec, region: str | None) -> PreflightTarget:
    """Adapter from a staging or prod stack's resolved spec: the names and capacity the program uses."""
    settings = spec.settings
    prod = spec if spec.settings.kind == "prod" else None
    spot = prod is not None and prod.settings.use_spot
    return PreflightTarget(
        stack=settings.stack_name,
        kind=settings.kind,
        instance_type=settings.instance_type,
        # Staging is one instance; prod can grow to max_size.
        instance_count=prod.settings.max_size if prod else 1,
        use_spot=spot,
        ami_parameter=settings.ami_parameter,
        ami_id=settings.ami_id,
        hf_token_secret_name=spec.hf_token_secret_name,
        # The stack copies its `hfToken` secret config into Secrets Manager (components/secret.py).
        hf_token_secret_managed=settings.hf_token is not None,
        availability_zones=tuple(settings.availability_zones),
        region=region,
        on_demand_base_capacity=prod.settings.on_demand_base_capacity if prod and spot else 0,
        spot_instance_types=tuple(prod.settings.spot_instance_types) if prod and spot else (),
        # Both kinds require an apiKey; `pulumi up` creates its secret from that config.
        api_key_secret_name=settings.api_key_secret_name,
        capacity=spec.capacity,
    )


# ---------------------------------------------------------------------------
# GPU vCPU quotas (Service Quotas, service code ec2). EC2 counts running vCPUs
# per instance class and region, separately for On-Demand and Spot; new
# accounts start at 0 for G and P. Codes as shown in the Service Quotas console.


@dataclass(frozen=True)
class VcpuQuota:
    code: str
    name: str


VCPU_QUOTAS: dict[tuple[str, bool], VcpuQuota] = {
    ("G", False): VcpuQuota("L-DB2E81BA", "Running On-Demand G and VT instances"),
    ("G", True): VcpuQuota("L-3819A6DF", "All G and VT Spot Instance Requests"),
    ("P", False): VcpuQuota("L-417A185B", "Running On-Demand P instances"),
    ("P", True): VcpuQuota("L-7212CCBC", "All P Spot Instance Requests"),
}


def quota_class(instance_type: str) -> str | None:
    """'G' for G and VT instances (g5, g6e, gr6, vt1...), 'P' for P instances, else None."""
    match = re.match(r"([a-z]+)\d", instance_type)
    letters = match.group(1) if match else ""
    if letters in ("g", "gr", "vt"):
        return "G"
    if letters == "p":
        return "P"
    return None


def vcpu_quota_for(instance_type: str, use_spot: bool) -> VcpuQuota | None:
    family = quota_class(instance_type)
    return VCPU_QUOTAS[(family, use_spot)] if family else None


@dataclass(frozen=True)
class QuotaDemand:
    quota: VcpuQuota
    vcpus: int
    # How the number comes about: "2 x g5.xlarge x 4 vCPUs, On-Demand".
    basis: str


def quota_demands(target: PreflightTarget, vcpus: Mapping[str, int]) -> list[QuotaDemand]:
    """The vCPUs each quota must allow with the stack at its largest.

    With Spot, the On-Demand base counts against the On-Demand quota and the rest
    against the Spot quota of each class the Spot types belong to, at the largest
    type of that class (the group may fill its Spot capacity with any of them).
    Every type must have a quota class (`vcpu_quota_for` is not None).
    """
    on_demand = (
        min(target.on_demand_base_capacity, target.instance_count)
        if target.use_spot
        else target.instance_count
    )
    spot = target.instance_count - on_demand
    demands = []
    if on_demand:
        quota = vcpu_quota_for(target.instance_type, use_spot=False)
        assert quota is not None
        each = vcpus[target.instance_type]
        basis = f"{on_demand} x {target.instance_type} x {each} vCPUs, On-Demand"
        demands.append(QuotaDemand(quota, on_demand * each, basis))
    if spot:
        largest: dict[VcpuQuota, str] = {}
        for name in dict.fromkeys((target.instance_type, *target.spot_instance_types)):
            quota = vcpu_quota_for(name, use_spot=True)
            assert quota is not None
            if quota not in largest or vcpus[name] > vcpus[largest[quota]]:
                largest[quota] = name
        for quota, name in largest.items():
            basis = f"{spot} x {name} x {vcpus[name]} vCPUs, Spot"
            demands.append(QuotaDemand(quota, spot * vcpus[name], basis))
    return demands


def quota_increase_command(quota: VcpuQuota, desired: int, region: str) -> str:
    return (
        f"aws service-quotas request-service-quota-increase --service-code ec2 "
        f"--quota-code {quota.code} --desired-value {desired} --region {region}"
    )


# ---------------------------------------------------------------------------
# The checks


@dataclass
class PreflightContext:
    target: PreflightTarget
    aws: Aws
    _instance_types: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)

    @property
    def region(self) -> str:
        return self.aws.region

    def instance_type_info(self, name: str | None = None) -> dict[str, Any]:
        """`describe_instance_types` for one type (default: the stack's), asked once per type."""
        name = name or self.target.instance_type
        if name not in self._instance_types:
            try:
                response = self.aws.call(
                    "ec2", "describe_instance_types", f"instance type {name}", InstanceTypes=[name]
                )
            except AwsResourceMissing:
                response = {"InstanceTypes": []}
            types = response.get("InstanceTypes", [])
            if not types:
                raise AwsResourceMissing(
                    f"{name} is not an EC2 instance type in {self.region}",
                    "set instanceType to a GPU type such as g6e.xlarge or g5.2xlarge "
                    "(`aws ec2 describe-instance-types` lists them)",
                )
            self._instance_types[name] = types[0]
        return self._instance_types[name]


def check_credentials(context: PreflightContext) -> Outcome:
    identity = context.aws.call("sts", "get_caller_identity", "the caller identity")
    return passed(f"account {identity['Account']} as {identity['Arn']}, region {context.region}")


def _gpu_summary(info: dict[str, Any]) -> str:
    gpus = info.get("GpuInfo", {}).get("Gpus", [])
    if not gpus:
        return "no GPU"
    return ", ".join(
        f"{gpu.get('Count', 0)} x {gpu.get('Manufacturer', '')} {gpu.get('Name', '')} "
        f"{gpu.get('MemoryInfo', {}).get('SizeInMiB', 0) // 1024} GiB".replace("  ", " ")
        for gpu in gpus
    )


def check_instance_type(context: PreflightContext) -> Outcome:
    target = context.target
    info = context.instance_type_info()
    offerings = context.aws.paginate(
        "ec2",
        "describe_instance_type_offerings",
        f"offerings of {target.instance_type}",
        "InstanceTypeOfferings",
        LocationType="availability-zone",
        Filters=[{"Name": "instance-type", "Values": [target.instance_type]}],
    )
    offered = sorted({offer["Location"] for offer in offerings})
    what = f"{target.instance_type} ({info['VCpuInfo']['DefaultVCpus']} vCPUs, {_gpu_summary(info)})"
    if not offered:
        return failed(
            f"{what} is not offered in any zone of {context.region}",
            f"choose a region that offers it (`aws ec2 describe-instance-type-offerings --location-type "
            f"region --filters Name=instance-type,Values={target.instance_type}`) or another instance type",
        )
    if not target.availability_zones:
        return passed(f"{what} offered in {', '.join(offered)}")
    missing = [zone for zone in target.availability_zones if zone not in offered]
    if missing:
        return failed(
            f"{target.instance_type} is not offered in {', '.join(missing)}; offered in {', '.join(offered)}",
            "set availabilityZones to zones that offer it, or leave it empty to let AWS pick",
        )
    return passed(f"{what} offered in the chosen zones {', '.join(target.availability_zones)}")


def _quota_value(context: PreflightContext, quota: VcpuQuota) -> float:
    resource = f"quota {quota.code} ({quota.name})"
    try:
        response = context.aws.call(
            "service-quotas", "get_service_quota", resource, ServiceCode="ec2", QuotaCode=quota.code
        )
    except AwsResourceMissing:
        # Service Quotas has no applied value for quotas never changed in some
        # accounts; the AWS default then applies.
        response = context.aws.call(
            "service-quotas",
            "get_aws_default_service_quota",
            resource,
            ServiceCode="ec2",
            QuotaCode=quota.code,
        )
    return float(response["Quota"]["Value"])


def check_gpu_quota(context: PreflightContext) -> Outcome:
    target = context.target
    types = list(
        dict.fromkeys((target.instance_type, *(target.spot_instance_types if target.use_spot else ())))
    )
    without_quota = [name for name in types if quota_class(name) is None]
    if without_quota:
        return failed(
            f"{', '.join(without_quota)}: not a G, VT or P instance type, so no GPU vCPU quota applies",
            "use GPU instance types (g5, g6, g6e, p4d, p5...): the engines need NVIDIA GPUs",
        )
    vcpus = {name: int(context.instance_type_info(name)["VCpuInfo"]["DefaultVCpus"]) for name in types}
    lines, short = [], []
    for demand in quota_demands(target, vcpus):
        value = _quota_value(context, demand.quota)
        enough = value >= demand.vcpus
        zero = " (new accounts start at 0 for GPU instances)" if value == 0 and not enough else ""
        lines.append(
            f"{demand.quota.code} {demand.quota.name}: {value:g} vCPUs{zero}; "
            f"needs {demand.vcpus} ({demand.basis})"
        )
        if not enough:
            short.append(demand)
    if short:
        commands = "; ".join(quota_increase_command(d.quota, d.vcpus, context.region) for d in short)
        return failed(
            "; ".join(lines),
            f"request an increase (a quota counts every running instance of its class in "
            f"{context.region}): {commands}",
        )
    return passed("; ".join(lines))


def check_ami(context: PreflightContext) -> Outcome:
    target = context.target
    if target.ami_id:
        images = context.aws.call(
            "ec2", "describe_images", f"AMI {target.ami_id}", ImageIds=[target.ami_id]
        ).get("Images", [])
        if not images:
            raise AwsResourceMissing(f"AMI {target.ami_id} not found in {context.region}")
        state = images[0].get("State", "available")
        if state != "available":
            return failed(
                f"AMI {target.ami_id} is {state}", "use an available AMI, or unset amiId to use the DLAMI"
            )
        return passed(f"AMI {target.ami_id} ({images[0].get('Name', 'no name')}) is available")
    if not target.ami_parameter:
        return skipped("no AMI parameter or AMI id configured")
    try:
        parameter = context.aws.call(
            "ssm", "get_parameter", f"SSM parameter {target.ami_parameter}", Name=target.ami_parameter
        )["Parameter"]
    except AwsResourceMissing:
        return failed(
            f"SSM parameter {target.ami_parameter} does not exist in {context.region}",
            "the DLAMI is not published under that name in this region: choose a region that has it "
            "(`aws ssm get-parameter --name ... --region ...`), fix amiParameter, or set amiId",
        )
    value = str(parameter.get("Value", ""))
    if not value.startswith("ami-"):
        return failed(
            f"SSM parameter {target.ami_parameter} holds {value[:40]!r}, not an AMI id",
            "point amiParameter at a parameter holding an AMI id, or set amiId",
        )
    return passed(f"{target.ami_parameter} resolves to {value}")


def _secret_outcome(context: PreflightContext, name: str, created_from: str | None) -> Outcome:
    """A secret the stack reads: it must exist with a value, or, when `pulumi up` creates it
    from the config key `created_from`, it may be missing but not deleted (its name is then
    taken until the recovery window ends). Only metadata is read, never the value."""
    managed = created_from is not None
    region = context.region
    try:
        secret = context.aws.call("secretsmanager", "describe_secret", f"secret {name}", SecretId=name)
    except AwsResourceMissing:
        if managed:
            return passed(f"secret {name} does not exist yet: `pulumi up` creates it from {created_from}")
        return failed(
            f"secret {name} does not exist in {region}",
            f"create it without echoing the token: `aws secretsmanager create-secret --name {name} "
            f"--secret-string file://token.txt --region {region}`",
        )
    if secret.get("DeletedDate"):
        if managed:
            return failed(
                f"secret {name} is scheduled for deletion (a destroyed stack's): `pulumi up` cannot "
                "create a secret of that name until it is gone",
                f"delete it for good: `aws secretsmanager delete-secret --secret-id {name} "
                f"--force-delete-without-recovery --region {region}`",
            )
        return failed(
            f"secret {name} is scheduled for deletion",
            f"restore it: `aws secretsmanager restore-secret --secret-id {name} --region {region}`",
        )
    stages = [stage for stages in (secret.get("VersionIdsToStages") or {}).values() for stage in stages]
    if managed:
        return passed(f"secret {name} exists; `pulumi up` keeps its value in step with {created_from}")
    if "AWSCURRENT" not in stages:
        return failed(
            f"secret {name} has no current value",
            f"put the token: `aws secretsmanager put-secret-value --secret-id {name} "
            f"--secret-string file://token.txt --region {region}`",
        )
    return passed(f"secret {name} exists with a current value")


def check_hf_token_secret(context: PreflightContext) -> Outcome:
    target = context.target
    if not target.hf_token_secret_name:
        return skipped("the model needs no Hugging Face token")
    created_from = "hfToken" if target.hf_token_secret_managed else None
    return _secret_outcome(context, target.hf_token_secret_name, created_from)


def check_api_key_secret(context: PreflightContext) -> Outcome:
    name = context.target.api_key_secret_name
    if not name:
        return skipped(f"{context.target.kind} stack: no API key secret")
    return _secret_outcome(context, name, "apiKey")


def check_capacity(context: PreflightContext) -> Outcome:
    """The capacity planner's verdict, as the stack's resolve step made it: does one sequence fit?

    The resolve step already refuses a config that cannot serve, so this mostly reports the
    figures, and fails when the model's config.json is neither bundled nor cached (the
    program could not check it): the fix is the command that caches it.
    """
    assessment = context.target.capacity
    if assessment is None:
        return skipped("no capacity assessment for this stack")
    if assessment.problems:
        return failed(
            "; ".join(assessment.problems),
            "pick one of the instance types named, or lower the context length"
            " (maxModelLen / maxTotalTokens)",
        )
    if assessment.estimate is None:
        return failed(
            f"capacity unknown: {assessment.unknown_reason or assessment.unknown}",
            f"cache the model's config.json: `{fetch_command(assessment.request.model)}` "
            "(HF_TOKEN in the environment for a gated model)",
        )
    estimate = assessment.estimate
    figures = {
        "kv_cache_tokens": float(estimate.kv_cache_tokens),
        "max_model_len": float(estimate.max_model_len),
    }
    return passed(str(assessment.output()["verdict"]), figures)


PREFLIGHT_CHECKS: list[Check[PreflightContext]] = [
    Check("credentials", check_credentials),
    Check("instance-type", check_instance_type, requires=("credentials",)),
    Check("gpu-quota", check_gpu_quota, requires=("credentials",)),
    Check("ami", check_ami, requires=("credentials",)),
    Check("hf-token-secret", check_hf_token_secret, requires=("credentials",)),
    Check("api-key-secret", check_api_key_secret, requires=("credentials",)),
    Check("capacity", check_capacity),
]


def run_preflight(
    target: PreflightTarget, aws: Aws, checks: list[Check[PreflightContext]] | None = None
) -> list[CheckResult]:
    return run_checks(PREFLIGHT_CHECKS if checks is None else checks, PreflightContext(target, aws))
