"""Violates imdsv2-required: an instance with no metadata options, a launch template that allows IMDSv1."""

import pulumi_aws as aws

aws.ec2.Instance("no-options", ami="ami-0123456789abcdef0", instance_type="g5.xlarge")
aws.ec2.LaunchTemplate(
    "optional-tokens",
    image_id="ami-0123456789abcdef0",
    metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
        http_tokens="optional", http_endpoint="enabled"
    ),
)
