"""Violates pinned-image-tag: `latest`, no tag, and a tag only known when the script runs."""

import base64

import pulumi_aws as aws
import pulumi_docker as docker

docker.Container("vllm", image="vllm/vllm-openai:latest", ipc_mode="host")
docker.RemoteImage("tgi-image", name="ghcr.io/huggingface/text-generation-inference")

script = """#!/bin/bash
VLLM_VERSION=$(cat /etc/vllm-version)
docker run -d --ipc=host vllm/vllm-openai:${VLLM_VERSION} --model m
docker run -d ollama/ollama
"""
aws.ec2.LaunchTemplate(
    "servers", image_id="ami-0123456789abcdef0", user_data=base64.b64encode(script.encode()).decode()
)
