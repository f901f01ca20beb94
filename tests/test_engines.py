"""The engine catalogue: one source for ports, paths, images and command lines."""

from __future__ import annotations

import pytest

from llmdeploy.core.engines import (
    ENGINES,
    OLLAMA,
    TGI,
    VLLM,
    OllamaOptions,
    TgiOptions,
    VllmOptions,
    engine,
    image_tag,
    is_pinned,
    ollama_environment,
    tgi_arguments,
    vllm_arguments,
    vllm_environment,
)


@pytest.mark.parametrize("name", sorted(ENGINES))
def test_default_images_are_pinned_versions(name: str) -> None:
    image = ENGINES[name].image()  # type: ignore[index]
    assert is_pinned(image) and image_tag(image) != "latest", image


def test_ports_paths_and_metrics_per_engine() -> None:
    assert (OLLAMA.container_port, OLLAMA.health_path, OLLAMA.metrics_port) == (11434, "/", None)
    assert (TGI.container_port, TGI.health_path, TGI.metrics_port, TGI.metrics_path) == (
        80,
        "/health",
        9000,
        "/metrics",
    )
    assert (VLLM.container_port, VLLM.health_path, VLLM.metrics_port) == (8000, "/health", 8000)
    assert OLLAMA.cache_mount == "/root/.ollama"
    assert TGI.cache_mount == "/data"
    assert VLLM.cache_mount == "/root/.cache/huggingface"
    assert TGI.min_shm_bytes == 1024**3 and VLLM.wants_host_ipc
    assert TGI.token_env == VLLM.token_env == "HF_TOKEN" and OLLAMA.token_env is None


def test_unknown_engine_is_named() -> None:
    with pytest.raises(ValueError, match="unknown engine 'llamacpp'; known: ollama, tgi, vllm"):
        engine("llamacpp")


@pytest.mark.parametrize(
    ("reference", "pinned"),
    [
        ("vllm/vllm-openai:v0.30.0", True),
        ("vllm/vllm-openai:latest", False),
        ("vllm/vllm-openai", False),
        ("registry.local:5000/vllm/vllm-openai", False),
        ("registry.local:5000/vllm/vllm-openai:v0.30.0", True),
        ("vllm/vllm-openai@sha256:" + "a" * 64, True),
    ],
)
def test_is_pinned(reference: str, pinned: bool) -> None:
    assert is_pinned(reference) is pinned


def test_ollama_environment() -> None:
    env = ollama_environment(
        OllamaOptions(
            keep_alive="10m",
            num_parallel=4,
            context_length=8192,
            origins=("http://a", "http://b"),
            https_proxy="http://proxy:3128",
            no_proxy="localhost",
        )
    )
    assert env == {
        "OLLAMA_HOST": "0.0.0.0:11434",
        "OLLAMA_KEEP_ALIVE": "10m",
        "OLLAMA_NUM_PARALLEL": "4",
        "OLLAMA_CONTEXT_LENGTH": "8192",
        "OLLAMA_ORIGINS": "http://a,http://b",
        "HTTPS_PROXY": "http://proxy:3128",
        "NO_PROXY": "localhost",
    }
    assert "HTTP_PROXY" not in ollama_environment(OllamaOptions(https_proxy="http://proxy:3128"))


def test_tgi_arguments() -> None:
    args = tgi_arguments(
        TgiOptions(
            model_id="mistralai/Mistral-7B-Instruct-v0.3",
            num_shard=4,
            max_input_tokens=4096,
            max_total_tokens=8192,
            max_concurrent_requests=64,
        )
    )
    assert args == [
        "--model-id", "mistralai/Mistral-7B-Instruct-v0.3", "--num-shard", "4",
        "--max-input-tokens", "4096", "--max-total-tokens", "8192", "--max-concurrent-requests", "64",
        "--prometheus-port", "9000", "--usage-stats", "off",
    ]  # fmt: skip
    traced = tgi_arguments(
        TgiOptions(
            model_id="m",
            num_shard=1,
            max_input_tokens=1,
            max_total_tokens=2,
            otlp_endpoint="http://otel:4317",
        )
    )
    assert traced[-4:] == ["--otlp-endpoint", "http://otel:4317", "--otlp-service-name", "tgi"]


def test_vllm_arguments() -> None:
    options = VllmOptions(
        model="meta-llama/Llama-3.1-8B-Instruct",
        served_model_name="llama-3.1-8b",
        tensor_parallel_size=1,
        max_model_len=16384,
        gpu_memory_utilization=0.9,
        max_num_seqs=64,
    )
    assert vllm_arguments(options) == [
        "meta-llama/Llama-3.1-8B-Instruct", "--served-model-name", "llama-3.1-8b",
        "--port", "8000", "--tensor-parallel-size", "1", "--max-model-len", "16384",
        "--gpu-memory-utilization", "0.9", "--max-num-seqs", "64", "--generation-config", "vllm",
        "--shutdown-timeout", "120",
    ]  # fmt: skip
    assert "--disable-log-requests" not in vllm_arguments(options)
    # Deprecated in 0.30.0: the model is `vllm serve`'s positional argument.
    assert "--model" not in vllm_arguments(options)


def test_vllm_usage_statistics_are_off() -> None:
    options = VllmOptions(
        model="m", served_model_name="m", tensor_parallel_size=1, max_model_len=1,
        gpu_memory_utilization=0.9, max_num_seqs=1,
    )  # fmt: skip
    env = vllm_environment(options)
    assert env["VLLM_NO_USAGE_STATS"] == "1"
    assert env["DO_NOT_TRACK"] == "1"


def test_vllm_sse_keep_alive_only_when_asked() -> None:
    base = dict(
        model="m", served_model_name="m", tensor_parallel_size=1, max_model_len=1,
        gpu_memory_utilization=0.9, max_num_seqs=1,
    )  # fmt: skip
    assert "--sse-keep-alive-interval" not in vllm_arguments(VllmOptions(**base))  # type: ignore[arg-type]
    with_keep_alive = vllm_arguments(VllmOptions(**base, sse_keep_alive_seconds=15))  # type: ignore[arg-type]
    assert with_keep_alive[-2:] == ["--sse-keep-alive-interval", "15"]


def test_vllm_drain_flag_only_where_the_version_has_it() -> None:
    old = VllmOptions(
        model="m",
        served_model_name="m",
        tensor_parallel_size=1,
        max_model_len=1,
        gpu_memory_utilization=0.9,
        max_num_seqs=1,
        image_tag="v0.17.1",
    )
    assert "--shutdown-timeout" not in vllm_arguments(old)
