"""Network baseline: no SSH from the internet, measured by address space over every rule of a group."""

from __future__ import annotations

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)

from llmpolicies.netspace import THRESHOLD_TEXT
from llmpolicies.network import ingress_by_group, internet_opening

SSH_PORT = 22


def _validate(args: StackValidationArgs, report: ReportViolation) -> None:
    for rules in ingress_by_group(args.resources).values():
        opening = internet_opening(rules, SSH_PORT)
        if opening is None:
            continue
        for rule in opening.rules:
            report(
                f"{rule.where} allows {rule.ports_text()} from {', '.join(rule.public_cidrs())}, so SSH is "
                f"open to the internet ({opening.describe(SSH_PORT)}): remove it and use SSM Session "
                "Manager, or allow port 22 only from a bastion or VPN range",
                rule.urn,
            )


no_ssh_from_internet = StackValidationPolicy(
    name="no-ssh-from-internet",
    display_name="No SSH from the internet",
    description=(
        "No security group (inline rules, default group, SecurityGroupRule, vpc.SecurityGroupIngressRule) "
        f"allows TCP port 22 from sources that together cover the internet: {THRESHOLD_TEXT}."
    ),
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
