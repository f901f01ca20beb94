"""Compute baseline: IMDSv2 only, encrypted EBS volumes."""

from __future__ import annotations

from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
)

from llmpolicies import props as p
from llmpolicies.servers import INSTANCE, LAUNCH_CONFIGURATION, LAUNCH_TEMPLATE, SPOT_INSTANCE_REQUEST

VOLUME = "aws:ebs/volume:Volume"
_METADATA_TYPES = frozenset({INSTANCE, LAUNCH_TEMPLATE, SPOT_INSTANCE_REQUEST, LAUNCH_CONFIGURATION})


def _validate_imdsv2(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type not in _METADATA_TYPES:
        return
    if p.get(args.props, "metadataOptions", "httpEndpoint") == "disabled":
        return  # No metadata service at all.
    tokens = p.get(args.props, "metadataOptions", "httpTokens")
    if tokens == "required":
        return
    found = f'http_tokens is "{tokens}"' if tokens else "metadata_options.http_tokens is not set"
    report(
        f"{found}, so the instance metadata service also answers IMDSv1 requests (credential theft through "
        'SSRF): set metadata_options http_tokens="required" (with http_put_response_hop_limit=2 when '
        "containers call it)",
        None,
    )


imdsv2_required = ResourceValidationPolicy(
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


def _check_devices(props: Any, root_key: str, report: ReportViolation) -> None:
    root = p.get(props, root_key)
    if root is None:
        report(
            f"no {root_key}: the root volume takes the AMI snapshot's setting, unencrypted unless the "
            f"account encrypts by default: set {root_key} with encrypted=True",
            None,
        )
    elif not _encrypted(p.get(root, "encrypted")):
        report(f"{root_key}.encrypted is not true: set encrypted=True (a KMS key is optional)", None)
    for index, device in enumerate(p.as_list(p.get(props, "ebsBlockDevices"))):
        if not _encrypted(p.get(device, "encrypted")):
            name = p.get(device, "deviceName") or index
            report(f"ebsBlockDevices[{name}] is not encrypted: set encrypted=True", None)


def _validate_ebs(args: ResourceValidationArgs, report: ReportViolation) -> None:
    kind = args.resource_type
    if kind in (INSTANCE, SPOT_INSTANCE_REQUEST, LAUNCH_CONFIGURATION):
        _check_devices(args.props, "rootBlockDevice", report)
    elif kind == LAUNCH_TEMPLATE:
        mappings = [
            m for m in p.as_list(p.get(args.props, "blockDeviceMappings")) if p.get(m, "ebs") is not None
        ]
        if not mappings:
            report(
                "no block_device_mappings with ebs: instances get the AMI's root volume, unencrypted unless "
                "the account encrypts by default: add a mapping for the root device with ebs "
                'encrypted="true"',
                None,
            )
        for mapping in mappings:
            if not _encrypted(p.get(mapping, "ebs", "encrypted")):
                device = p.get(mapping, "deviceName") or "a device"
                report(f'block device mapping {device} is not encrypted: set ebs encrypted="true"', None)
    elif kind == VOLUME and not _encrypted(p.get(args.props, "encrypted")):
        report("the volume is not encrypted: set encrypted=True", None)


ebs_encrypted = ResourceValidationPolicy(
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
