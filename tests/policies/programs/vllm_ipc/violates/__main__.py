"""Violates vllm-ipc-host: vLLM containers with private IPC, and a launch template without --ipc=host."""

import base64

import pulumi_aws as aws
import pulumi_docker as docker

docker.Container(
    "vllm",
    image="vllm/vllm-openai:v0.31.0",
    command=["--model", "Qwen/Qwen2.5-0.5B-Instruct"],
    ports=[docker.ContainerPortArgs(internal=8000, external=8000)],
)

# Launch templates take base64 user data. `--ipc private` is explicit, and still wrong.
script = """#!/bin/bash
docker run -d --gpus all --ipc private -p 8000:8000 vllm/vllm-openai:v0.31.0 \\
    --model meta-llama/Llama-3.1-8B-Instruct --tensor-parallel-size 4
"""
aws.ec2.LaunchTemplate(
    "vllm", image_id="ami-0123456789abcdef0", user_data=base64.b64encode(script.encode()).decode()
)

# Recognised by its command, not its image: `vllm serve` in a CUDA base image.
docker.Container(
    "vllm-custom",
    image="nvcr.io/nvidia/pytorch:24.08-py3",
    entrypoints=["vllm"],
    command=["serve", "Qwen/Qwen2.5-0.5B-Instruct"],
)

# SGLang has the same need: its image without host IPC, and its server module in another image.
docker.Container(
    "sglang",
    image="lmsysorg/sglang:v0.5.3",
    command=["python3", "-m", "sglang.launch_server", "--model-path", "Qwen/Qwen2.5-0.5B-Instruct"],
)
docker.Container(
    "sglang-custom",
    image="nvcr.io/nvidia/pytorch:24.08-py3",
    command=["python3", "-m", "sglang.launch_server", "--model-path", "Qwen/Qwen2.5-0.5B-Instruct"],
)
