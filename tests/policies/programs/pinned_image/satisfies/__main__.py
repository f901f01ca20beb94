"""Satisfies pinned-image-tag: release tags and a digest (an unpinned non-inference image is ignored)."""

import base64

import pulumi_aws as aws
import pulumi_docker as docker

docker.Container("vllm", image="vllm/vllm-openai:v0.31.0", ipc_mode="host")
docker.RemoteImage("tgi-image", name="ghcr.io/huggingface/text-generation-inference:3.3.7")
docker.Container("nginx", image="nginx:latest")

digest = "sha256:" + "0" * 64
script = f"""#!/bin/bash
docker run -d ollama/ollama@{digest}
docker run -d --ipc=host 123456789012.dkr.ecr.eu-west-1.amazonaws.com/vllm/vllm-openai:v0.31.0 --model m
"""
aws.ec2.LaunchTemplate(
    "servers", image_id="ami-0123456789abcdef0", user_data=base64.b64encode(script.encode()).decode()
)
