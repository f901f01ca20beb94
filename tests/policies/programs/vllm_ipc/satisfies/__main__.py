"""Satisfies vllm-ipc-host: every vLLM server runs with host IPC, in each way it can be written."""

import base64

import pulumi_aws as aws
import pulumi_docker as docker

docker.Container(
    "vllm",
    image="vllm/vllm-openai:v0.31.0",
    ipc_mode="host",
    command=["--model", "Qwen/Qwen2.5-0.5B-Instruct"],
)

script = """#!/bin/bash
docker run -d --gpus all --ipc=host -p 8000:8000 vllm/vllm-openai:v0.31.0 --model m
"""
aws.ec2.LaunchTemplate(
    "vllm", image_id="ami-0123456789abcdef0", user_data=base64.b64encode(script.encode()).decode()
)

aws.ec2.Instance(
    "vllm-instance",
    ami="ami-0123456789abcdef0",
    instance_type="g5.12xlarge",
    user_data="#!/bin/bash\ndocker run -d --ipc host --runtime nvidia --gpus all vllm/vllm-openai:v0.31.0\n",
)

# Not vLLM: no host IPC needed.
docker.Container("ollama", image="ollama/ollama:0.32.0")

# SGLang with host IPC, as its docs run it.
docker.Container(
    "sglang",
    image="lmsysorg/sglang:v0.5.3",
    ipc_mode="host",
    command=["python3", "-m", "sglang.launch_server", "--model-path", "Qwen/Qwen2.5-0.5B-Instruct"],
)
