"""A GPU instance serving TGI, written straight against pulumi_aws, for the `llmdeploy diff` tests.

Shaped like the staging stack (security group, HF-token secret, instance with user data) until
that stack lands. Config keys choose what a test changes between two plans; `tokenInUserData`
and `tokenInTags` reproduce the mistake of putting the token itself in plaintext.
"""

import pulumi
import pulumi_aws as aws

config = pulumi.Config()
instance_name = config.get("instanceName") or "gpu"
max_total_tokens = config.get_int("maxTotalTokens") or 8192

api = aws.ec2.SecurityGroup(
    "api",
    description="TGI API from the office network",
    vpc_id="vpc-0123456789abcdef0",
    ingress=[
        aws.ec2.SecurityGroupIngressArgs(
            protocol="tcp", from_port=8080, to_port=8080, cidr_blocks=["10.20.0.0/16"]
        )
    ],
    egress=[
        aws.ec2.SecurityGroupEgressArgs(protocol="-1", from_port=0, to_port=0, cidr_blocks=["0.0.0.0/0"])
    ],
)
token_secret = aws.secretsmanager.Secret("hf-token", name="gpu-instance/hf-token", recovery_window_in_days=7)
aws.secretsmanager.SecretVersion(
    "hf-token", secret_id=token_secret.id, secret_string=config.require_secret("hfToken")
)

token_line = (
    'HF_TOKEN="$(aws secretsmanager get-secret-value --secret-id gpu-instance/hf-token '
    '--query SecretString --output text)"'
)
if config.get_bool("tokenInUserData"):
    token_line = f"HF_TOKEN={config.require('hfToken')}"
user_data = "\n".join(
    [
        "#!/bin/bash",
        "set -euo pipefail",
        token_line,
        "docker run --gpus all --shm-size 1g -p 8080:80 -e HF_TOKEN \\",
        "  ghcr.io/huggingface/text-generation-inference:3.3.7 \\",
        f"  --model-id meta-llama/Llama-3.1-8B-Instruct --max-total-tokens {max_total_tokens}",
        "",
    ]
)
tags = {"Name": "tgi", "llmdeploy:stack": pulumi.get_stack()}
if config.get_bool("tokenInTags"):
    tags["hfToken"] = config.require("hfToken")

instance = aws.ec2.Instance(
    instance_name,
    ami="ami-0123456789abcdef0",
    instance_type=config.get("instanceType") or "g5.xlarge",
    vpc_security_group_ids=[api.id],
    metadata_options=aws.ec2.InstanceMetadataOptionsArgs(
        http_tokens=config.get("httpTokens") or "required", http_put_response_hop_limit=2
    ),
    root_block_device=aws.ec2.InstanceRootBlockDeviceArgs(encrypted=True, volume_type="gp3", volume_size=200),
    user_data=user_data,
    tags=tags,
)

pulumi.export("instance_id", instance.id)
pulumi.export("endpoint", pulumi.Output.concat("http://", instance.private_ip, ":8080/v1"))
if config.get_bool("exportPrivateIp"):
    pulumi.export("private_ip", instance.private_ip)
