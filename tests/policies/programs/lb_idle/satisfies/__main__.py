"""Satisfies lb-idle-timeout-streaming: 300 s and more; an NLB's idle timeout is fixed, not checked."""

import pulumi_aws as aws

aws.lb.LoadBalancer(
    "streaming", load_balancer_type="application", idle_timeout=600, subnets=["subnet-a", "subnet-b"]
)
aws.lb.LoadBalancer("network", load_balancer_type="network", subnets=["subnet-a", "subnet-b"])
