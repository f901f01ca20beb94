"""Exposure: an engine that serves inference without its key takes traffic from its load balancer only."""

from __future__ import annotations

from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)

from llmpolicies.network import IngressRule, attached_groups, ingress_by_group, load_balancer_groups
from llmpolicies.servers import CONTAINER, InferenceServer, extra_images, inference_servers


def other_sources(rule: IngressRule, lb_groups: set[str]) -> list[str]:
    """The sources of a rule that are not a load balancer's security group."""
    sources = [*rule.cidrs, *(group for group in rule.source_groups if group not in lb_groups)]
    return [*sources, *rule.other_sources]


def _short(source: str) -> str:
    """A URN shows as its resource name."""
    return source.rsplit("::", 1)[-1] if source.startswith("urn:") else source


def exposure_problems(
    resource: Any, server: InferenceServer, rules_by_group: dict[str, Any], lb_groups: set[str]
) -> list[str]:
    paths = ", ".join(server.engine.unauthenticated_paths)
    subject = f"{server.describe()} answers {paths} without its API key on container port {server.api_port}"
    host_ports = sorted({pub.host_port for pub in server.api_publishing() if pub.host_port is not None})
    attachment = attached_groups(resource)
    problems = []
    for host_port in host_ports:
        for group in attachment.groups:
            for rule in rules_by_group.get(group.urn, []):
                if not rule.covers(host_port):
                    continue
                sources = other_sources(rule, lb_groups)
                if sources:
                    problems.append(
                        f"{subject} (host port {host_port}), and {rule.where} lets "
                        f"{', '.join(_short(s) for s in sources)} reach it: allow TCP {host_port} only from "
                        "the load balancer's security group, and give monitoring a separate metrics port "
                        "(a collector re-exposing /metrics)"
                    )
    return problems


def _validate(args: StackValidationArgs, report: ReportViolation) -> None:
    rules_by_group = ingress_by_group(args.resources)
    lb_groups = load_balancer_groups(args.resources)
    images = extra_images(args.get_config())
    for resource in args.resources:
        if resource.resource_type == CONTAINER:
            continue  # A Docker host has no security group; publishing there is a separate question.
        for server in inference_servers(resource, images):
            if not server.engine.unauthenticated_paths or server.api_port is None:
                continue
            for problem in exposure_problems(resource, server, rules_by_group, lb_groups):
                report(problem, resource.urn)


engine_port_only_from_load_balancer = StackValidationPolicy(
    name="engine-port-only-from-load-balancer",
    display_name="Engines with unauthenticated paths take traffic from their load balancer only",
    description=(
        "An inference server whose engine answers some paths without its API key (vLLM: /invocations, "
        "/tokenize, /metrics; Ollama: every path) may be reached on its API port only from a load "
        "balancer's security group, which forwards the authenticated routes alone. Any CIDR, prefix list or "
        "other security group on that port can run inference without the key."
    ),
    validate=_validate,
    enforcement_level=EnforcementLevel.MANDATORY,
    severity=Severity.HIGH,
    tags=["security", "network"],
    remediation_steps=(
        "Allow the engine's API port only from the load balancer's security group. Scrape metrics from "
        "a separate port (an OpenTelemetry Collector on the instance re-exposing the engine's /metrics) "
        "that the monitoring CIDRs or security group may reach."
    ),
)

POLICIES = [engine_port_only_from_load_balancer]
