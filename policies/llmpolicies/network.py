"""Security group ingress, from every form a program can write it in, as one list per group.

Forms read: inline `ingress` of `aws.ec2.SecurityGroup` and `aws.ec2.DefaultSecurityGroup`,
`aws.ec2.SecurityGroupRule`, and `aws.vpc.SecurityGroupIngressRule`. Whether a set of
sources is "the internet" is measured by public address space (`netspace`), over the
union of every rule of a group that opens the port, so splitting 0.0.0.0/0 into halves
or across rules changes nothing.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from llmpolicies import props as p
from llmpolicies.netspace import Reach, public_reach

SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
DEFAULT_SECURITY_GROUP = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
# Resources whose inline `ingress` list is a security group's rules.
GROUP_TYPES = frozenset({SECURITY_GROUP, DEFAULT_SECURITY_GROUP})
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
GROUP_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
LOAD_BALANCERS = frozenset(
    {
        "aws:lb/loadBalancer:LoadBalancer",
        "aws:alb/loadBalancer:LoadBalancer",
        "aws:elb/loadBalancer:LoadBalancer",
    }
)
# Protocols that carry TCP traffic: "-1"/"all" is every protocol and every port.
_ALL_PROTOCOLS = frozenset({"-1", "all"})
_TCP = frozenset({"tcp", "6"})
# Where EC2 resources name their security groups.
SECURITY_GROUP_PROPERTIES = (
    "vpcSecurityGroupIds",
    "securityGroups",
    "securityGroupNames",
    "networkInterfaces",
)


@dataclass(frozen=True)
class IngressRule:
    where: str
    protocol: str
    from_port: int | None
    to_port: int | None
    cidrs: tuple[str, ...] = ()
    # URNs of source security groups declared in the program; `other_sources` counts those that are not
    # (literal ids, prefix lists, `self`).
    source_groups: tuple[str, ...] = ()
    other_sources: tuple[str, ...] = ()
    # The resource that declares the rule (set by `ingress_by_group`).
    urn: str = ""

    def covers(self, port: int) -> bool:
        protocol = self.protocol.lower()
        if protocol in _ALL_PROTOCOLS:
            return True
        if protocol not in _TCP:
            return False
        if self.from_port is None or self.to_port is None:
            return False
        return self.from_port <= port <= self.to_port

    def public_cidrs(self) -> list[str]:
        """The CIDRs of this rule that hold any public address space."""
        reaches = ((cidr, public_reach([cidr])) for cidr in self.cidrs)
        return [cidr for cidr, reach in reaches if reach.ipv4_public or reach.ipv6_public]

    def ports_text(self) -> str:
        if self.protocol.lower() in _ALL_PROTOCOLS:
            return "all ports"
        if self.from_port == self.to_port:
            return f"port {self.from_port}"
        return f"ports {self.from_port}-{self.to_port}"


def is_internet(cidr: str) -> bool:
    """One CIDR that alone reaches the internet (0.0.0.0/0, 0.0.0.0/1, ::/0, a public /7 ...)."""
    return public_reach([cidr]).is_internet


@dataclass(frozen=True)
class Opening:
    """Rules of one security group that together open a port to the internet."""

    rules: tuple[IngressRule, ...]
    reach: Reach

    def describe(self, port: int) -> str:
        sources = ", ".join(cidr for rule in self.rules for cidr in rule.public_cidrs())
        return f"port {port} is open to {sources}: together {self.reach.describe()}, which is the internet"


def internet_opening(rules: Iterable[IngressRule], port: int) -> Opening | None:
    """The rules that open `port`, when the union of their CIDRs covers the internet."""
    covering = [rule for rule in rules if rule.covers(port)]
    reach = public_reach(cidr for rule in covering for cidr in rule.cidrs)
    if not reach.is_internet:
        return None
    return Opening(tuple(rule for rule in covering if rule.public_cidrs()), reach)


def within(cidr: str, ranges: Iterable[str]) -> bool:
    try:
        network = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return False
    for candidate in ranges:
        try:
            outer = ipaddress.ip_network(candidate, strict=False)
        except ValueError:
            continue
        if network.version == outer.version and network.subnet_of(outer):  # type: ignore[arg-type]
            return True
    return False


def _strings(value: Any) -> list[str]:
    return [str(item) for item in p.as_list(value) if not p.is_unknown(item) and item is not None]


def _unknown_count(value: Any) -> int:
    return sum(1 for item in p.as_list(value) if p.is_unknown(item))


def rules_in_resource(
    resource_type: str, props: Any, name: str, dependencies: dict[str, list[Any]] | None = None
) -> list[IngressRule]:
    """The ingress rules one resource declares. `dependencies`: property -> resources (in AnalyzeStack)."""
    deps = dependencies or {}

    def group_urns(key: str) -> tuple[str, ...]:
        return tuple(resource.urn for resource in deps.get(key, []) if resource.resource_type in GROUP_TYPES)

    if resource_type in GROUP_TYPES:
        rules = []
        for index, rule in enumerate(p.as_list(p.get(props, "ingress"))):
            others = [*_strings(p.get(rule, "securityGroups")), *_strings(p.get(rule, "prefixListIds"))]
            if p.get(rule, "self") is True:
                others.append("self")
            unknown_groups = _unknown_count(p.get(rule, "securityGroups"))
            rules.append(
                IngressRule(
                    where=f"inline ingress rule {index + 1} of security group '{name}'",
                    protocol=str(p.get(rule, "protocol") or ""),
                    from_port=p.as_int(p.get(rule, "fromPort")),
                    to_port=p.as_int(p.get(rule, "toPort")),
                    cidrs=tuple(
                        _strings(p.get(rule, "cidrBlocks")) + _strings(p.get(rule, "ipv6CidrBlocks"))
                    ),
                    # Inline rules share one dependency list ("ingress"): which group feeds which rule is
                    # not recorded, so unknown group ids in a rule are matched against all of them.
                    source_groups=group_urns("ingress") if unknown_groups else (),
                    other_sources=tuple(others),
                )
            )
        return rules
    if resource_type == INGRESS_RULE:
        cidrs = [c for c in (p.as_str(p.get(props, "cidrIpv4")), p.as_str(p.get(props, "cidrIpv6"))) if c]
        others = [s for s in (p.as_str(p.get(props, "prefixListId")),) if s]
        referenced = p.get(props, "referencedSecurityGroupId")
        sources = group_urns("referencedSecurityGroupId")
        if referenced is not None and not sources:
            others.append(str(referenced))
        if p.is_unknown(p.raw(props).get("referencedSecurityGroupId")) and not sources:
            others.append("a security group")
        return [
            IngressRule(
                where=f"security group ingress rule '{name}'",
                protocol=str(p.get(props, "ipProtocol") or ""),
                from_port=p.as_int(p.get(props, "fromPort")),
                to_port=p.as_int(p.get(props, "toPort")),
                cidrs=tuple(cidrs),
                source_groups=sources,
                other_sources=tuple(others),
            )
        ]
    if resource_type == GROUP_RULE and p.get(props, "type") == "ingress":
        others = _strings(p.get(props, "prefixListIds"))
        if p.get(props, "self") is True:
            others.append("self")
        sources = group_urns("sourceSecurityGroupId")
        source = p.raw(props).get("sourceSecurityGroupId")
        if source is not None and not sources:
            others.append(str(p.known(source) or "a security group"))
        return [
            IngressRule(
                where=f"security group rule '{name}'",
                protocol=str(p.get(props, "protocol") or ""),
                from_port=p.as_int(p.get(props, "fromPort")),
                to_port=p.as_int(p.get(props, "toPort")),
                cidrs=tuple(_strings(p.get(props, "cidrBlocks")) + _strings(p.get(props, "ipv6CidrBlocks"))),
                source_groups=sources,
                other_sources=tuple(others),
            )
        ]
    return []


@dataclass
class Attachment:
    """The security groups a resource is placed in."""

    groups: list[Any] = field(default_factory=list)  # PolicyResources of type SecurityGroup
    # Group ids or names given literally: groups this program does not declare, whose rules it cannot see.
    external: list[str] = field(default_factory=list)


def attached_groups(resource: Any) -> Attachment:
    attachment = Attachment()
    seen: set[str] = set()
    for key in SECURITY_GROUP_PROPERTIES:
        for dependency in resource.property_dependencies.get(key, []):
            if dependency.resource_type in GROUP_TYPES and dependency.urn not in seen:
                seen.add(dependency.urn)
                attachment.groups.append(dependency)
    literal = [
        *_strings(p.get(resource.props, "vpcSecurityGroupIds")),
        *_strings(p.get(resource.props, "securityGroups")),
        *_strings(p.get(resource.props, "securityGroupNames")),
    ]
    for interface in p.as_list(p.get(resource.props, "networkInterfaces")):
        literal.extend(_strings(p.get(interface, "securityGroups")))
    attachment.external = sorted(set(literal))
    return attachment


def ingress_by_group(resources: list[Any]) -> dict[str, list[IngressRule]]:
    """Every ingress rule in the stack, filed under the URN of the security group it belongs to."""
    rules: dict[str, list[IngressRule]] = {}
    for resource in resources:
        found = rules_in_resource(
            resource.resource_type, resource.props, resource.name, resource.property_dependencies
        )
        if not found:
            continue
        found = [replace(rule, urn=resource.urn) for rule in found]
        if resource.resource_type in GROUP_TYPES:
            owners = [resource.urn]
        else:
            owners = [
                dependency.urn
                for dependency in resource.property_dependencies.get("securityGroupId", [])
                if dependency.resource_type in GROUP_TYPES
            ]
        # A rule on a group this program does not declare (a literal id) is a group of its own.
        for owner in owners or [resource.urn]:
            rules.setdefault(owner, []).extend(found)
    return rules


def load_balancer_groups(resources: list[Any]) -> set[str]:
    """Security groups of load balancers: traffic comes from them, not monitoring."""
    groups: set[str] = set()
    for resource in resources:
        if resource.resource_type in LOAD_BALANCERS:
            for dependency in resource.property_dependencies.get("securityGroups", []):
                groups.add(dependency.urn)
    return groups
