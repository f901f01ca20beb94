"""How long a new serving instance takes before it answers `/health`, for health-check grace periods.

vLLM and TGI refuse connections while they download and load the model: there
is no "503 while loading" phase. An Auto Scaling group whose ELB
health-check grace period is shorter than boot + image pull + weight download +
load + compile kills every instance before it serves, and starts the next one.

The time itself is the cold-start budget's (`llmdeploy.core.cold_start`): phase
by phase, each with its assumption and source. This module finds the bytes to
load and turns the budget into a grace period.

The weight size is the capacity planner's (`llmdeploy.core.capacity.weight_bytes`, from
the model's config.json: parameter count, dtype, quantization), the same figure
that sizes the KV cache. Only a model the planner cannot size (offline and not
bundled, an architecture it does not know) falls back to a guess from its name.
"""

from __future__ import annotations

import re

from llmdeploy.core.capacity import weight_bytes
from llmdeploy.core.cold_start import WeightSource, cold_start_budget, grace_seconds
from llmdeploy.core.gpus import GpuInstanceType
from llmdeploy.core.models import ModelArchitecture

# What a `healthCheckGraceSeconds` setting may be at least: image pull plus the smallest
# model plus compile already take minutes on a fresh launch (the cold-start budget's figure
# for a 1B model is over 8 minutes with its margin).
MIN_GRACE_SECONDS = 600

# The name-based fallback, for models the planner cannot size.
# Bytes per parameter by what the name says about quantization.
_QUANTIZED = (
    (re.compile(r"awq|gptq|int4|4bit|w4a16|nf4|q4", re.I), 0.5),
    (re.compile(r"fp8|int8|8bit|w8a8|w8a16", re.I), 1.0),
)
# "8B", "70b", "1.5B", "8x7B" (mixture of experts: all experts' weights are loaded).
_PARAMETERS = re.compile(r"(?<![A-Za-z0-9.])(?:(\d+)x)?(\d+(?:\.\d+)?)[bB](?![A-Za-z0-9])")


def parameters_from_name(model: str) -> float | None:
    """Parameter count in billions, when the model's name states it (`Llama-3.1-8B` -> 8.0)."""
    name = model.rsplit("/", 1)[-1]
    counts = []
    for experts, billions in _PARAMETERS.findall(name.replace("_", "-")):
        counts.append(float(billions) * (int(experts) if experts else 1))
    return max(counts) if counts else None


def bytes_per_parameter(model: str) -> float:
    for pattern, size in _QUANTIZED:
        if pattern.search(model.rsplit("/", 1)[-1]):
            return size
    return 2.0  # bf16 / fp16


def weight_bytes_from_name(model: str, gpu: GpuInstanceType, gpu_memory_utilization: float) -> int:
    """The fallback guess of the weights: the name's parameter count, never above what the GPUs hold.

    A model whose name states no size is budgeted at the most the instance's GPUs
    can serve (weights beyond that cannot be loaded anyway).
    """
    bound = int(gpu.gpu_memory_bytes * gpu.gpu_count * gpu_memory_utilization)
    billions = parameters_from_name(model)
    if billions is None:
        return bound
    return min(bound, int(billions * 1e9 * bytes_per_parameter(model)))


def weight_bytes_to_load(
    model: str,
    architecture: ModelArchitecture | None,
    gpu: GpuInstanceType,
    gpu_memory_utilization: float,
) -> int:
    """Bytes a new instance downloads and loads: the planner's figure for a model it could size.

    `architecture` is the planner's (`CapacityAssessment.architecture`), None when it could not
    read the model's config.json; only then is the size guessed from the name. The planner's
    figure is the weights as served (bf16/fp16, or as a quantized checkpoint stores them), which
    is what a safetensors checkpoint in that dtype holds.
    """
    if architecture is not None:
        return weight_bytes(architecture, architecture.quantization)
    return weight_bytes_from_name(model, gpu, gpu_memory_utilization)


def health_check_grace_seconds(
    weight_bytes: int,
    gpu: GpuInstanceType,
    engine: str = "vllm",
    *,
    source: WeightSource = "hub",
    launch_hook: bool = False,
    image_baked: bool = False,
) -> int:
    """The grace period for a model of this size on this instance: the cold-start budget's.

    A fresh launch's budget with its margin (`llmdeploy.core.cold_start`), or, behind a launch
    lifecycle hook that completes only once the engine answers `/health`, the load balancer's
    first checks only.
    """
    budget = cold_start_budget(gpu, engine, weight_bytes, source=source, image_baked=image_baked)
    return grace_seconds(budget, launch_hook=launch_hook)
