"""`ServingLoadBalancer`: a public Application Load Balancer in front of an inference fleet.

Forwards only the paths an OpenAI client and a health probe need; everything
else (the engine's `/metrics` above all) gets a fixed 404 at the edge. HTTPS
with an ACM certificate, HTTP redirected to it; plain HTTP only when the caller
says so explicitly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.security_group import Rule, add_rules

HTTPS_PORT = 443
HTTP_PORT = 80
# TLS 1.3 and 1.2 only: the ALB's recommended policy.
DEFAULT_SSL_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
FORWARD_RULE_PRIORITY = 10


@dataclass(frozen=True)
class LoadBalancerArgs:
    vpc_id: pulumi.Input[str]
    # Target egress is opened to the VPC's range on the target port only.
    vpc_cidr_block: pulumi.Input[str]
    public_subnet_ids: pulumi.Input[Sequence[str]]
    target_port: int
    health_check_path: str
    # Path patterns forwarded to the targets; every other path answers 404.
    forwarded_paths: Sequence[str]
    # Who may reach the listeners. Empty means nobody: there is no 0.0.0.0/0 default.
    allowed_cidrs: Sequence[str]
    certificate_arn: str | None
    allow_plain_http: bool = False
    # Seconds a connection may sit without a byte before the ALB closes it.
    # Long prefills and queued streams send nothing for a while: 60 s cuts them.
    idle_timeout_seconds: int = 300
    # How long a deregistering target keeps its in-flight requests: at least the engine's drain.
    deregistration_delay_seconds: int = 120
    health_check_interval_seconds: int = 15
    health_check_timeout_seconds: int = 5
    healthy_threshold: int = 2
    unhealthy_threshold: int = 3
    ssl_policy: str = DEFAULT_SSL_POLICY
    # An internet-facing front door: one API call must not delete it (and its DNS name with it).
    deletion_protection: bool = True
    # Where the ALB writes access logs (an AccessLogBucket's name and its policy); None: no access logs.
    access_logs_bucket: pulumi.Input[str] | None = None
    access_logs_prefix: str = "alb"
    access_logs_ready: pulumi.Resource | None = None
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.certificate_arn is None and not self.allow_plain_http:
            raise ValueError(
                "an HTTPS listener needs certificate_arn; plain HTTP needs allow_plain_http=True"
            )

    @property
    def scheme(self) -> str:
        return "https" if self.certificate_arn else "http"


def _not_found() -> aws.lb.ListenerDefaultActionArgs:
    return aws.lb.ListenerDefaultActionArgs(
        type="fixed-response",
        fixed_response=aws.lb.ListenerDefaultActionFixedResponseArgs(
            content_type="text/plain", message_body="Not Found", status_code="404"
        ),
    )


class ServingLoadBalancer(pulumi.ComponentResource):
    """ALB, its security group, the target group and the listeners."""

    dns_name: pulumi.Output[str]
    arn_suffix: pulumi.Output[str]
    security_group_id: pulumi.Output[str]
    target_group_arn: pulumi.Output[str]
    target_group_arn_suffix: pulumi.Output[str]
    base_url: pulumi.Output[str]

    def __init__(self, name: str, args: LoadBalancerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llmdeploy:components:ServingLoadBalancer", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(args.tags)
        listener_ports = [HTTP_PORT] + ([HTTPS_PORT] if args.certificate_arn else [])

        security_group = aws.ec2.SecurityGroup(
            f"{name}-sg",
            description=f"{name}: clients to the load balancer, load balancer to the targets",
            vpc_id=args.vpc_id,
            tags={**tags, "Name": f"{name}-alb"},
            opts=child,
        )
        add_rules(
            f"{name}-sg",
            security_group,
            child,
            ingress=[
                Rule(f"clients-{port}-{index}", f"clients on {port} from {cidr}", port, cidr_ipv4=cidr)
                for port in listener_ports
                for index, cidr in enumerate(args.allowed_cidrs)
            ],
            egress=[
                Rule(
                    "to-targets",
                    "to the targets and their health checks",
                    args.target_port,
                    cidr_ipv4=args.vpc_cidr_block,
                )
            ],
        )

        load_balancer = aws.lb.LoadBalancer(
            f"{name}-alb",
            load_balancer_type="application",
            internal=False,
            subnets=args.public_subnet_ids,
            security_groups=[security_group.id],
            idle_timeout=args.idle_timeout_seconds,
            # Requests with header names that are not valid HTTP are dropped, not forwarded.
            drop_invalid_header_fields=True,
            enable_deletion_protection=args.deletion_protection,
            access_logs=(
                aws.lb.LoadBalancerAccessLogsArgs(
                    bucket=args.access_logs_bucket, prefix=args.access_logs_prefix, enabled=True
                )
                if args.access_logs_bucket is not None
                else None
            ),
            tags=tags,
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[args.access_logs_ready] if args.access_logs_ready else None
            ),
        )

        target_group = aws.lb.TargetGroup(
            f"{name}-tg",
            port=args.target_port,
            protocol="HTTP",
            target_type="instance",
            vpc_id=args.vpc_id,
            deregistration_delay=args.deregistration_delay_seconds,
            # LLM requests differ in length by orders of magnitude: send the next
            # one to the target with the fewest in flight, not the next in turn.
            load_balancing_algorithm_type="least_outstanding_requests",
            health_check=aws.lb.TargetGroupHealthCheckArgs(
                enabled=True,
                protocol="HTTP",
                port="traffic-port",
                path=args.health_check_path,
                matcher="200",
                interval=args.health_check_interval_seconds,
                timeout=args.health_check_timeout_seconds,
                healthy_threshold=args.healthy_threshold,
                unhealthy_threshold=args.unhealthy_threshold,
            ),
            tags=tags,
            opts=child,
        )

        if args.certificate_arn:
            serving = aws.lb.Listener(
                f"{name}-https",
                load_balancer_arn=load_balancer.arn,
                port=HTTPS_PORT,
                protocol="HTTPS",
                certificate_arn=args.certificate_arn,
                ssl_policy=args.ssl_policy,
                default_actions=[_not_found()],
                tags=tags,
                opts=child,
            )
            aws.lb.Listener(
                f"{name}-http-redirect",
                load_balancer_arn=load_balancer.arn,
                port=HTTP_PORT,
                protocol="HTTP",
                default_actions=[
                    aws.lb.ListenerDefaultActionArgs(
                        type="redirect",
                        redirect=aws.lb.ListenerDefaultActionRedirectArgs(
                            protocol="HTTPS", port=str(HTTPS_PORT), status_code="HTTP_301"
                        ),
                    )
                ],
                tags=tags,
                opts=child,
            )
        else:
            serving = aws.lb.Listener(
                f"{name}-http",
                load_balancer_arn=load_balancer.arn,
                port=HTTP_PORT,
                protocol="HTTP",
                default_actions=[_not_found()],
                tags=tags,
                opts=child,
            )

        aws.lb.ListenerRule(
            f"{name}-forward",
            listener_arn=serving.arn,
            priority=FORWARD_RULE_PRIORITY,
            conditions=[
                aws.lb.ListenerRuleConditionArgs(
                    path_pattern=aws.lb.ListenerRuleConditionPathPatternArgs(
                        values=list(args.forwarded_paths)
                    )
                )
            ],
            actions=[aws.lb.ListenerRuleActionArgs(type="forward", target_group_arn=target_group.arn)],
            tags=tags,
            opts=child,
        )

        self.dns_name = load_balancer.dns_name
        self.arn_suffix = load_balancer.arn_suffix
        self.security_group_id = security_group.id
        self.target_group_arn = target_group.arn
        self.target_group_arn_suffix = target_group.arn_suffix
        self.base_url = pulumi.Output.concat(args.scheme, "://", load_balancer.dns_name)
        self.register_outputs(
            {
                "dns_name": self.dns_name,
                "base_url": self.base_url,
                "security_group_id": self.security_group_id,
                "target_group_arn": self.target_group_arn,
            }
        )
