"""Satisfies hf-token-secret: a Pulumi secret where the token must travel, fetched at boot on EC2."""

import base64

import pulumi
import pulumi_aws as aws
import pulumi_docker as docker

config = pulumi.Config()
token = config.require_secret("hfToken")

# A container must carry it: as a secret environment entry.
docker.Container(
    "tgi",
    image="ghcr.io/huggingface/text-generation-inference:3.3.7",
    envs=[token.apply(lambda value: f"HF_TOKEN={value}"), "PORT=80"],
    shm_size=1024,
)

# On EC2 it lives in Secrets Manager (secret_string is a Pulumi secret)...
secret = aws.secretsmanager.Secret("hf-token", name="llm/hf-token")
aws.secretsmanager.SecretVersion("hf-token", secret_id=secret.id, secret_string=token)

# ...and the instance fetches it at boot by name: user data holds no token.
script = """#!/bin/bash
set -euo pipefail
HF_TOKEN=$(aws secretsmanager get-secret-value --secret-id llm/hf-token --query SecretString --output text)
export HF_TOKEN
cat > /etc/tgi.env <<EOF
HF_TOKEN=${HF_TOKEN}
EOF
docker run -d --shm-size 1g -e HF_TOKEN --env-file /etc/tgi.env \\
    ghcr.io/huggingface/text-generation-inference:3.3.7 --model-id meta-llama/Llama-3.1-8B-Instruct
"""
aws.ec2.LaunchTemplate(
    "tgi-template", image_id="ami-0123456789abcdef0", user_data=base64.b64encode(script.encode()).decode()
)

pulumi.export("hf_token", token)
pulumi.export("hf_token_secret_name", secret.name)
