"""Violates lb-idle-timeout-streaming: an ALB on the 60 s default, a classic ELB at 120 s."""

import pulumi_aws as aws

aws.lb.LoadBalancer("default-timeout", load_balancer_type="application", subnets=["subnet-a", "subnet-b"])
aws.elb.LoadBalancer(
    "classic",
    availability_zones=["eu-west-1a"],
    idle_timeout=120,
    listeners=[
        aws.elb.LoadBalancerListenerArgs(
            instance_port=8000,
            instance_protocol="http",
            lb_port=443,
            lb_protocol="https",
            ssl_certificate_id="arn:aws:acm:eu-west-1:123456789012:certificate/x",
        )
    ],
)
