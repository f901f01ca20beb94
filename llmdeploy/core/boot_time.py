"""How long a new serving instance takes before it answers `/health`, for health-check grace periods.

vLLM and TGI refuse connections while they download and load the model: there
is no "503 while loading" phase. An Auto Scaling group whose ELB
health-check grace period is shorter than boot + image pull + weight download +
load + compile kills every instance before it serves, and starts the next one.

The estimate is deliberately pessimistic (a cold cache, a NAT gateway, gp3's
baseline throughput): a grace period that is too long only delays replacing an
instance that really died; one too short never lets the fleet come up.

The weight size is the capacity planner's (`llmdeploy.core.capacity.weight_bytes`, from
the model's config.json: parameter count, dtype, quantization), the same figure
that sizes the KV cache. Only a model the planner cannot size (offline and not
bundled, an architecture it does not know) falls back to a guess from its name.
"""

from __future__ import annotations

import math
import re

from llmdeploy.core.capacity import weight_bytes
from llmdeploy.core.gpus import GpuInstanceType
from llmdeploy.core.models import ModelArchitecture

GB = 1000**3
# The floor: image pull plus the smallest model plus compile already take minutes.
MIN_GRACE_SECONDS = 600
# Boot, cloud-init, Docker and the NVIDIA runtime before `docker run` starts.
BOOT_SECONDS = 90
# The vllm/vllm-openai image is about 10 GB compressed; pull and unpack run near
# 60 MB/s on GPU instances.
IMAGE_PULL_SECONDS = 10 * GB / (60 * 1000**2)
# Hugging Face hub downloads through a NAT gateway: budget 100 MB/s.
DOWNLOAD_BYTES_PER_SECOND = 100 * 1000**2
# Reading the weights back from a gp3 volume at its baseline 125 MiB/s (a
# restart on a warm cache reads only this, but the first boot pays both).
LOAD_BYTES_PER_SECOND = 125 * 1024**2
# torch.compile and CUDA graph capture on the first start (vLLM caches them in
# /root/.cache/vllm afterwards).
COMPILE_SECONDS = 240
SAFETY_FACTOR = 1.25

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


def boot_seconds(weight_bytes: int) -> float:
    """Seconds from launch to a healthy engine on a cold instance."""
    return (
        BOOT_SECONDS
        + IMAGE_PULL_SECONDS
        + weight_bytes / DOWNLOAD_BYTES_PER_SECOND
        + weight_bytes / LOAD_BYTES_PER_SECOND
        + COMPILE_SECONDS
    )


def health_check_grace_seconds(weight_bytes: int) -> int:
    """The grace period for a model of this size: boot time with margin, whole minutes, at least 600 s."""
    padded = boot_seconds(weight_bytes) * SAFETY_FACTOR
    return max(MIN_GRACE_SECONDS, math.ceil(padded / 60) * 60)
