"""The cold-start budget: pure arithmetic over the GPU catalogue, tested directly on every type."""

from __future__ import annotations

import itertools

import pytest

from llmdeploy.core.cold_start import (
    DISK_BYTES_PER_SECOND,
    GB,
    HUB_BYTES_PER_SECOND,
    IMAGE_COMPRESSED_BYTES,
    PCIE_BYTES_PER_SECOND,
    ColdStartBudget,
    cold_start_budget,
    grace_seconds,
    hook_timeout_seconds,
    instance_bandwidth,
    warm_pool_suggestion,
)
from llmdeploy.core.gpus import GpuInstanceType, catalogue, gpu_instance_type

INSTANCES = sorted(catalogue().instance_types.values(), key=lambda it: it.instance_type)
SIZES = [1 * GB, 16 * GB, 70 * GB, 140 * GB, 400 * GB]
VARIANTS = [
    (engine, source, start, baked)
    for engine in ("vllm", "tgi")
    for source in ("hub", "s3")
    for start in ("cold", "warm")
    for baked in (False, True)
]


def budgets(instance: GpuInstanceType, weights: int) -> list[ColdStartBudget]:
    return [
        cold_start_budget(instance, engine, weights, source=source, start=start, image_baked=baked)  # type: ignore[arg-type]
        for engine, source, start, baked in VARIANTS
    ]


def test_every_catalogue_type_has_its_network_bandwidth() -> None:
    for instance in INSTANCES:
        assert instance.baseline_network_gbps is not None, instance.instance_type
        assert (
            instance.peak_network_gbps is not None
            and instance.peak_network_gbps >= instance.baseline_network_gbps
        )


@pytest.mark.parametrize("instance", INSTANCES, ids=lambda it: it.instance_type)
def test_monotonic_in_model_size(instance: GpuInstanceType) -> None:
    for smaller, larger in itertools.pairwise(SIZES):
        for small, large in zip(budgets(instance, smaller), budgets(instance, larger), strict=True):
            assert small.total_seconds < large.total_seconds, (small, large)
            assert small.padded_seconds <= large.padded_seconds


@pytest.mark.parametrize("instance", INSTANCES, ids=lambda it: it.instance_type)
def test_each_phase_bounded_by_the_physical_rate_it_cites(instance: GpuInstanceType) -> None:
    _, peak = instance_bandwidth(instance)
    pcie = PCIE_BYTES_PER_SECOND * instance.gpu_count
    weights = 70 * GB
    for budget in budgets(instance, weights):
        phases = {phase.name: phase for phase in budget.phases}
        assert list(phases) == ["boot", "image_pull", "weights_download", "load", "engine_start"]
        for phase in budget.phases:
            assert phase.seconds >= phase.floor_seconds >= 0, (budget, phase)
            assert phase.assumption
        pull = phases["image_pull"]
        if pull.seconds:
            # Nothing pulls faster than the link: the floor is the image at peak bandwidth.
            assert pull.floor_seconds == pytest.approx(IMAGE_COMPRESSED_BYTES[budget.engine] / peak)
            assert "GPU catalogue" in pull.assumption
        download = phases["weights_download"]
        if download.seconds:
            assert download.seconds >= weights / peak
            if budget.source == "hub":
                assert download.seconds >= weights / HUB_BYTES_PER_SECOND
        load = phases["load"]
        if load.seconds:
            assert load.floor_seconds == pytest.approx(weights / pcie)
            assert load.seconds == pytest.approx(weights / DISK_BYTES_PER_SECOND)
        else:
            assert budget.source == "s3" and budget.engine == "vllm", "only the streamer overlaps the load"


def test_the_examples_of_the_issue() -> None:
    g5 = gpu_instance_type("g5.2xlarge")
    p4d = gpu_instance_type("p4d.24xlarge")
    assert g5 is not None and p4d is not None
    eight_b, seventy_b = 16 * GB, 141 * GB
    hub = cold_start_budget(g5, "vllm", eight_b)
    s3 = cold_start_budget(g5, "vllm", eight_b, source="s3")
    warm_s3 = cold_start_budget(g5, "vllm", eight_b, source="s3", start="warm")
    baked_s3 = cold_start_budget(g5, "vllm", eight_b, source="s3", image_baked=True)
    assert warm_s3.total_seconds < s3.total_seconds < hub.total_seconds
    # The issue's targets: an 8B model within 3 minutes of a warm start, 6 cold from S3 (image in the AMI).
    assert warm_s3.total_seconds <= 180
    assert baked_s3.total_seconds <= 360 < s3.total_seconds
    # The 70B model on p4d: S3 at 100 Gbps beats the hub by far more than on g5.
    big_hub = cold_start_budget(p4d, "vllm", seventy_b)
    big_s3 = cold_start_budget(p4d, "vllm", seventy_b, source="s3")
    assert big_hub.total_seconds / big_s3.total_seconds > hub.total_seconds / s3.total_seconds


def test_tgi_from_s3_copies_to_disk_and_pays_the_load() -> None:
    g5 = gpu_instance_type("g5.2xlarge")
    assert g5 is not None
    tgi = {phase.name: phase for phase in cold_start_budget(g5, "tgi", 16 * GB, source="s3").phases}
    vllm = {phase.name: phase for phase in cold_start_budget(g5, "vllm", 16 * GB, source="s3").phases}
    assert tgi["load"].seconds > 0 and vllm["load"].seconds == 0
    assert "parallel copy" in tgi["weights_download"].assumption
    assert "Run:ai streamer" in vllm["weights_download"].assumption


def test_grace_hook_timeout_and_warm_pool_suggestion_come_from_the_budget() -> None:
    g5 = gpu_instance_type("g5.2xlarge")
    assert g5 is not None
    cold = cold_start_budget(g5, "vllm", 16 * GB)
    warm = cold_start_budget(g5, "vllm", 16 * GB, start="warm")
    assert grace_seconds(cold) == cold.padded_seconds >= cold.total_seconds
    assert cold.padded_seconds % 60 == 0
    # Behind a launch hook the grace starts once the engine answers: far shorter.
    assert grace_seconds(cold, launch_hook=True) < grace_seconds(cold)
    assert hook_timeout_seconds(cold) == cold.padded_seconds
    huge = cold_start_budget(g5, "vllm", 10_000 * GB)
    assert hook_timeout_seconds(huge) == 7200, "EC2's maximum heartbeat timeout"
    suggestion = warm_pool_suggestion(cold, warm, min_size=2, max_size=4, root_volume_gib=132)
    assert suggestion["suggested"] and suggestion["min_size"] == 2
    assert suggestion["usd_per_month"] == pytest.approx(2 * 132 * 0.08)
    fixed = warm_pool_suggestion(cold, warm, min_size=2, max_size=2, root_volume_gib=132)
    assert not fixed["suggested"] and fixed["usd_per_month"] == 0


def test_unknown_engine_refused() -> None:
    g5 = gpu_instance_type("g5.2xlarge")
    assert g5 is not None
    with pytest.raises(ValueError, match="ollama"):
        cold_start_budget(g5, "ollama", GB)
