"""The GPU instance catalogue: shipped data checked against EC2's, and `llmdeploy catalog refresh`.

The refresh runs against moto's EC2 served on loopback (moto ships a snapshot of the real
DescribeInstanceTypes answer, GpuInfo included) and, for prices, against a loopback test double
of the AWS Pricing API (moto has none).
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

import pytest

from llmdeploy.cli.commands import catalog as catalog_command
from llmdeploy.core.gpus import (
    GpuInstanceType,
    catalogue,
    gpu_instance_type,
    gpu_instance_type_names,
    instance_type_from_ec2,
    parse_catalogue,
)
from tests.conftest import llmdeploy_cli


def moto_instance_types() -> dict[str, dict[str, Any]]:
    data = resources.files("moto").joinpath("ec2/resources/instance_types.json.gz").read_bytes()
    return dict(json.loads(gzip.decompress(data)))


# ---------------------------------------------------------------------------
# The shipped catalogue


def test_interface_other_engineers_use_is_unchanged() -> None:
    fields = [f.name for f in dataclasses.fields(GpuInstanceType)]
    assert fields == [
        "instance_type",
        "family",
        "gpu_manufacturer",
        "gpu_model",
        "gpu_count",
        "gpu_memory_mib",
        "vcpus",
        "memory_mib",
        "on_demand_usd_per_hour",
        # Added last, with defaults: positional construction of the fields above still works.
        "baseline_network_gbps",
        "peak_network_gbps",
    ]
    g5 = gpu_instance_type("g5.xlarge")
    assert g5 is not None and g5.gpu_memory_bytes == g5.gpu_memory_mib * 2**20
    assert gpu_instance_type("m7i.large") is None
    assert gpu_instance_type_names() == sorted(gpu_instance_type_names())
    cat = catalogue()
    assert cat.source and cat.generated and cat.price_region == "us-east-1"


def test_every_seed_instance_type_is_still_there() -> None:
    for family, sizes in {
        "g5": ("xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "48xlarge"),
        "g6": ("xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "48xlarge"),
        "g6e": ("xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "48xlarge"),
        "p4d": ("24xlarge",),
        "p4de": ("24xlarge",),
        "p5": ("48xlarge",),
    }.items():
        for size in sizes:
            assert gpu_instance_type(f"{family}.{size}") is not None, f"{family}.{size} dropped"


def test_shipped_gpu_figures_match_ec2s_describe_instance_types() -> None:
    ec2 = moto_instance_types()
    for name, entry in catalogue().instance_types.items():
        info = ec2[name]
        gpu = info["GpuInfo"]["Gpus"][0]
        card = info["NetworkInfo"]["NetworkCards"][info["NetworkInfo"].get("DefaultNetworkCardIndex", 0)]
        found = (
            entry.gpu_model,
            entry.gpu_count,
            entry.gpu_memory_mib,
            entry.vcpus,
            entry.memory_mib,
            entry.baseline_network_gbps,
            entry.peak_network_gbps,
        )
        expected = (
            gpu["Name"],
            gpu["Count"],
            gpu["MemoryInfo"]["SizeInMiB"],
            info["VCpuInfo"]["DefaultVCpus"],
            info["MemoryInfo"]["SizeInMiB"],
            card["BaselineBandwidthInGbps"],
            card["PeakBandwidthInGbps"],
        )
        assert found == expected, f"{name}: catalogue {found}, EC2 {expected}"


def test_the_seed_memory_errors_are_corrected() -> None:
    # The seed had the marketing sizes (24576 and 49152 MiB); EC2's GpuInfo says otherwise.
    assert {gpu_instance_type(n).gpu_memory_mib for n in ("g5.xlarge", "g6.xlarge")} == {22888}  # type: ignore[union-attr]
    assert gpu_instance_type("g6e.xlarge").gpu_memory_mib == 45776  # type: ignore[union-attr]
    assert gpu_instance_type("p4de.24xlarge").gpu_memory_mib == 81920  # type: ignore[union-attr]


def test_prices_say_where_they_come_from() -> None:
    cat = catalogue()
    assert "us-east-1" in cat.price_source and cat.price_date
    priced = {name: it.on_demand_usd_per_hour for name, it in cat.instance_types.items()}
    assert priced["g5.xlarge"] == 1.006 and priced["p5.48xlarge"] == 55.04
    assert all(price is None or 0 < price < 200 for price in priced.values())


def test_instance_type_from_ec2_keeps_whole_nvidia_gpus_on_x86() -> None:
    ec2 = moto_instance_types()
    assert instance_type_from_ec2(ec2["g6f.large"]) is None  # an eighth of an L4
    assert instance_type_from_ec2(ec2["g5g.xlarge"]) is None  # Graviton: the stacks boot x86_64 AMIs
    assert instance_type_from_ec2(ec2["m7i.large"]) is None
    entry = instance_type_from_ec2(ec2["g6e.12xlarge"], price=10.0)
    assert entry == GpuInstanceType(
        "g6e.12xlarge", "g6e", "NVIDIA", "L40S", 4, 45776, 48, 393216, 10.0, 100.0, 100.0
    )
    # An "Up to 10 Gigabit" type: its baseline, and the peak it bursts to.
    g5 = instance_type_from_ec2(ec2["g5.2xlarge"])
    assert g5 is not None and (g5.baseline_network_gbps, g5.peak_network_gbps) == (5.0, 10.0)


# ---------------------------------------------------------------------------
# Refresh against moto's EC2 on loopback


@pytest.fixture
def moto_ec2(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_MAX_ATTEMPTS": "1",
    }.items():
        monkeypatch.setenv(key, value)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def refresh_args(output: Path, endpoint: str, **overrides: Any) -> argparse.Namespace:
    values = {
        "region": "us-east-1",
        "endpoint_url": endpoint,
        "prices": False,
        "price_region": None,
        "pricing_endpoint_url": None,
        "output": output,
        **overrides,
    }
    return argparse.Namespace(**values)


@pytest.mark.slow
def test_refresh_regenerates_the_catalogue_from_ec2(moto_ec2: str, tmp_path: Path) -> None:
    output = tmp_path / "gpu_instances.json"
    shipped = resources.files("llmdeploy.core").joinpath("data/gpu_instances.json").read_text()
    output.write_text(shipped)  # prices are carried over when --prices is not given
    assert catalog_command.handle_refresh(refresh_args(output, moto_ec2)) == 0
    refreshed = parse_catalogue(json.loads(output.read_text()))
    assert refreshed.instance_types == catalogue().instance_types
    assert refreshed.price_source == catalogue().price_source
    assert "DescribeInstanceTypes" in refreshed.source


@pytest.mark.slow
def test_refresh_without_previous_prices_writes_none(moto_ec2: str, tmp_path: Path) -> None:
    output = tmp_path / "fresh.json"
    assert catalog_command.handle_refresh(refresh_args(output, moto_ec2)) == 0
    refreshed = parse_catalogue(json.loads(output.read_text()))
    assert refreshed.instance_types["g5.48xlarge"].gpu_count == 8
    assert all(it.on_demand_usd_per_hour is None for it in refreshed.instance_types.values())
    assert refreshed.price_source == "none"


@pytest.mark.slow
def test_refresh_from_the_command_line(moto_ec2: str, tmp_path: Path) -> None:
    output = tmp_path / "cli.json"
    done = llmdeploy_cli("catalog", "refresh", "--endpoint-url", moto_ec2, "--output", str(output))
    assert done.returncode == 0, done.stderr
    assert "GPU instance types" in done.stdout
    assert "p5.48xlarge" in {
        item["instance_type"] for item in json.loads(output.read_text())["instance_types"]
    }


def test_refresh_against_no_aws_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    output = tmp_path / "never.json"
    done = llmdeploy_cli(
        "catalog", "refresh", "--endpoint-url", "http://127.0.0.1:9", "--output", str(output)
    )
    assert done.returncode == 1
    assert (
        done.stderr.startswith("error: AWS refused or could not be reached")
        and "Traceback" not in done.stderr
    )
    assert not output.exists()


# ---------------------------------------------------------------------------
# Prices, against a test double of the AWS Pricing API (JSON 1.1 over HTTP on loopback)


def price_item(instance_type: str, usd: str, unit: str = "Hrs") -> str:
    return json.dumps(
        {
            "product": {"attributes": {"instanceType": instance_type, "operatingSystem": "Linux"}},
            "terms": {
                "OnDemand": {
                    "SKU.JRTCKXETXF": {
                        "priceDimensions": {
                            "SKU.JRTCKXETXF.6YS6EN2CT7": {"unit": unit, "pricePerUnit": {"USD": usd}}
                        }
                    }
                }
            },
        }
    )


class FakePricingHandler(BaseHTTPRequestHandler):
    """Answers AWSPriceListService.GetProducts: two pages for g5.xlarge, one for the others."""

    requests: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append({"target": self.headers.get("X-Amz-Target"), **body})
        filters = {f["Field"]: f["Value"] for f in body.get("Filters", [])}
        name = filters.get("instanceType", "")
        if name == "g5.xlarge" and "NextToken" not in body:
            answer: dict[str, Any] = {"FormatVersion": "aws_v1", "PriceList": [], "NextToken": "page-2"}
        elif name == "g5.xlarge":
            answer = {"FormatVersion": "aws_v1", "PriceList": [price_item(name, "1.0060000000")]}
        elif name == "p5.48xlarge":
            answer = {
                "FormatVersion": "aws_v1",
                "PriceList": [price_item(name, "0.0000000000"), price_item(name, "55.04")],
            }
        else:
            answer = {"FormatVersion": "aws_v1", "PriceList": []}
        payload = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def fake_pricing() -> Iterator[str]:
    FakePricingHandler.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakePricingHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join()


@pytest.mark.slow
def test_refresh_with_prices_reads_the_pricing_api(moto_ec2: str, fake_pricing: str, tmp_path: Path) -> None:
    output = tmp_path / "priced.json"
    args = refresh_args(output, moto_ec2, prices=True, pricing_endpoint_url=fake_pricing)
    assert catalog_command.handle_refresh(args) == 0
    refreshed = parse_catalogue(json.loads(output.read_text()))
    prices = {name: it.on_demand_usd_per_hour for name, it in refreshed.instance_types.items()}
    assert prices["g5.xlarge"] == 1.006  # found on the second page
    assert prices["p5.48xlarge"] == 55.04  # the zero-priced item is skipped
    assert prices["g6.xlarge"] is None
    assert refreshed.price_source.startswith("AWS Pricing API GetProducts (AmazonEC2, us-east-1")
    first = FakePricingHandler.requests[0]
    assert first["target"] == "AWSPriceListService.GetProducts" and first["ServiceCode"] == "AmazonEC2"
    filters = {f["Field"]: f["Value"] for f in first["Filters"]}
    assert filters == {
        "operatingSystem": "Linux",
        "tenancy": "Shared",
        "preInstalledSw": "NA",
        "capacitystatus": "Used",
        "licenseModel": "No License required",
        "regionCode": "us-east-1",
        "instanceType": filters["instanceType"],
    }
    assert len(FakePricingHandler.requests) == len(refreshed.instance_types) + 1  # + g5.xlarge's second page


def test_on_demand_price_parser() -> None:
    assert catalog_command.on_demand_price(price_item("g6.xlarge", "0.8048")) == ("g6.xlarge", 0.8048)
    assert catalog_command.on_demand_price(price_item("g6.xlarge", "0.8048", unit="Quantity")) is None
    assert catalog_command.on_demand_price({"product": {}, "terms": {}}) is None


def test_catalog_list() -> None:
    done = llmdeploy_cli("catalog", "list")
    assert done.returncode == 0 and "g6e.xlarge" in done.stdout and "45776" in done.stdout
    listed = json.loads(llmdeploy_cli("catalog", "list", "--format", "json").stdout)
    assert len(listed["instance_types"]) == len(gpu_instance_type_names())
