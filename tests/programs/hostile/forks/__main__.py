"""Forks a child that keeps stdout open and sleeps; the program itself ends normally."""

import os
import sys
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


child = os.fork()
if child == 0:
    # One write per line: two processes share the pipe, and print() writes the newline separately.
    sys.stdout.write(f"child holding the pipe {TOKEN}\n")
    time.sleep(120)
    os._exit(0)
sys.stdout.write(f"forked child pid {child}\n")
