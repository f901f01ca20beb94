"""Violates asg-health-grace-period: the 300 s default behind a target group, 120 s via an attachment."""

import pulumi_aws as aws

template = aws.ec2.LaunchTemplate("vllm", image_id="ami-0123456789abcdef0")
targets = aws.lb.TargetGroup("vllm", port=8000, protocol="HTTP", vpc_id="vpc-0123456789abcdef0")
aws.autoscaling.Group(
    "default-grace",
    min_size=1,
    max_size=2,
    vpc_zone_identifiers=["subnet-a", "subnet-b"],
    health_check_type="ELB",
    target_group_arns=[targets.arn],
    launch_template=aws.autoscaling.GroupLaunchTemplateArgs(
        id=template.id, version=template.latest_version.apply(str)
    ),
)
attached = aws.autoscaling.Group(
    "short-grace",
    min_size=1,
    max_size=2,
    vpc_zone_identifiers=["subnet-a", "subnet-b"],
    health_check_grace_period=120,
    launch_template=aws.autoscaling.GroupLaunchTemplateArgs(
        id=template.id, version=template.latest_version.apply(str)
    ),
)
aws.autoscaling.Attachment(
    "short-grace", autoscaling_group_name=attached.name, lb_target_group_arn=targets.arn
)
