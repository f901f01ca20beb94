"""Satisfies alb-https-only: HTTPS forwards, HTTP redirects; a TCP listener on an NLB is not an ALB's."""

import pulumi_aws as aws

alb = aws.lb.LoadBalancer(
    "api", load_balancer_type="application", idle_timeout=300, subnets=["subnet-a", "subnet-b"]
)
targets = aws.lb.TargetGroup("vllm", port=8000, protocol="HTTP", vpc_id="vpc-0123456789abcdef0")
https = aws.lb.Listener(
    "https",
    load_balancer_arn=alb.arn,
    port=443,
    protocol="HTTPS",
    ssl_policy="ELBSecurityPolicy-TLS13-1-2-2021-06",
    certificate_arn="arn:aws:acm:eu-west-1:123456789012:certificate/00000000-0000-0000-0000-000000000000",
    default_actions=[aws.lb.ListenerDefaultActionArgs(type="forward", target_group_arn=targets.arn)],
)
aws.lb.ListenerRule(
    "v1",
    listener_arn=https.arn,
    priority=10,
    conditions=[
        aws.lb.ListenerRuleConditionArgs(
            path_pattern=aws.lb.ListenerRuleConditionPathPatternArgs(values=["/v1/*"])
        )
    ],
    actions=[aws.lb.ListenerRuleActionArgs(type="forward", target_group_arn=targets.arn)],
)
aws.lb.Listener(
    "http",
    load_balancer_arn=alb.arn,
    port=80,
    protocol="HTTP",
    default_actions=[
        aws.lb.ListenerDefaultActionArgs(
            type="redirect",
            redirect=aws.lb.ListenerDefaultActionRedirectArgs(
                protocol="HTTPS", port="443", status_code="HTTP_301"
            ),
        )
    ],
)
nlb = aws.lb.LoadBalancer("grpc", load_balancer_type="network", subnets=["subnet-a", "subnet-b"])
tcp_targets = aws.lb.TargetGroup("grpc", port=50051, protocol="TCP", vpc_id="vpc-0123456789abcdef0")
aws.lb.Listener(
    "tcp",
    load_balancer_arn=nlb.arn,
    port=50051,
    protocol="TCP",
    default_actions=[aws.lb.ListenerDefaultActionArgs(type="forward", target_group_arn=tcp_targets.arn)],
)
