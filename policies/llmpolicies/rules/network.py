"""Network baseline: no SSH from the internet."""

from __future__ import annotations

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
)

from llmpolicies.network import rules_in_resource

SSH_PORT = 22


def _validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
    for rule in rules_in_resource(args.resource_type, args.props, args.name):
        if rule.covers(SSH_PORT) and rule.internet_cidrs():
            if rule.protocol in ("-1", "all"):
                ports = "all ports"
            elif rule.from_port == rule.to_port:
                ports = f"port {rule.from_port}"
            else:
                ports = f"ports {rule.from_port}-{rule.to_port}"
            report(
                f"{rule.where} allows {ports} from {', '.join(rule.internet_cidrs())}, so SSH is open to the "
                "internet: remove it and use SSM Session Manager, or allow port 22 only from a bastion or "
                "VPN range",
                None,
            )


no_ssh_from_internet = ResourceValidationPolicy(
    name="no-ssh-from-internet",
    display_name="No SSH from the internet",
    description="No security group rule (inline or separate) allows TCP port 22 from 0.0.0.0/0 or ::/0.",
    validate=_validate,
    enforcement_level=EnforcementLevel.MANDATORY,
    severity=Severity.CRITICAL,
    tags=["security", "aws"],
    remediation_steps=(
        "Reach instances with SSM Session Manager (AmazonSSMManagedInstanceCore on the instance role) and "
        "drop port 22; if SSH is needed, allow it only from a bastion security group or a VPN CIDR."
    ),
)

POLICIES = [no_ssh_from_internet]
