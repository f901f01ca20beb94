"""Observability: each inference server's metrics reach monitoring, and only monitoring."""

from __future__ import annotations

from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)

from llmpolicies import props as p
from llmpolicies.engines import ENGINE_IMAGES_SCHEMA
from llmpolicies.netspace import THRESHOLD_TEXT
from llmpolicies.network import (
    IngressRule,
    attached_groups,
    ingress_by_group,
    internet_opening,
    is_internet,
    load_balancer_groups,
    within,
)
from llmpolicies.servers import CONTAINER, InferenceServer, extra_images, inference_servers

_LOOPBACK = ("127.", "::1", "localhost")


def _monitoring_source(rule: IngressRule, monitoring_cidrs: list[str], lb_groups: set[str]) -> bool:
    """A source that is not the internet and not a load balancer: a CIDR (inside `monitoringCidrs` when
    configured), a security group that is not a load balancer's, a prefix list, or the group itself."""
    for cidr in rule.cidrs:
        if is_internet(cidr):
            continue
        if not monitoring_cidrs or within(cidr, monitoring_cidrs):
            return True
    if any(group not in lb_groups for group in rule.source_groups):
        return True
    return bool(rule.other_sources)


def _re_exposing_port(
    server: InferenceServer, rules: list[IngressRule], monitoring_cidrs: list[str], lb_groups: set[str]
) -> int | None:
    """A port monitoring may reach on the instance that no port of the server itself is: something else
    on the host (a collector or an agent that scrapes the server on loopback) re-exposes its metrics
    there. One TCP port per rule, never the internet; None when there is none."""
    own = {pub.host_port for pub in server.publish} | {server.api_port, server.metrics_port}
    for rule in rules:
        port = rule.from_port
        if rule.protocol.lower() not in ("tcp", "6") or port is None or port != rule.to_port or port in own:
            continue
        if internet_opening([rule], port) is None and _monitoring_source(rule, monitoring_cidrs, lb_groups):
            return port
    return None


def _fix_publish(server: InferenceServer) -> str:
    port = server.metrics_port
    if server.origin == "the container":
        return f"add a ports entry with internal={port}"
    return f"add -p {port}:{port} to its docker run"


def _check_server(
    resource: Any,
    server: InferenceServer,
    rules_by_group: dict[str, list[IngressRule]],
    monitoring_cidrs: list[str],
    lb_groups: set[str],
) -> list[str]:
    port = server.metrics_port
    subject = f"{server.describe()} serves metrics on container port {port}"
    publishing = server.metrics_publishing()
    if not publishing:
        return [f"{subject}, which it does not publish: {_fix_publish(server)}"]
    if resource.resource_type == CONTAINER:
        # A container on a Docker host has no security group; publishing is all it takes.
        return []
    host_ports = sorted({pub.host_port for pub in publishing if pub.host_port is not None})
    if not host_ports:
        return [
            f"{subject}, published on a random host port: publish it on a fixed one ({_fix_publish(server)})"
        ]
    attachment = attached_groups(resource)
    rules = [rule for group in attachment.groups for rule in rules_by_group.get(group.urn, [])]
    if all(pub.host_ip.startswith(_LOOPBACK) for pub in publishing):
        if _re_exposing_port(server, rules, monitoring_cidrs, lb_groups) is not None:
            return []
        return [
            f"{subject}, published only on the loopback interface, where no security group rule can let "
            f"monitoring in: publish it on the instance's address ({_fix_publish(server)}), or re-expose it "
            "with a collector on the host on a port that monitoring alone may reach"
        ]
    names = ", ".join(f"'{group.name}'" for group in attachment.groups) or "none in this program"
    problems = []
    for host_port in host_ports:
        covering = [rule for rule in rules if rule.covers(host_port)]
        opening = internet_opening(covering, host_port)
        for rule in opening.rules if opening else ():
            problems.append(
                f"{subject} (host port {host_port}), and {rule.where} opens it to "
                f"{', '.join(rule.public_cidrs())} ({opening.describe(host_port) if opening else ''}): allow "
                "it only from your monitoring CIDRs or security group"
            )
        if opening or any(_monitoring_source(rule, monitoring_cidrs, lb_groups) for rule in covering):
            continue
        if attachment.external and not attachment.groups:
            problems.append(
                f"{subject} (host port {host_port}); its security groups ({', '.join(attachment.external)}) "
                "are not declared in this program, so nothing shows that monitoring may reach it: declare "
                "the "
                f"rule here (ingress on TCP {host_port} from your monitoring CIDRs or security group)"
            )
            continue
        wanted = f" inside {', '.join(monitoring_cidrs)}" if monitoring_cidrs else ""
        problems.append(
            f"{subject} (host port {host_port}), but no ingress rule of its security groups ({names}) allows "
            f"TCP {host_port} from a monitoring source{wanted}: add one from your monitoring CIDRs or "
            "security group (a load balancer's group does not count)"
        )
    return problems


def _validate(args: StackValidationArgs, report: ReportViolation) -> None:
    config = args.get_config() or {}
    monitoring_cidrs = [str(cidr) for cidr in p.as_list(config.get("monitoringCidrs"))]
    rules_by_group = ingress_by_group(args.resources)
    lb_groups = load_balancer_groups(args.resources)
    images = extra_images(config)
    for resource in args.resources:
        for server in inference_servers(resource, images):
            if server.metrics_port is None:
                continue  # Ollama has no metrics endpoint (ollama/ollama#3144): nothing to reach.
            if server.engine.unauthenticated_paths and server.metrics_port == server.api_port:
                # vLLM serves /metrics on its API port, which must face the load balancer only
                # (engine-port-only-from-load-balancer): monitoring scrapes a collector's port instead.
                continue
            for problem in _check_server(resource, server, rules_by_group, monitoring_cidrs, lb_groups):
                report(problem, resource.urn)


metrics_port_reachable = StackValidationPolicy(
    name="metrics-port-reachable",
    display_name="Metrics reach monitoring only",
    description=(
        "Every inference server's metrics port (vLLM: its API port, 8000; TGI: --prometheus-port, 9000) is "
        "published by its container and, on EC2, allowed by its security group from a monitoring source, and "
        "never from sources that together cover the internet (" + THRESHOLD_TEXT + "). A port published on "
        "loopback only counts when monitoring may reach another port of the instance that no server "
        "publishes (a collector on the host that scrapes it and re-exposes its metrics)."
    ),
    validate=_validate,
    enforcement_level=EnforcementLevel.MANDATORY,
    severity=Severity.MEDIUM,
    tags=["observability", "security"],
    config_schema=PolicyConfigSchema(
        properties={
            "monitoringCidrs": {
                "type": "array",
                "items": {"type": "string"},
                "description": "CIDRs your Prometheus or agents scrape from. When set, a CIDR rule counts as "
                "a monitoring source only inside one of them; unset, any CIDR but the internet counts.",
            },
            "engineImages": ENGINE_IMAGES_SCHEMA,
        }
    ),
    remediation_steps=(
        "Publish the metrics port (-p 9000:9000 for TGI's Prometheus listener; vLLM serves /metrics on "
        "8000). "
        "Add a security group ingress rule for that port from the monitoring CIDRs or the monitoring "
        "security group, never from 0.0.0.0/0 or ::/0. Ollama has no metrics endpoint and is not checked."
    ),
)

POLICIES = [metrics_port_reachable]
