"""Load balancing for LLM traffic: HTTPS only, idle timeouts that let streams live, time to load models."""

from __future__ import annotations

from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)

from llmpolicies import props as p

LOAD_BALANCERS_V2 = frozenset({"aws:lb/loadBalancer:LoadBalancer", "aws:alb/loadBalancer:LoadBalancer"})
CLASSIC_LOAD_BALANCER = "aws:elb/loadBalancer:LoadBalancer"
LISTENERS = frozenset({"aws:lb/listener:Listener", "aws:alb/listener:Listener"})
LISTENER_RULES = frozenset({"aws:lb/listenerRule:ListenerRule", "aws:alb/listenerRule:ListenerRule"})
AUTOSCALING_GROUP = "aws:autoscaling/group:Group"
ASG_ATTACHMENTS = frozenset(
    {
        "aws:autoscaling/attachment:Attachment",
        "aws:autoscaling/trafficSourceAttachment:TrafficSourceAttachment",
    }
)
# AWS defaults when the property is not set.
DEFAULT_IDLE_TIMEOUT = 60
DEFAULT_GRACE_PERIOD = 300


def _minimum(config: Any, default: int) -> int:
    value = p.as_int((config or {}).get("minimumSeconds"))
    return value if value is not None else default


def _minimum_schema(default: int, why: str) -> PolicyConfigSchema:
    return PolicyConfigSchema(
        properties={
            "minimumSeconds": {"type": "integer", "minimum": 0, "default": default, "description": why}
        }
    )


# ---------------------------------------------------------------------------
# alb-https-only


def _safe_action(action: Any) -> bool:
    """Over plain HTTP a listener may only redirect to HTTPS or answer a fixed response."""
    kind = p.get(action, "type")
    if kind == "fixed-response":
        return True
    return kind == "redirect" and str(p.get(action, "redirect", "protocol") or "").upper() == "HTTPS"


def _is_application_lb(listener: Any) -> bool:
    for dependency in listener.property_dependencies.get("loadBalancerArn", []):
        if dependency.resource_type in LOAD_BALANCERS_V2:
            return (p.get(dependency.props, "loadBalancerType") or "application") == "application"
    # The load balancer is not in this program: an HTTP/HTTPS (or unset) protocol means an ALB.
    return str(p.get(listener.props, "protocol") or "HTTP").upper() in ("HTTP", "HTTPS")


def _validate_https(args: StackValidationArgs, report: ReportViolation) -> None:
    plain_listeners: dict[str, Any] = {}
    for resource in args.resources:
        if resource.resource_type not in LISTENERS or not _is_application_lb(resource):
            continue
        # An ALB listener without a protocol is HTTP.
        protocol = str(p.get(resource.props, "protocol") or "HTTP").upper()
        if protocol != "HTTP":
            continue
        plain_listeners[resource.urn] = resource
        port = p.as_int(p.get(resource.props, "port"))
        actions = p.as_list(p.get(resource.props, "defaultActions"))
        unsafe = sorted({str(p.get(action, "type")) for action in actions if not _safe_action(action)})
        if unsafe:
            report(
                f"HTTP listener on port {port if port is not None else '?'} answers with "
                f"{', '.join(unsafe)}, so "
                "prompts, completions and API keys cross the network unencrypted: serve HTTPS with an ACM "
                'certificate and make this listener redirect to HTTPS (redirect protocol "HTTPS", HTTP_301)',
                resource.urn,
            )
    for resource in args.resources:
        if resource.resource_type not in LISTENER_RULES:
            continue
        on_plain = [
            d for d in resource.property_dependencies.get("listenerArn", []) if d.urn in plain_listeners
        ]
        if not on_plain:
            continue
        unsafe = sorted(
            {
                str(p.get(a, "type"))
                for a in p.as_list(p.get(resource.props, "actions"))
                if not _safe_action(a)
            }
        )
        if unsafe:
            report(
                f"listener rule on the plain-HTTP listener '{on_plain[0].name}' answers with "
                f"{', '.join(unsafe)}: "
                "attach it to the HTTPS listener instead",
                resource.urn,
            )


