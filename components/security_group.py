"""Security-group rules, one style for every component: each rule its own resource.

Rules are `aws.vpc.SecurityGroupIngressRule` / `SecurityGroupEgressRule`
resources, never inline `ingress=`/`egress=` lists: the AWS provider documents
the separate resources as the way that keeps rules one CIDR each, with their own
descriptions and tags, and a changed rule replaces only itself. Mixing the two
styles on one group makes them fight over its rules, so no component uses inline.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

ALL_PROTOCOLS = "-1"


@dataclass(frozen=True)
class Rule:
    """One rule: `key` names the resource (`<prefix>-<key>`); one source or destination."""

    key: str
    description: str
    port: int | None = None  # None with ALL_PROTOCOLS: every port
    ip_protocol: str = "tcp"
    cidr_ipv4: pulumi.Input[str] | None = None
    referenced_security_group_id: pulumi.Input[str] | None = None


def all_outbound(description: str, key: str = "egress") -> Rule:
    return Rule(key, description, ip_protocol=ALL_PROTOCOLS, cidr_ipv4="0.0.0.0/0")


def monitoring_rules(
    key: str, what: str, port: int, cidrs: Sequence[str], security_group_id: str | None
) -> list[Rule]:
    """`port` from each monitoring CIDR (`<key>-<index>`) and from the monitoring security group
    (`<key>-sg`), when given: what every instance's metrics listener takes, and nothing else."""
    rules = [
        Rule(f"{key}-{index}", f"{what} from monitoring {cidr}", port, cidr_ipv4=cidr)
        for index, cidr in enumerate(cidrs)
    ]
    if security_group_id:
        rules.append(
            Rule(
                f"{key}-sg",
                f"{what} from the monitoring security group",
                port,
                referenced_security_group_id=security_group_id,
            )
        )
    return rules


def add_rules(
    prefix: str,
    group: aws.ec2.SecurityGroup,
    opts: pulumi.ResourceOptions,
    ingress: Sequence[Rule] = (),
    egress: Sequence[Rule] = (),
) -> None:
    for kind, rules in (
        (aws.vpc.SecurityGroupIngressRule, ingress),
        (aws.vpc.SecurityGroupEgressRule, egress),
    ):
        for rule in rules:
            kind(
                f"{prefix}-{rule.key}",
                security_group_id=group.id,
                description=rule.description,
                ip_protocol=rule.ip_protocol,
                from_port=rule.port,
                to_port=rule.port,
                cidr_ipv4=rule.cidr_ipv4,
                referenced_security_group_id=rule.referenced_security_group_id,
                opts=opts,
            )
