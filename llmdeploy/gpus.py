"""The GPU instance catalogue: what each EC2 GPU instance type has.

Shipped as data (`data/gpu_instances.json`, with its source and date) so that
settings validation and the offline plan need no AWS call.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any


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


def parse_catalogue(document: dict[str, Any]) -> GpuCatalogue:
    entries = {item["instance_type"]: GpuInstanceType(**item) for item in document["instance_types"]}
    return GpuCatalogue(
        source=document["source"],
        generated=document["generated"],
        price_region=document.get("price_region", "us-east-1"),
        instance_types=entries,
    )


@cache
def catalogue() -> GpuCatalogue:
    text = resources.files("llmdeploy").joinpath("data/gpu_instances.json").read_text()
    return parse_catalogue(json.loads(text))


def gpu_instance_type(name: str) -> GpuInstanceType | None:
    """The catalogue entry for an instance type, or None when it is not a known GPU type."""
    return catalogue().instance_types.get(name)


def gpu_instance_type_names() -> list[str]:
    return sorted(catalogue().instance_types)
