"""Violates user-data-inspectable: user data computed from another resource's output, plain text where
base64 is expected, and an #include of URLs."""

import base64

import pulumi
import pulumi_aws as aws

group = aws.ec2.SecurityGroup("models", vpc_id="vpc-0123456789abcdef0")
# The group id exists only after deploy, so this user data is unknown during preview.
computed = group.id.apply(
    lambda group_id: base64.b64encode(f"#!/bin/bash\necho {group_id}\n".encode()).decode()
)
aws.ec2.LaunchTemplate("computed", image_id="ami-0123456789abcdef0", user_data=computed)
aws.ec2.LaunchTemplate("not-base64", image_id="ami-0123456789abcdef0", user_data="#!/bin/bash\necho hello\n")
aws.ec2.Instance(
    "includes",
    ami="ami-0123456789abcdef0",
    instance_type="g5.xlarge",
    user_data="#include\nhttps://example.com/bootstrap.sh\n",
)
pulumi.export("group", group.id)
