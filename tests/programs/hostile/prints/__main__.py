"""Prints to stdout and stderr (canaries included) and logs the token, then ends normally."""

import os
import sys

import pulumi
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


print("[]")
print('{"not": "json"')
print(f"token={TOKEN} key {API_KEY}", file=sys.stderr)
pulumi.log.warn(f"the token is {TOKEN}")
pulumi.export("hint", f"key {API_KEY}")
