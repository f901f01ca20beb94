"""Violates alb-https-only: an HTTP listener that forwards, and a rule forwarding on an HTTP listener."""

import pulumi_aws as aws

alb = aws.lb.LoadBalancer(
    "api", load_balancer_type="application", idle_timeout=300, subnets=["subnet-a", "subnet-b"]
)
targets = aws.lb.TargetGroup("vllm", port=8000, protocol="HTTP", vpc_id="vpc-0123456789abcdef0")
plain = aws.lb.Listener(
    "http",
    load_balancer_arn=alb.arn,
    port=80,
    default_actions=[aws.lb.ListenerDefaultActionArgs(type="forward", target_group_arn=targets.arn)],
)
redirecting = aws.lb.Listener(
    "http-8080",
    load_balancer_arn=alb.arn,
    port=8080,
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
aws.lb.ListenerRule(
    "v1-over-http",
    listener_arn=redirecting.arn,
    priority=10,
    conditions=[
        aws.lb.ListenerRuleConditionArgs(
            path_pattern=aws.lb.ListenerRuleConditionPathPatternArgs(values=["/v1/*"])
        )
    ],
    actions=[aws.lb.ListenerRuleActionArgs(type="forward", target_group_arn=targets.arn)],
)
