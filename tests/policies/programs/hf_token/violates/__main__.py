"""Violates hf-token-secret: the token (config `hfToken`, set as a secret) leaks in plaintext five ways."""

import base64

import pulumi
import pulumi_aws as aws
import pulumi_docker as docker

config = pulumi.Config()
# `require` on a secret key hands back the plaintext: every use below loses the secret marking.
token = config.require("hfToken")

# 1. Container environment, plaintext.
docker.Container(
    "tgi",
    image="ghcr.io/huggingface/text-generation-inference:3.3.7",
    envs=[f"HF_TOKEN={token}", "PORT=80"],
    shm_size=1024,
)

# 2. User data with the token written into an env file.
script = f"""#!/bin/bash
cat > /etc/tgi.env <<EOF
HF_TOKEN={token}
EOF
docker run -d --shm-size 1g --env-file /etc/tgi.env ghcr.io/huggingface/text-generation-inference:3.3.7
"""
aws.ec2.LaunchTemplate(
    "tgi-template", image_id="ami-0123456789abcdef0", user_data=base64.b64encode(script.encode()).decode()
)

# 3. A tag, where secrecy would not help anyway.
aws.ec2.Instance(
    "tagged",
    ami="ami-0123456789abcdef0",
    instance_type="g5.xlarge",
    tags={"Name": "tgi", "HF_TOKEN": pulumi.Output.secret(token)},
)

# 4. A literal value given to HUGGING_FACE_HUB_TOKEN in a container (not token-shaped, still the token).
docker.Container(
    "vllm",
    image="vllm/vllm-openai:v0.31.0",
    ipc_mode="host",
    envs=["HUGGING_FACE_HUB_TOKEN=my-org-read-token"],
)

# 5. A Secrets Manager secret version whose value is not a secret. pulumi_aws always wraps
# secret_string as a secret, so this registers the same type token without the SDK class: a test
# double for what a program in another language or an older SDK could send the engine.
pulumi.CustomResource(
    "aws:secretsmanager/secretVersion:SecretVersion",
    "hf-token-plain",
    {"secretId": "llm/hf-token", "secretString": token},
)

pulumi.export("hf_token", token)
