"""Satisfies asg-health-grace-period: 900 s behind the load balancer; no load balancer, no check."""

import pulumi_aws as aws

template = aws.ec2.LaunchTemplate("vllm", image_id="ami-0123456789abcdef0")
targets = aws.lb.TargetGroup("vllm", port=8000, protocol="HTTP", vpc_id="vpc-0123456789abcdef0")
aws.autoscaling.Group(
    "behind-alb",
    min_size=1,
    max_size=2,
    vpc_zone_identifiers=["subnet-a", "subnet-b"],
    health_check_type="ELB",
    health_check_grace_period=900,
    target_group_arns=[targets.arn],
    launch_template=aws.autoscaling.GroupLaunchTemplateArgs(
        id=template.id, version=template.latest_version.apply(str)
    ),
)
aws.autoscaling.Group(
    "batch",
    min_size=0,
    max_size=2,
    vpc_zone_identifiers=["subnet-a", "subnet-b"],
    health_check_grace_period=0,
    launch_template=aws.autoscaling.GroupLaunchTemplateArgs(
        id=template.id, version=template.latest_version.apply(str)
    ),
)
