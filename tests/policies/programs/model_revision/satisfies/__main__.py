"""Satisfies model-revision-pinned: every engine names the commit (flag, `--flag=value`, TGI's env)."""

import pulumi_docker as docker

COMMIT = "7ae557604adf67be50417f59c2c2f167def9a775"

docker.Container(
    "vllm",
    image="vllm/vllm-openai:v0.30.0",
    ipc_mode="host",
    command=["Qwen/Qwen2.5-0.5B-Instruct", "--revision", COMMIT],
)
docker.Container(
    "sglang",
    image="lmsysorg/sglang:v0.5.3",
    ipc_mode="host",
    command=[
        "python3",
        "-m",
        "sglang.launch_server",
        "--model-path",
        "Qwen/Qwen2.5-0.5B-Instruct",
        f"--revision={COMMIT}",
    ],
)
docker.Container(
    "tgi",
    image="ghcr.io/huggingface/text-generation-inference:3.3.7",
    shm_size=1024,
    envs=[f"REVISION={COMMIT}"],
    command=["--model-id", "Qwen/Qwen2.5-0.5B-Instruct"],
)
# Ollama has no revision: not reported.
docker.Container("ollama", image="ollama/ollama:0.32.13")
