"""Registers a violating vLLM container, then blocks for ever."""

import os
import time

import pulumi_docker as docker

TOKEN = os.environ.get("HF_TOKEN", "")
API_KEY = os.environ.get("LLMDEPLOY_API_KEY", "")

# Violates vllm-ipc-host (no --ipc=host, private IPC); the canaries travel in its environment.
vllm = docker.Container(
    "vllm",
    image="vllm/vllm-openai:v0.31.0",
    command=["--model", "Qwen/Qwen2.5-0.5B-Instruct"],
    envs=[f"HF_TOKEN={TOKEN}", f"VLLM_API_KEY={API_KEY}"],
)


vllm.urn.apply(lambda urn: time.sleep(3600))