alb_https_only = StackValidationPolicy(
    name="alb-https-only",
    display_name="ALB serves HTTPS only",
    description=(
        "Application load balancer listeners serve HTTPS; a plain-HTTP listener (and its rules) may only "
        "redirect to HTTPS or answer a fixed response."
    ),
    validate=_validate_https,
    enforcement_level=EnforcementLevel.MANDATORY,
    severity=Severity.HIGH,
    tags=["security", "aws"],
    remediation_steps=(
        'Add an HTTPS listener (protocol "HTTPS", an ACM certificate_arn, a TLS 1.2+ ssl_policy) that '
        "forwards "
        'to the target group; change the HTTP listener\'s default action to redirect with protocol "HTTPS".'
    ),
)


# ---------------------------------------------------------------------------
# lb-idle-timeout-streaming


def _validate_idle_timeout(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type in LOAD_BALANCERS_V2:
        if (p.get(args.props, "loadBalancerType") or "application") != "application":
            return  # NLB idle timeouts are fixed (350 s) and not set here.
        fix = "idle_timeout"
    elif args.resource_type == CLASSIC_LOAD_BALANCER:
        fix = "idle_timeout"
    else:
        return
    minimum = _minimum(args.get_config(), 300)
    if p.is_unknown_at(args.props, "idleTimeout"):
        report(p.cannot_verify("idle_timeout", f"write idle_timeout={minimum} or more literally"), None)
        return
    timeout = p.as_int(p.get(args.props, "idleTimeout"))
    effective = DEFAULT_IDLE_TIMEOUT if timeout is None else timeout
    if effective >= minimum:
        return
    shown = f"{effective} s (the AWS default)" if timeout is None else f"{effective} s"
    report(
        f"idle timeout is {shown}: a long prefill or a queued stream sends nothing for longer than that and "
        "the "
        f"load balancer cuts it: set {fix}={minimum} or more (and the server's keep-alive above it)",
        None,
    )


lb_idle_timeout_streaming = ResourceValidationPolicy(
    name="lb-idle-timeout-streaming",
    display_name="Load balancer idle timeout fits streaming",
    description=(
        "Application and classic load balancers keep idle connections for at least 300 s, so streams live."
    ),
    validate=_validate_idle_timeout,
    enforcement_level=EnforcementLevel.MANDATORY,
    severity=Severity.MEDIUM,
    tags=["reliability", "inference"],
    config_schema=_minimum_schema(300, "Shortest idle timeout accepted, in seconds."),
    remediation_steps=(
        "aws.lb.LoadBalancer(idle_timeout=300 or more). Keep the target's keep-alive above it "
        "(vLLM: VLLM_HTTP_TIMEOUT_KEEP_ALIVE) so the target never closes first and clients see no 502s."
    ),
)


# ---------------------------------------------------------------------------
# asg-health-grace-period


def _behind_load_balancer(resources: list[Any]) -> set[str]:
    groups: set[str] = set()
    for resource in resources:
        if resource.resource_type == AUTOSCALING_GROUP:
            raw = p.raw(resource.props)
            if any(raw.get(key) for key in ("targetGroupArns", "loadBalancers", "trafficSources")):
                groups.add(resource.urn)
        elif resource.resource_type in ASG_ATTACHMENTS:
            for dependency in resource.property_dependencies.get("autoscalingGroupName", []):
                groups.add(dependency.urn)
    return groups


def _validate_grace(args: StackValidationArgs, report: ReportViolation) -> None:
    minimum = _minimum(args.get_config(), 600)
    behind = _behind_load_balancer(args.resources)
    for resource in args.resources:
        if resource.urn not in behind:
            continue
        if p.is_unknown_at(resource.props, "healthCheckGracePeriod"):
            report(
                p.cannot_verify(
                    "health_check_grace_period",
                    f"write health_check_grace_period={minimum} or more literally",
                ),
                resource.urn,
            )
            continue
        grace = p.as_int(p.get(resource.props, "healthCheckGracePeriod"))
        effective = DEFAULT_GRACE_PERIOD if grace is None else grace
        if effective >= minimum:
            continue
        shown = f"{effective} s (the AWS default)" if grace is None else f"{effective} s"
        report(
            f"health_check_grace_period is {shown} for a group behind a load balancer: vLLM and TGI refuse "
            "connections while they pull the image and download and load the model, so new instances are "
            f"marked unhealthy and replaced in a loop: set health_check_grace_period={minimum} or more "
            "(enough for pull, download and load)",
            resource.urn,
        )


asg_health_grace_period = StackValidationPolicy(
    name="asg-health-grace-period",
    display_name="ASG grace period covers model loading",
    description=(
        "An Auto Scaling group behind a load balancer gives new instances a health check grace period of at "
        "least 600 s."
    ),
    validate=_validate_grace,
    enforcement_level=EnforcementLevel.MANDATORY,
    severity=Severity.HIGH,
    tags=["reliability", "inference"],
    config_schema=_minimum_schema(600, "Shortest grace period accepted, in seconds."),
    remediation_steps=(
        "aws.autoscaling.Group(health_check_grace_period=...) of at least 600 s, more for large models or "
        "cold "
        "caches: image pull + weight download + load + compile."
    ),
)

POLICIES = [alb_https_only, lb_idle_timeout_streaming, asg_health_grace_period]


# ---------------------------------------------------------------------------
# alb-access-logs, alb-deletion-protection: an internet-facing load balancer is the front door.


def _internet_facing(props: Any) -> bool | None:
    """True unless `internal` is true; None when `internal` is unknown during preview."""
    if p.is_unknown_at(props, "internal"):
        return None
    return p.get(props, "internal") is not True


def _is_checked_front_door(args: ResourceValidationArgs, report: ReportViolation) -> bool:
    """An internet-facing v2 load balancer these checks apply to; an unknown `internal` is reported."""
    if args.resource_type not in LOAD_BALANCERS_V2:
        return False
    facing = _internet_facing(args.props)
    if facing is None:
        report(p.cannot_verify("internal", "write internal=True or False literally"), None)
    return facing is True


def _validate_access_logs(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if not _is_checked_front_door(args, report):
        return
    if p.is_unknown_at(args.props, "accessLogs", "enabled"):
        report(p.cannot_verify("access_logs.enabled", "write access_logs enabled=True literally"), None)
        return
    logs = p.get(args.props, "accessLogs")
    if logs is None or p.get(logs, "enabled") is not True or p.raw(logs).get("bucket") in (None, ""):
        report(
            "the internet-facing load balancer writes no access logs, so no request that reached the API can "
            "be traced afterwards: set access_logs={'bucket': <bucket>, 'enabled': True} (the bucket's "
            "policy must let the region's ELB log delivery write)",
            None,
        )


alb_access_logs = ResourceValidationPolicy(
    name="alb-access-logs",
    display_name="Internet-facing load balancers log access",
    description="Internet-facing application and network load balancers write access logs to S3.",
    validate=_validate_access_logs,
    enforcement_level=EnforcementLevel.MANDATORY,
    severity=Severity.MEDIUM,
    tags=["security", "audit", "aws"],
    remediation_steps=(
        "Create an S3 bucket with a bucket policy that lets the ELB log delivery service "
        "(logdelivery.elasticloadbalancing.amazonaws.com) put objects under the prefix, and set "
        "access_logs={'bucket': bucket.id, 'prefix': ..., 'enabled': True} on the load balancer."
    ),
)


def _validate_deletion_protection(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if not _is_checked_front_door(args, report):
        return
    if p.is_unknown_at(args.props, "enableDeletionProtection"):
        report(
            p.cannot_verify("enable_deletion_protection", "write enable_deletion_protection=True literally"),
            None,
        )
    elif p.get(args.props, "enableDeletionProtection") is not True:
        report(
            "the internet-facing load balancer can be deleted by one API call (its DNS name, which clients "
            "use, is then gone for good): set enable_deletion_protection=True",
            None,
        )


alb_deletion_protection = ResourceValidationPolicy(
    name="alb-deletion-protection",
    display_name="Internet-facing load balancers are protected from deletion",
    description="Internet-facing application and network load balancers have deletion protection on.",
    validate=_validate_deletion_protection,
    enforcement_level=EnforcementLevel.MANDATORY,
    severity=Severity.MEDIUM,
    tags=["reliability", "aws"],
    remediation_steps=(
        "enable_deletion_protection=True on the load balancer; `pulumi destroy` then needs it turned off "
        "first, which is the point."
    ),
)

POLICIES.extend([alb_access_logs, alb_deletion_protection])
