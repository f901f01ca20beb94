"""Registers a violating vLLM container, then os._exit(0): no cleanup, no flush."""

import os
import sys

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


def leave(urn: str) -> None:
    sys.stdout.write(f"vanishing with {API_KEY}\n")
    sys.stdout.flush()
    os._exit(0)


vllm.urn.apply(leave)
