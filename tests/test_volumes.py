"""Root volume sizing (llmdeploy/core/volumes.py)."""

from __future__ import annotations

from llmdeploy.core.gpus import gpu_instance_type
from llmdeploy.core.volumes import (
    DLAMI_ROOT_SNAPSHOT_GIB,
    ENGINE_IMAGE_GIB,
    root_volume_gib,
    weights_disk_factor,
)


def test_root_volume_holds_the_ami_the_image_and_what_the_gpus_can_serve() -> None:
    g5 = gpu_instance_type("g5.xlarge")
    assert g5 is not None
    # 75 (DLAMI) + 20 (TGI image) + 23 (one A10G: 22888 MiB as EC2's GpuInfo reports it) + 10 headroom
    assert root_volume_gib(g5, image_gib=ENGINE_IMAGE_GIB["tgi"]) == 128
    p5 = gpu_instance_type("p5.48xlarge")
    assert p5 is not None
    assert root_volume_gib(p5, image_gib=ENGINE_IMAGE_GIB["tgi"]) == DLAMI_ROOT_SNAPSHOT_GIB + 20 + 640 + 10


def test_on_the_fly_quantization_downloads_larger_weights() -> None:
    g5 = gpu_instance_type("g5.xlarge")
    assert g5 is not None
    assert weights_disk_factor(None) == 1.0 and weights_disk_factor("awq") == 1.0
    assert weights_disk_factor("bitsandbytes-nf4") == 4.0
    assert root_volume_gib(g5, image_gib=20, weights_factor=weights_disk_factor("bitsandbytes")) == 150
