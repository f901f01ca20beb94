"""Satisfies imdsv2-required: tokens required (hop limit 2 for containers), or no metadata service at all."""

import pulumi_aws as aws

aws.ec2.Instance(
    "required",
    ami="ami-0123456789abcdef0",
    instance_type="g5.xlarge",
    metadata_options=aws.ec2.InstanceMetadataOptionsArgs(
        http_tokens="required", http_put_response_hop_limit=2
    ),
)
aws.ec2.LaunchTemplate(
    "required",
    image_id="ami-0123456789abcdef0",
    metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
        http_tokens="required", http_put_response_hop_limit=2
    ),
)
aws.ec2.LaunchTemplate(
    "disabled",
    image_id="ami-0123456789abcdef0",
    metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(http_endpoint="disabled"),
)
