"""Root volume sizing for GPU instances: the AMI, the engine image and the model weights.

No AWS or Hugging Face call: the weights are bounded by what the instance's GPUs
can hold (an unquantized model that does not fit its GPUs cannot be served), so
the size follows from the GPU catalogue alone and the offline plan shows it.
"""

from __future__ import annotations

import math

from llmdeploy.core.gpus import GpuInstanceType

# The Deep Learning Base OSS Nvidia Driver GPU AMI (Amazon Linux 2023) ships a
# 75 GiB root snapshot; a smaller root volume fails at launch.
DLAMI_ROOT_SNAPSHOT_GIB = 75

# Unpacked image sizes, rounded up with room for a pull (compressed layers sit
# beside the unpacked ones until the pull ends). Budgets, not measurements.
# SGLang's CUDA image carries its kernels beside PyTorch: sized as vLLM's, with margin.
ENGINE_IMAGE_GIB = {"tgi": 20, "vllm": 25, "sglang": 30}

# Docker logs, the journal, package updates.
HEADROOM_GIB = 10

# TGI quantizes these on the fly: it downloads the full-precision weights, which
# are larger on disk than in GPU memory by about this factor (TGI's launcher
# reference: bitsandbytes halves memory, nf4/fp4 quarter it; eetq and fp8 are 8-bit).
ON_THE_FLY_QUANTIZE_FACTOR = {
    "bitsandbytes": 2.0,
    "eetq": 2.0,
    "fp8": 2.0,
    "bitsandbytes-nf4": 4.0,
    "bitsandbytes-fp4": 4.0,
}


def weights_disk_factor(quantize: str | None) -> float:
    """How much larger the downloaded weights can be than the GPU memory they occupy."""
    return ON_THE_FLY_QUANTIZE_FACTOR.get(quantize or "", 1.0)


def root_volume_gib(
    gpu: GpuInstanceType,
    *,
    image_gib: int,
    weights_factor: float = 1.0,
    base_gib: int = DLAMI_ROOT_SNAPSHOT_GIB,
    headroom_gib: int = HEADROOM_GIB,
) -> int:
    """A root volume holding the AMI, one engine image and the largest weights the GPUs can serve."""
    gpu_gib = gpu.total_gpu_memory_mib / 1024
    return base_gib + image_gib + math.ceil(gpu_gib * weights_factor) + headroom_gib
