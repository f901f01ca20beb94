"""Satisfies no-ssh-from-internet: SSH from a VPN range, HTTPS from anywhere, egress to anywhere."""

import pulumi_aws as aws

group = aws.ec2.SecurityGroup(
    "inline",
    vpc_id="vpc-0123456789abcdef0",
    ingress=[
        aws.ec2.SecurityGroupIngressArgs(
            protocol="tcp", from_port=22, to_port=22, cidr_blocks=["10.8.0.0/16"]
        ),
        aws.ec2.SecurityGroupIngressArgs(
            protocol="tcp", from_port=443, to_port=443, cidr_blocks=["0.0.0.0/0"]
        ),
    ],
    egress=[
        aws.ec2.SecurityGroupEgressArgs(protocol="-1", from_port=0, to_port=0, cidr_blocks=["0.0.0.0/0"])
    ],
)
aws.vpc.SecurityGroupIngressRule(
    "https-v6", security_group_id=group.id, ip_protocol="tcp", from_port=443, to_port=443, cidr_ipv6="::/0"
)
aws.ec2.SecurityGroupRule(
    "egress",
    type="egress",
    security_group_id=group.id,
    protocol="-1",
    from_port=0,
    to_port=0,
    cidr_blocks=["0.0.0.0/0"],
)
