"""Health-check grace periods from the model's size: pure arithmetic, tested directly."""

from __future__ import annotations

import pytest

from llmdeploy.boot_time import (
    MIN_GRACE_SECONDS,
    boot_seconds,
    bytes_per_parameter,
    estimated_weight_bytes,
    health_check_grace_seconds,
    parameters_from_name,
)
from llmdeploy.gpus import gpu_instance_type


@pytest.mark.parametrize(
    ("model", "billions"),
    [
        ("meta-llama/Llama-3.1-8B-Instruct", 8.0),
        ("meta-llama/Llama-3.1-70B-Instruct", 70.0),
        ("Qwen/Qwen2.5-1.5B-Instruct", 1.5),
        ("mistralai/Mixtral-8x7B-Instruct-v0.1", 56.0),
        ("openai/gpt-oss-20b", 20.0),
        ("google/gemma-2-9b-it", 9.0),
        ("microsoft/Phi-3-mini-4k-instruct", None),
        ("mistralai/Mistral-7B-Instruct-v0.3", 7.0),
    ],
)
def test_parameter_count_from_the_name(model: str, billions: float | None) -> None:
    assert parameters_from_name(model) == billions


def test_quantized_names_weigh_less() -> None:
    assert bytes_per_parameter("hugging-quants/Meta-Llama-3.1-70B-Instruct-AWQ-INT4") == 0.5
    assert bytes_per_parameter("neuralmagic/Llama-3.1-8B-Instruct-FP8") == 1.0
    assert bytes_per_parameter("meta-llama/Llama-3.1-8B-Instruct") == 2.0


def test_weights_never_exceed_what_the_gpus_hold() -> None:
    g5 = gpu_instance_type("g5.xlarge")
    p4d = gpu_instance_type("p4d.24xlarge")
    assert g5 is not None and p4d is not None
    assert estimated_weight_bytes("meta-llama/Llama-3.1-8B-Instruct", p4d, 0.9) == 16_000_000_000
    g5_bound = int(g5.gpu_memory_bytes * 0.9)
    assert estimated_weight_bytes("meta-llama/Llama-3.1-70B-Instruct", g5, 0.9) == g5_bound
    # No size in the name: budget the most the instance can serve.
    assert estimated_weight_bytes("microsoft/Phi-3-mini-4k-instruct", g5, 0.9) == g5_bound


def test_grace_never_under_600_seconds_and_grows_with_the_model() -> None:
    assert health_check_grace_seconds(0) >= MIN_GRACE_SECONDS
    small, large = health_check_grace_seconds(16 * 10**9), health_check_grace_seconds(140 * 10**9)
    assert MIN_GRACE_SECONDS <= small < large
    assert small % 60 == 0 and large % 60 == 0
    # Covers the estimate with margin.
    assert large >= boot_seconds(140 * 10**9)
    # An 8B model in bf16: ENGINE_FACTS gives 5 to 15 minutes for 8B-70B models (more on a cold
    # cache); the budget for the small end stays within 20 minutes.
    assert 600 <= small <= 1200
