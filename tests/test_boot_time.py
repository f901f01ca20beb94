"""Health-check grace periods from the model's size: pure arithmetic, tested directly.

The size is the capacity planner's where it can size the model; the name's guess only otherwise.
"""

from __future__ import annotations

import pytest

from llmdeploy.core.boot_time import (
    MIN_GRACE_SECONDS,
    bytes_per_parameter,
    health_check_grace_seconds,
    parameters_from_name,
    weight_bytes_from_name,
    weight_bytes_to_load,
)
from llmdeploy.core.capacity import weight_bytes
from llmdeploy.core.cold_start import cold_start_budget
from llmdeploy.core.gpus import gpu_instance_type
from llmdeploy.core.models import resolve_model


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


def test_guessed_weights_never_exceed_what_the_gpus_hold() -> None:
    g5 = gpu_instance_type("g5.xlarge")
    p4d = gpu_instance_type("p4d.24xlarge")
    assert g5 is not None and p4d is not None
    assert weight_bytes_from_name("meta-llama/Llama-3.1-8B-Instruct", p4d, 0.9) == 16_000_000_000
    g5_bound = int(g5.gpu_memory_bytes * 0.9)
    assert weight_bytes_from_name("meta-llama/Llama-3.1-70B-Instruct", g5, 0.9) == g5_bound
    # No size in the name: budget the most the instance can serve.
    assert weight_bytes_from_name("microsoft/Phi-3-mini-4k-instruct", g5, 0.9) == g5_bound


@pytest.mark.parametrize(
    ("model", "instance_type", "gigabytes"),
    [
        # The planner's figures from config.json shapes (bf16; the AWQ checkpoint's int4 + scales).
        ("meta-llama/Llama-3.1-8B-Instruct", "g5.xlarge", 16.06),
        ("meta-llama/Llama-3.1-70B-Instruct", "p4d.24xlarge", 141.11),
        ("microsoft/Phi-3-mini-4k-instruct", "g5.xlarge", 7.64),
        ("hugging-quants/Meta-Llama-3.1-70B-Instruct-AWQ-INT4", "g6e.xlarge", 39.77),
    ],
)
def test_a_model_the_planner_sizes_loads_the_planners_weights(
    model: str, instance_type: str, gigabytes: float
) -> None:
    gpu = gpu_instance_type(instance_type)
    assert gpu is not None
    architecture = resolve_model(model, allow_network=False)
    loaded = weight_bytes_to_load(model, architecture, gpu, 0.9)
    assert loaded == weight_bytes(architecture, architecture.quantization), "one source of truth"
    assert loaded / 1e9 == pytest.approx(gigabytes, abs=0.01)


def test_the_name_is_only_the_fallback_for_a_model_the_planner_cannot_size() -> None:
    g5 = gpu_instance_type("g5.xlarge")
    assert g5 is not None
    assert weight_bytes_to_load("acme/private-8B", None, g5, 0.9) == 16_000_000_000
    assert weight_bytes_to_load("acme/private", None, g5, 0.9) == int(g5.gpu_memory_bytes * 0.9)
    # Where both exist they differ: Phi-3-mini's name states no size, AWQ's names a different one.
    phi = resolve_model("microsoft/Phi-3-mini-4k-instruct", allow_network=False)
    assert weight_bytes_to_load(phi.name, phi, g5, 0.9) < weight_bytes_to_load(phi.name, None, g5, 0.9)


def test_grace_is_the_cold_start_budget_padded_and_grows_with_the_model() -> None:
    g5 = gpu_instance_type("g5.2xlarge")
    assert g5 is not None
    small, large = health_check_grace_seconds(16 * 10**9, g5), health_check_grace_seconds(140 * 10**9, g5)
    assert small < large
    assert small % 60 == 0 and large % 60 == 0
    # Covers the budget with margin.
    assert large >= cold_start_budget(g5, "vllm", 140 * 10**9).total_seconds
    # An 8B model in bf16: 8B-70B models take 5 to 15 minutes to serve (more on a cold
    # cache); the budget for the small end stays within 20 minutes.
    assert MIN_GRACE_SECONDS <= small <= 1200
    # From S3 it is shorter; behind a launch hook, only the load balancer's first checks.
    assert health_check_grace_seconds(16 * 10**9, g5, source="s3") < small
    assert health_check_grace_seconds(16 * 10**9, g5, launch_hook=True) < MIN_GRACE_SECONDS
