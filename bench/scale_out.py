"""Modelled scale-out time, phase by phase, from the cold-start budget (printed, never asserted).

    python bench/scale_out.py            # also run by `make bench` (bench/run.py)

For Llama-3.1-8B on g5.2xlarge and Llama-3.1-70B on p4d.24xlarge: today's path (image
from Docker Hub, weights from the hub through the NAT gateway), cold from S3, cold from
S3 with the image in the AMI, and a warm-pool start from S3, each beside its physical
floor (the bytes at the instance's peak bandwidth and PCIe). Targets of issue 18: an 8B
model serving within 3 minutes of a warm-pool start and within 6 minutes cold from S3.

These are a model's figures, not measurements: no GPU instance is reachable from where
this runs. The weights are the capacity planner's, from the bundled config.json.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from llmdeploy.core.capacity import weight_bytes
from llmdeploy.core.cold_start import ColdStartBudget, cold_start_budget
from llmdeploy.core.gpus import gpu_instance_type
from llmdeploy.core.models import resolve_model

CASES = (
    ("meta-llama/Llama-3.1-8B-Instruct", "g5.2xlarge", 180, 360),
    ("meta-llama/Llama-3.1-70B-Instruct", "p4d.24xlarge", None, None),
)
PHASES = ("boot", "image_pull", "weights_download", "load", "engine_start")


def paths(instance_type: str, weights: int) -> list[tuple[str, ColdStartBudget]]:
    instance = gpu_instance_type(instance_type)
    assert instance is not None
    return [
        ("today: hub + Docker Hub", cold_start_budget(instance, "vllm", weights)),
        ("cold, S3", cold_start_budget(instance, "vllm", weights, source="s3")),
        (
            "cold, S3, image in AMI",
            cold_start_budget(instance, "vllm", weights, source="s3", image_baked=True),
        ),
        ("warm pool, S3", cold_start_budget(instance, "vllm", weights, source="s3", start="warm")),
        ("warm pool, hub", cold_start_budget(instance, "vllm", weights, start="warm")),
    ]


def main() -> None:
    for model, instance_type, warm_target, cold_target in CASES:
        arch = resolve_model(model, allow_network=False)
        weights = weight_bytes(arch, arch.quantization)
        instance = gpu_instance_type(instance_type)
        assert instance is not None
        print(
            f"\n{arch.short_name} ({weights / 1e9:.1f} GB of weights) on {instance_type} "
            f"({instance.baseline_network_gbps:g} Gbps baseline, {instance.peak_network_gbps:g} peak)"
        )
        header = f"{'path':<26}" + "".join(f"{p:>18}" for p in PHASES) + f"{'total':>9}{'floor':>8}"
        print(header)
        for label, budget in paths(instance_type, weights):
            phases = {phase.name: phase for phase in budget.phases}
            cells = "".join(
                f"{f'{phases[p].seconds:.0f} ({phases[p].floor_seconds:.0f})':>18}" for p in PHASES
            )
            print(f"{label:<26}{cells}{budget.total_seconds:>8.0f}s{budget.floor_seconds:>7.0f}s")
        if warm_target and cold_target:
            print(
                f"targets: warm-pool start <= {warm_target} s, cold from S3 <= {cold_target} s "
                "(seconds per phase, physical floor in parentheses)"
            )


if __name__ == "__main__":
    main()
