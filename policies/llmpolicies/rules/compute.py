"""Compute baseline: IMDSv2 only, encrypted EBS volumes.

Stack policies, so an instance launched from a launch template is judged with what it inherits: the
template's metadata options and block device mappings, where the instance does not override them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)

from llmpolicies import props as p
from llmpolicies.props import CANNOT_VERIFY
from llmpolicies.servers import INSTANCE, LAUNCH_CONFIGURATION, LAUNCH_TEMPLATE, SPOT_INSTANCE_REQUEST

VOLUME = "aws:ebs/volume:Volume"
_METADATA_TYPES = frozenset({INSTANCE, LAUNCH_TEMPLATE, SPOT_INSTANCE_REQUEST, LAUNCH_CONFIGURATION})
# Resources that may be launched from a launch template and inherit what they do not override.
_FROM_TEMPLATE = frozenset({INSTANCE, SPOT_INSTANCE_REQUEST})


@dataclass(frozen=True)
class Template:
    """The launch template a resource is launched from: declared here (`resource`), or only named."""

    resource: Any | None
    named: str | None


def launch_template(resource: Any) -> Template | None:
    """The launch template an instance names in `launch_template`, if any."""
    if resource.resource_type not in _FROM_TEMPLATE or p.raw(resource.props).get("launchTemplate") is None:
        return None
    for dependency in resource.property_dependencies.get("launchTemplate", []):
        if dependency.resource_type == LAUNCH_TEMPLATE:
            return Template(dependency, None)
    named = p.get(resource.props, "launchTemplate", "id") or p.get(resource.props, "launchTemplate", "name")
    return Template(None, str(named) if named else "a launch template")


def _imdsv2_problem(resource: Any) -> str | None:
    props = resource.props
    template = launch_template(resource)
    source = "metadata_options.http_tokens"
    if p.get(props, "metadataOptions", "httpEndpoint") == "disabled":
        return None  # No metadata service at all.
    if p.is_unknown_at(props, "metadataOptions", "httpTokens"):
        return p.cannot_verify(source, 'write metadata_options http_tokens="required" literally')
    tokens = p.get(props, "metadataOptions", "httpTokens")
    if tokens is None and template is not None:
        # The instance takes the template's metadata options when it sets none of its own.
        if template.resource is None:
            return (
                f"{CANNOT_VERIFY}: http_tokens comes from {template.named}, which this program does not "
                'declare: set metadata_options http_tokens="required" on the instance'
            )
        props = template.resource.props
        source = f"launch template '{template.resource.name}' metadata_options.http_tokens"
        if p.get(props, "metadataOptions", "httpEndpoint") == "disabled":
            return None
        if p.is_unknown_at(props, "metadataOptions", "httpTokens"):
            return p.cannot_verify(source, 'write metadata_options http_tokens="required" literally')
        tokens = p.get(props, "metadataOptions", "httpTokens")
    if tokens == "required":
        return None
    found = f'{source} is "{tokens}"' if tokens else f"{source} is not set"
    return (
        f"{found}, so the instance metadata service also answers IMDSv1 requests (credential theft through "
        'SSRF): set metadata_options http_tokens="required" (with http_put_response_hop_limit=2 when '
        "containers call it)"
    )


def _validate_imdsv2(args: StackValidationArgs, report: ReportViolation) -> None:
    for resource in args.resources:
        if resource.resource_type in _METADATA_TYPES:
            problem = _imdsv2_problem(resource)
            if problem:
                report(problem, resource.urn)


imdsv2_required = StackValidationPolicy(
    name="imdsv2-required",
    display_name="IMDSv2 required",
    description=(
        'EC2 instances, launch templates and launch configurations require IMDSv2 (http_tokens="required").'
    ),
    validate=_validate_imdsv2,
    enforcement_level=EnforcementLevel.MANDATORY,
    severity=Severity.HIGH,
    tags=["security", "aws"],
    remediation_steps=(
        'metadata_options={"http_tokens": "required", "http_put_response_hop_limit": 2} on the instance or '
        "launch template (hop limit 2 lets containers on the instance reach the service)."
    ),
)


def _encrypted(value: Any) -> bool:
    # Launch templates take the string "true"; instances and volumes a boolean.
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _flag_problem(container: Any, key: str, where: str, fix: str) -> str | None:
    if p.is_unknown_at(container, key):
        return p.cannot_verify(f"{key} of {where}", fix)
    if not _encrypted(p.get(container, key)):
        return f"{where} is not encrypted: {fix}"
    return None


def _template_problems(props: Any, name: str = "") -> list[str]:
    where = f"launch template '{name}'" if name else "the launch template"
    mappings = [m for m in p.as_list(p.get(props, "blockDeviceMappings")) if p.get(m, "ebs") is not None]
    if not mappings:
        return [
            f"{where} has no block_device_mappings with ebs: instances get the AMI's root volume, "
            "unencrypted unless the account encrypts by default: add a mapping for the root device with ebs "
            'encrypted="true"'
        ]
    problems = []
    for mapping in mappings:
        device = p.get(mapping, "deviceName") or "a device"
        problem = _flag_problem(
            p.get(mapping, "ebs"),
            "encrypted",
            f"{where} block device mapping {device}",
            'set ebs encrypted="true"',
        )
        if problem:
            problems.append(problem)
    return problems


def _ebs_problems(resource: Any) -> list[str]:
    kind, props = resource.resource_type, resource.props
    if kind == LAUNCH_TEMPLATE:
        return _template_problems(props)
    if kind == VOLUME:
        problem = _flag_problem(props, "encrypted", "the volume", "set encrypted=True")
        return [problem] if problem else []
    if kind not in (INSTANCE, SPOT_INSTANCE_REQUEST, LAUNCH_CONFIGURATION):
        return []
    problems = []
    root = p.get(props, "rootBlockDevice")
    template = launch_template(resource)
    if root is None and not p.is_unknown_at(props, "rootBlockDevice") and template is not None:
        # The root volume comes from the template's mappings when the instance does not override it.
        if template.resource is None:
            problems.append(
                f"{CANNOT_VERIFY}: the root volume comes from {template.named}, which this program does not "
                "declare: set root_block_device with encrypted=True on the instance"
            )
        else:
            problems.extend(_template_problems(template.resource.props, template.resource.name))
    elif root is None and not p.is_unknown_at(props, "rootBlockDevice"):
        problems.append(
            "no rootBlockDevice: the root volume takes the AMI snapshot's setting, unencrypted unless the "
            "account encrypts by default: set rootBlockDevice with encrypted=True"
        )
    else:
        problem = _flag_problem(
            root, "encrypted", "rootBlockDevice", "set encrypted=True (a KMS key is optional)"
        )
        if problem:
            problems.append(problem)
    for index, device in enumerate(p.as_list(p.get(props, "ebsBlockDevices"))):
        name = p.get(device, "deviceName") or index
        problem = _flag_problem(device, "encrypted", f"ebsBlockDevices[{name}]", "set encrypted=True")
        if problem:
            problems.append(problem)
    return problems


def _validate_ebs(args: StackValidationArgs, report: ReportViolation) -> None:
    for resource in args.resources:
        for problem in _ebs_problems(resource):
            report(problem, resource.urn)


ebs_encrypted = StackValidationPolicy(
    name="ebs-encrypted",
    display_name="EBS volumes encrypted",
    description="Root and data EBS volumes of instances, launch templates and volumes are encrypted.",
    validate=_validate_ebs,
    enforcement_level=EnforcementLevel.MANDATORY,
    severity=Severity.HIGH,
    tags=["security", "aws"],
    remediation_steps=(
        "Instance: root_block_device={'encrypted': True, 'volume_type': 'gp3', ...}. Launch template: "
        "block_device_mappings=[{'device_name': <AMI root device>, 'ebs': {'encrypted': 'true', ...}}]. "
        "Volume: encrypted=True."
    ),
)

POLICIES = [imdsv2_required, ebs_encrypted]


# ---------------------------------------------------------------------------
# gpu-detailed-monitoring

# GPU (and accelerator) instance families: g4dn, g5, g6, g6e, gr6, p3, p4d, p5 ...
_GPU_FAMILY = re.compile(r"^(g\d|gr\d|p\d)[a-z0-9-]*\.", re.IGNORECASE)


def _monitoring_problem(resource: Any) -> str | None:
    kind, props = resource.resource_type, resource.props
    if kind not in (INSTANCE, LAUNCH_TEMPLATE, SPOT_INSTANCE_REQUEST):
        return None
    instance_type = p.as_str(p.get(props, "instanceType"))
    key = ("monitoring", "enabled") if kind == LAUNCH_TEMPLATE else ("monitoring",)
    if instance_type is None and kind == LAUNCH_TEMPLATE:
        return None  # The type is chosen elsewhere (an ASG override): the group's templates say.
    if instance_type is None or not _GPU_FAMILY.match(instance_type):
        return None
    if p.is_unknown_at(props, *key):
        return p.cannot_verify(".".join(key), "write it literally")
    if p.get(props, *key) is True:
        return None
    setting = "monitoring={'enabled': True}" if kind == LAUNCH_TEMPLATE else "monitoring=True"
    return (
        f"{instance_type} is a GPU instance with basic (5-minute) monitoring: a stalled or saturated "
        f"inference server shows only minutes later, and alarms and scaling act late: set {setting}"
    )


def _validate_monitoring(args: StackValidationArgs, report: ReportViolation) -> None:
    for resource in args.resources:
        problem = _monitoring_problem(resource)
        if problem:
            report(problem, resource.urn)


gpu_detailed_monitoring = StackValidationPolicy(
    name="gpu-detailed-monitoring",
    display_name="GPU instances have detailed monitoring",
    description=(
        "EC2 GPU instances (and launch templates of a GPU type) turn on detailed (1-minute) monitoring."
    ),
    validate=_validate_monitoring,
    enforcement_level=EnforcementLevel.MANDATORY,
    severity=Severity.LOW,
    tags=["observability", "aws"],
    remediation_steps=(
        "aws.ec2.Instance(monitoring=True); aws.ec2.LaunchTemplate(monitoring={'enabled': True}). It costs a "
        "few dollars a month per instance, next to a GPU instance's hourly price."
    ),
)

POLICIES.append(gpu_detailed_monitoring)
