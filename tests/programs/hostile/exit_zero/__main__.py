"""Registers a violating vLLM container, then sys.exit(0) once the engine has it."""

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
    print(f"leaving early with {TOKEN}")
    sys.exit(0)


vllm.urn.apply(leave)
