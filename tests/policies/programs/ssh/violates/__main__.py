"""Violates no-ssh-from-internet three ways: inline, a separate IPv6 rule, every protocol from anywhere."""

import pulumi_aws as aws

group = aws.ec2.SecurityGroup(
    "inline",
    vpc_id="vpc-0123456789abcdef0",
    ingress=[
        aws.ec2.SecurityGroupIngressArgs(protocol="tcp", from_port=22, to_port=22, cidr_blocks=["0.0.0.0/0"])
    ],
)
aws.vpc.SecurityGroupIngressRule(
    "ssh-v6", security_group_id=group.id, ip_protocol="tcp", from_port=22, to_port=22, cidr_ipv6="::/0"
)
aws.ec2.SecurityGroupRule(
    "everything",
    type="ingress",
    security_group_id=group.id,
    protocol="-1",
    from_port=0,
    to_port=0,
    cidr_blocks=["0.0.0.0/0"],
)
