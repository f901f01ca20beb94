"""Violates model-revision-pinned: vLLM, SGLang and TGI load whatever the hub's main branch holds."""

import pulumi_docker as docker

docker.Container(
    "vllm",
    image="vllm/vllm-openai:v0.30.0",
    ipc_mode="host",
    command=["Qwen/Qwen2.5-0.5B-Instruct"],
)
docker.Container(
    "sglang",
    image="lmsysorg/sglang:v0.5.3",
    ipc_mode="host",
    command=["python3", "-m", "sglang.launch_server", "--model-path", "Qwen/Qwen2.5-0.5B-Instruct"],
)
# An empty REVISION is no pin.
docker.Container(
    "tgi",
    image="ghcr.io/huggingface/text-generation-inference:3.3.7",
    shm_size=1024,
    envs=["REVISION="],
    command=["--model-id", "Qwen/Qwen2.5-0.5B-Instruct"],
)
