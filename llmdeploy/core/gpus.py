"""The GPU instance catalogue: what each EC2 GPU instance type has.

Shipped as data (`data/gpu_instances.json`, with its source and date) so that
settings validation and the offline plan need no AWS call. `llmdeploy catalog
refresh` regenerates it from EC2 `DescribeInstanceTypes` (the GpuInfo field)
and, optionally, the AWS Pricing API; `instance_type_from_ec2` and
`catalogue_document` are the pure halves of that command.

GPU memory is what EC2's GpuInfo reports per GPU (e.g. 22888 MiB for the A10G
and L4, 45776 MiB for the L40S), not the marketing size.

Network bandwidth is NetworkInfo's default network card (the one the primary
interface, so S3 and registry traffic, uses): `BaselineBandwidthInGbps`, what
the instance sustains, and `PeakBandwidthInGbps`, what it bursts to ("Up to 10
Gigabit" types burst on credits). The cold-start budget reads both.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from functools import cache
from importlib import resources
from typing import Any

# The stacks boot the x86_64 Deep Learning AMI with NVIDIA's driver, so the
# catalogue holds whole NVIDIA GPUs on x86_64 instances: no fractional GPUs
# (g6f, gr6f), no Graviton (g5g).
CATALOGUE_MANUFACTURER = "NVIDIA"
CATALOGUE_ARCHITECTURE = "x86_64"


@dataclass(frozen=True)
class GpuInstanceType:
    instance_type: str
    family: str
    gpu_manufacturer: str
    gpu_model: str
    gpu_count: int
    gpu_memory_mib: int  # per GPU
    vcpus: int
    memory_mib: int
    on_demand_usd_per_hour: float | None
    # The default network card's bandwidth (DescribeInstanceTypes NetworkInfo); None when unknown.
    baseline_network_gbps: float | None = None
    peak_network_gbps: float | None = None

    @property
    def gpu_memory_bytes(self) -> int:
        return self.gpu_memory_mib * 1024 * 1024

    @property
    def total_gpu_memory_mib(self) -> int:
        return self.gpu_memory_mib * self.gpu_count


@dataclass(frozen=True)
class GpuCatalogue:
    source: str
    generated: str
    price_region: str
    instance_types: dict[str, GpuInstanceType]
    # Where the prices come from and as of when (empty in older documents).
    price_source: str = ""
    price_date: str = ""


def parse_catalogue(document: dict[str, Any]) -> GpuCatalogue:
    entries = {item["instance_type"]: GpuInstanceType(**item) for item in document["instance_types"]}
    return GpuCatalogue(
        source=document["source"],
        generated=document["generated"],
        price_region=document.get("price_region", "us-east-1"),
        instance_types=entries,
        price_source=document.get("price_source", ""),
        price_date=document.get("price_date", ""),
    )


def instance_type_from_ec2(info: Mapping[str, Any], price: float | None = None) -> GpuInstanceType | None:
    """A catalogue entry from one `DescribeInstanceTypes` item, or None when it is not one we serve on."""
    gpu_info = info.get("GpuInfo") or {}
    gpus = [gpu for gpu in gpu_info.get("Gpus", []) if gpu.get("Manufacturer") == CATALOGUE_MANUFACTURER]
    architectures = info.get("ProcessorInfo", {}).get("SupportedArchitectures", [])
    if len(gpus) != 1 or CATALOGUE_ARCHITECTURE not in architectures:
        return None
    gpu = gpus[0]
    count = int(gpu.get("Count", 0))
    memory = int(gpu.get("MemoryInfo", {}).get("SizeInMiB", 0))
    if count < 1 or memory <= 0:
        return None  # a fractional GPU (GpuPartitionSize < 1) cannot hold a sharded model
    name = str(info["InstanceType"])
    baseline, peak = network_gbps(info)
    return GpuInstanceType(
        instance_type=name,
        family=name.split(".", 1)[0],
        gpu_manufacturer=str(gpu["Manufacturer"]),
        gpu_model=str(gpu["Name"]),
        gpu_count=count,
        gpu_memory_mib=memory,
        vcpus=int(info["VCpuInfo"]["DefaultVCpus"]),
        memory_mib=int(info["MemoryInfo"]["SizeInMiB"]),
        on_demand_usd_per_hour=price,
        baseline_network_gbps=baseline,
        peak_network_gbps=peak,
    )


def network_gbps(info: Mapping[str, Any]) -> tuple[float | None, float | None]:
    """Baseline and peak Gbps of the default network card of one `DescribeInstanceTypes` item."""
    network = info.get("NetworkInfo") or {}
    index = network.get("DefaultNetworkCardIndex", 0)
    for card in network.get("NetworkCards", []):
        if card.get("NetworkCardIndex", 0) == index:
            baseline = card.get("BaselineBandwidthInGbps")
            peak = card.get("PeakBandwidthInGbps", baseline)
            return (
                float(baseline) if baseline is not None else None,
                float(peak) if peak is not None else None,
            )
    return None, None


def catalogue_document(
    instance_types: Iterable[GpuInstanceType],
    *,
    source: str,
    generated: str,
    price_region: str,
    price_source: str,
    price_date: str,
) -> dict[str, Any]:
    """The JSON document `parse_catalogue` reads, sorted by family and size."""
    ordered = sorted(instance_types, key=lambda it: (it.family, it.gpu_count, it.vcpus, it.instance_type))
    return {
        "source": source,
        "generated": generated,
        "price_region": price_region,
        "price_source": price_source,
        "price_date": price_date,
        "instance_types": [asdict(it) for it in ordered],
    }


@cache
def catalogue() -> GpuCatalogue:
    text = resources.files("llmdeploy.core").joinpath("data/gpu_instances.json").read_text()
    return parse_catalogue(json.loads(text))


def gpu_instance_type(name: str) -> GpuInstanceType | None:
    """The catalogue entry for an instance type, or None when it is not a known GPU type."""
    return catalogue().instance_types.get(name)


def gpu_instance_type_names() -> list[str]:
    return sorted(catalogue().instance_types)
