"""The cold-start budget: how long a new serving instance takes to answer `/health`, phase by phase.

One pure function, `cold_start_budget`, of the instance type (its network
bandwidth, from the GPU catalogue), the engine (its image size), the bytes of
weights, where the weights come from (the Hugging Face hub, or S3) and how the
instance starts (a fresh launch, or a start from a warm pool that already holds
the image and the weights). Every phase carries its assumption, where that
assumption comes from, and its physical floor: the bytes it moves at the
fastest rate the hardware allows (the instance's peak bandwidth, PCIe), so a
budget can be read, checked and argued with.

The grace period, the unhealthy-host alarm delay, the lifecycle hook's timeout
and the warm-pool suggestion are all derived from it (`padded_seconds`); the
capacity output and `llmdeploy capacity` print it.

The figures are budgets, deliberately on the slow side (a grace period too long
only delays replacing a dead instance; one too short never lets the fleet come
up). Rates marked "assumed" are not measured by this project: no GPU instance
is reachable from where it is built.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from llmdeploy.core.gpus import GpuInstanceType

WeightSource = Literal["hub", "s3"]
StartKind = Literal["cold", "warm"]
WEIGHT_SOURCES: tuple[WeightSource, ...] = ("hub", "s3")

GB = 1000**3
MB = 1000**2
MIB = 1024**2

# Compressed image bytes a pull moves, per engine release.
# vllm/vllm-openai: about 12.6 GB compressed on Docker Hub for the late-2025 releases
# (vllm-project/vllm#27154, "around 12 GB"; discuss.vllm.ai "Current vLLM docker image size is
# 12.64GB"), 28.6 GB unpacked (vllm-project/vllm#22377). Not re-measured for v0.30.0: a budget.
# TGI 3.3.7 (ghcr.io): assumed 6 GB compressed; not verified from here.
IMAGE_COMPRESSED_BYTES = {"vllm": int(12.6 * GB), "tgi": 6 * GB, "sglang": int(12.6 * GB)}
IMAGE_SOURCES = {
    "sglang": "lmsysorg/sglang assumed as large as vLLM's image (not verified)",
    "vllm": "vllm/vllm-openai ~12.6 GB compressed (vllm#27154, discuss.vllm.ai; late-2025 tags)",
    "tgi": "TGI 3.3.7 assumed 6 GB compressed (not verified)",
}
# `docker pull` extracts layers one at a time with single-threaded gzip: pull and unpack
# together run near 60 MB/s on GPU instances whatever the link (assumed; the figure the
# grace period used before this budget).
IMAGE_PULL_BYTES_PER_SECOND = 60 * MB
# The Hugging Face hub through a NAT gateway: budget 100 MB/s (assumed; hub CDN and
# rate limits, not the instance, set it).
HUB_BYTES_PER_SECOND = 100 * MB
# S3 over a gateway endpoint with many parallel ranged GETs (Run:ai streamer, s5cmd)
# reaches about this share of the instance's baseline bandwidth (assumed).
S3_LINK_EFFICIENCY = 0.8
# ... and never faster than this, whatever the link: the streamer copies through a CPU buffer
# (assumed 2 GB/s per instance; Run:ai's published S3 figures are a few GB/s, not verified here).
S3_STREAM_CAP_BYTES_PER_SECOND = 2 * GB
# gp3's baseline throughput, what a default root volume reads and writes (AWS EBS docs:
# gp3 baseline 125 MiB/s, 3000 IOPS). A warm instance's page cache is empty after its stop.
DISK_BYTES_PER_SECOND = 125 * MIB
# Host-to-GPU copy: PCIe Gen5 x16 moves at most ~64 GB/s per GPU (the floor of any load).
PCIE_BYTES_PER_SECOND = 64 * GB
# Launch to cloud-init's user data: EC2 pending -> running, OS boot, Docker and the
# NVIDIA runtime (assumed 90 s); a stopped warm-pool instance starts in about 60 s (assumed).
LAUNCH_BOOT_SECONDS = 90.0
WARM_BOOT_SECONDS = 60.0
# Engine process start, model init and the memory profile run (assumed).
ENGINE_START_SECONDS = 45.0
# torch.compile and CUDA graph capture on the first start of a model; vLLM caches the
# compiled graphs in /root/.cache/vllm, so a warm-pool instance that ran the engine once
# during its warm-up only loads them (assumed 180 s first time, 30 s cached).
COMPILE_SECONDS_FIRST = 180.0
COMPILE_SECONDS_CACHED = 30.0
# The margin a grace period or a hook timeout puts on top of the budget.
SAFETY_FACTOR = 1.25


@dataclass(frozen=True)
class Phase:
    name: str
    seconds: float
    # The physical floor: the bytes this phase moves at the fastest rate it could
    # (the instance's peak bandwidth, PCIe). 0 where no bytes move.
    floor_seconds: float
    assumption: str

    def output(self) -> dict[str, Any]:
        return {
            "seconds": round(self.seconds),
            "floor_seconds": round(self.floor_seconds),
            "assumption": self.assumption,
        }


@dataclass(frozen=True)
class ColdStartBudget:
    instance_type: str
    engine: str
    weight_bytes: int
    source: WeightSource
    start: StartKind
    image_baked: bool
    phases: tuple[Phase, ...]

    @property
    def total_seconds(self) -> float:
        return sum(phase.seconds for phase in self.phases)

    @property
    def floor_seconds(self) -> float:
        return sum(phase.floor_seconds for phase in self.phases)

    @property
    def padded_seconds(self) -> int:
        """The budget with its safety margin, in whole minutes: what timeouts and grace periods get."""
        return math.ceil(self.total_seconds * SAFETY_FACTOR / 60) * 60

    def output(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "weights_from": self.source,
            "image_baked": self.image_baked,
            "total_seconds": round(self.total_seconds),
            "floor_seconds": round(self.floor_seconds),
            "padded_seconds": self.padded_seconds,
            "phases": {phase.name: phase.output() for phase in self.phases},
        }


def bytes_per_second(gbps: float) -> float:
    return gbps * 1e9 / 8


def instance_bandwidth(instance: GpuInstanceType) -> tuple[float, float]:
    """Baseline and peak bytes per second of the instance's default network card.

    An instance type the catalogue has no bandwidth for is budgeted at 1 Gbps, below any GPU type's.
    """
    baseline = instance.baseline_network_gbps or 1.0
    peak = instance.peak_network_gbps or baseline
    return bytes_per_second(baseline), bytes_per_second(max(peak, baseline))


def _gbps(rate: float) -> str:
    return f"{rate * 8 / 1e9:g} Gbps"


def cold_start_budget(
    instance: GpuInstanceType,
    engine: str,
    weight_bytes: int,
    *,
    source: WeightSource = "hub",
    start: StartKind = "cold",
    image_baked: bool = False,
) -> ColdStartBudget:
    """Seconds from launch (or a warm-pool start) to an engine that answers `/health`, by phase.

    `source="s3"`: vLLM streams the weights from S3 straight into GPU memory (Run:ai model
    streamer), so download and load are one phase; TGI copies them to the root volume first.
    `start="warm"`: the instance finished its warm-up (image pulled, weights on disk, the engine
    run once so its compile cache is filled) before it was stopped. `image_baked`: the engine
    image is in the AMI (no pull).
    """
    if engine not in IMAGE_COMPRESSED_BYTES:
        known = ", ".join(IMAGE_COMPRESSED_BYTES)
        raise ValueError(f"no cold-start budget for engine {engine!r}; known: {known}")
    if weight_bytes < 0:
        raise ValueError("weight_bytes must be >= 0")
    baseline, peak = instance_bandwidth(instance)
    link = f"{instance.instance_type} {_gbps(baseline)} baseline, {_gbps(peak)} peak (GPU catalogue)"
    pcie = PCIE_BYTES_PER_SECOND * instance.gpu_count
    phases: list[Phase] = []

    if start == "warm":
        boot = Phase("boot", WARM_BOOT_SECONDS, 0.0, "start of a stopped warm-pool instance (assumed)")
    else:
        boot = Phase("boot", LAUNCH_BOOT_SECONDS, 0.0, "launch, OS boot, Docker, NVIDIA runtime (assumed)")
    phases.append(boot)

    image = IMAGE_COMPRESSED_BYTES[engine]
    if start == "warm" or image_baked:
        why = "pulled during the warm-up" if start == "warm" else "baked into the AMI"
        phases.append(Phase("image_pull", 0.0, 0.0, f"none: {why}"))
    else:
        rate = min(IMAGE_PULL_BYTES_PER_SECOND, baseline)
        phases.append(
            Phase(
                "image_pull",
                image / rate,
                image / peak,
                f"{IMAGE_SOURCES[engine]} at {rate / MB:g} MB/s (docker pull + unpack, assumed); "
                f"floor at {link}",
            )
        )

    streams = source == "s3" and engine == "vllm"
    if start == "warm" and not streams:
        phases.append(Phase("weights_download", 0.0, 0.0, "none: on the root volume since the warm-up"))
    elif source == "hub":
        rate = min(HUB_BYTES_PER_SECOND, baseline)
        phases.append(
            Phase(
                "weights_download",
                weight_bytes / rate,
                weight_bytes / peak,
                f"Hugging Face hub through the NAT gateway at {rate / MB:g} MB/s (assumed); floor at {link}",
            )
        )
    elif streams:
        rate = min(baseline * S3_LINK_EFFICIENCY, S3_STREAM_CAP_BYTES_PER_SECOND)
        phases.append(
            Phase(
                "weights_download",
                weight_bytes / rate,
                weight_bytes / peak,
                f"S3 gateway endpoint, Run:ai streamer straight to GPU memory at {rate / MB:.0f} MB/s "
                f"({S3_LINK_EFFICIENCY:g} x baseline, at most {S3_STREAM_CAP_BYTES_PER_SECOND / GB:g} GB/s, "
                f"assumed); floor at {link}",
            )
        )
    else:
        rate = min(baseline * S3_LINK_EFFICIENCY, DISK_BYTES_PER_SECOND)
        phases.append(
            Phase(
                "weights_download",
                weight_bytes / rate,
                weight_bytes / min(peak, DISK_BYTES_PER_SECOND),
                f"S3 gateway endpoint, parallel copy to the gp3 root volume at {rate / MIB:.0f} MiB/s "
                f"(gp3 baseline 125 MiB/s writes); floor at the disk",
            )
        )

    if streams:
        phases.append(
            Phase("load", 0.0, 0.0, "none beyond the stream: the streamer fills GPU memory as it reads")
        )
    else:
        phases.append(
            Phase(
                "load",
                weight_bytes / DISK_BYTES_PER_SECOND,
                weight_bytes / pcie,
                "safetensors from the gp3 root volume at 125 MiB/s (page cache assumed cold); floor at PCIe "
                f"{PCIE_BYTES_PER_SECOND / GB:g} GB/s per GPU",
            )
        )

    compile_seconds = COMPILE_SECONDS_CACHED if start == "warm" else COMPILE_SECONDS_FIRST
    phases.append(
        Phase(
            "engine_start",
            ENGINE_START_SECONDS + compile_seconds,
            0.0,
            f"process start and profile run (assumed {ENGINE_START_SECONDS:g} s), torch.compile and "
            f"CUDA graph capture ({'cached by the warm-up' if start == 'warm' else 'first start'}, assumed "
            f"{compile_seconds:g} s)",
        )
    )
    return ColdStartBudget(
        instance_type=instance.instance_type,
        engine=engine,
        weight_bytes=weight_bytes,
        source=source,
        start=start,
        image_baked=image_baked,
        phases=tuple(phases),
    )


# ---------------------------------------------------------------------------
# What the budget decides


def grace_seconds(budget: ColdStartBudget, *, launch_hook: bool = False, minimum: int = 0) -> int:
    """The ELB health-check grace period.

    Without a launch lifecycle hook, the group starts the grace period at launch: it must cover the
    whole padded budget. With one, EC2 Auto Scaling starts it only once the hook completes, which
    the instance does after its engine answers `/health`: the grace then covers the load balancer's
    first healthy checks only (HOOKED_GRACE_SECONDS).
    """
    if launch_hook:
        return max(minimum, HOOKED_GRACE_SECONDS)
    return max(minimum, budget.padded_seconds)


# The target group needs its healthy threshold of checks (5 x 30 s by default) once the
# instance is InService; 3 minutes covers that with room.
HOOKED_GRACE_SECONDS = 180


def hook_timeout_seconds(budget: ColdStartBudget) -> int:
    """The launch lifecycle hook's heartbeat timeout: the padded cold budget, capped at EC2's 7200 s."""
    return min(7200, max(30, budget.padded_seconds))


# EBS gp3 list price in us-east-1 (AWS EBS pricing page), what a stopped warm-pool instance costs.
GP3_USD_PER_GIB_MONTH = 0.08
# The scale-out the fleet should follow: an instance serving within this many seconds.
SCALE_OUT_TARGET_SECONDS = 360


def warm_pool_suggestion(
    cold: ColdStartBudget, warm: ColdStartBudget, *, min_size: int, max_size: int, root_volume_gib: int
) -> dict[str, Any]:
    """Whether a warm pool pays, and its size: the instances a scale-out from min to max needs.

    Stopped warm-pool instances cost only their EBS volume (gp3 list price).
    """
    size = max(max_size - min_size, 0)
    wanted = cold.total_seconds > SCALE_OUT_TARGET_SECONDS and size > 0
    return {
        "suggested": wanted,
        "min_size": size if wanted else 0,
        "cold_seconds": round(cold.total_seconds),
        "warm_seconds": round(warm.total_seconds),
        "target_seconds": SCALE_OUT_TARGET_SECONDS,
        "usd_per_month": round(size * root_volume_gib * GP3_USD_PER_GIB_MONTH, 2) if wanted else 0.0,
    }
