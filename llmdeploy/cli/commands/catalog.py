"""`llmdeploy catalog refresh|list`: the GPU instance catalogue, regenerated from EC2 or shown.

`refresh` reads EC2 `DescribeInstanceTypes` (GpuInfo, vCPUs, memory) with
boto3 across every page, keeps whole NVIDIA GPUs on x86_64, and writes
`llmdeploy/core/data/gpu_instances.json` with its source and date. Prices are
optional: `--prices` reads on-demand Linux prices for `--price-region` from the
AWS Pricing API; without it the prices already in the catalogue are kept.
Needs AWS credentials (any that may call ec2:DescribeInstanceTypes and
pricing:GetProducts); `--endpoint-url` points at another endpoint.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from llmdeploy.cli.commands import SUMMARIES
from llmdeploy.core.gpus import (
    GpuInstanceType,
    catalogue_document,
    instance_type_from_ec2,
    parse_catalogue,
)

# The Pricing API answers from these regions only; us-east-1 serves every region's prices.
PRICING_API_REGION = "us-east-1"
# One on-demand Linux price per instance type: shared tenancy, no pre-installed software,
# the "Used" capacity status (not reservations), no SQL/Windows licence.
PRICE_FILTERS = {
    "operatingSystem": "Linux",
    "tenancy": "Shared",
    "preInstalledSw": "NA",
    "capacitystatus": "Used",
    "licenseModel": "No License required",
}


def default_output() -> Path:
    return Path(str(resources.files("llmdeploy.core").joinpath("data/gpu_instances.json")))


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "catalog",
        help=SUMMARIES["catalog"],
        description="The GPU instance catalogue that settings validation and capacity planning read.",
    )
    actions = parser.add_subparsers(dest="catalog_command", required=True, metavar="ACTION")

    refresh = actions.add_parser(
        "refresh",
        help="regenerate the catalogue from EC2 DescribeInstanceTypes (and prices from the Pricing API)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    refresh.add_argument("--region", default="us-east-1", help="EC2 region to describe (default us-east-1)")
    refresh.add_argument("--endpoint-url", metavar="URL", help="EC2 endpoint (default: AWS's)")
    refresh.add_argument("--prices", action="store_true", help="also read on-demand prices (Pricing API)")
    refresh.add_argument(
        "--price-region",
        default=None,
        metavar="REGION",
        help="region whose prices to read (default: --region)",
    )
    refresh.add_argument(
        "--pricing-endpoint-url", metavar="URL", help="Pricing API endpoint (default: AWS's)"
    )
    refresh.add_argument(
        "--output", type=Path, default=None, metavar="PATH", help="default: the shipped file"
    )
    refresh.set_defaults(handler=handle_refresh)

    listing = actions.add_parser("list", help="print the catalogue")
    listing.add_argument("--format", choices=("text", "json"), default="text")
    listing.set_defaults(handler=handle_list)


# ---------------------------------------------------------------------------
# Pure parts


def gpu_instance_types(pages: Iterable[Mapping[str, Any]]) -> list[GpuInstanceType]:
    """Catalogue entries from DescribeInstanceTypes pages (what the paginator yields)."""
    found: dict[str, GpuInstanceType] = {}
    for page in pages:
        for info in page.get("InstanceTypes", []):
            entry = instance_type_from_ec2(info)
            if entry is not None:
                found[entry.instance_type] = entry
    return list(found.values())


def on_demand_price(item: str | Mapping[str, Any]) -> tuple[str, float] | None:
    """(instance type, USD per hour) from one Pricing API PriceList item (a JSON string)."""
    product = json.loads(item) if isinstance(item, str) else item
    instance_type = product.get("product", {}).get("attributes", {}).get("instanceType")
    terms = product.get("terms", {}).get("OnDemand", {})
    for term in terms.values():
        for dimension in term.get("priceDimensions", {}).values():
            usd = dimension.get("pricePerUnit", {}).get("USD")
            if instance_type and usd is not None and dimension.get("unit") == "Hrs" and float(usd) > 0:
                return str(instance_type), float(usd)
    return None


def price_filters(region: str, instance_type: str) -> list[dict[str, str]]:
    fields = {**PRICE_FILTERS, "regionCode": region, "instanceType": instance_type}
    return [{"Type": "TERM_MATCH", "Field": field, "Value": value} for field, value in fields.items()]


def with_prices(
    entries: Iterable[GpuInstanceType], prices: Mapping[str, float | None]
) -> list[GpuInstanceType]:
    return [
        GpuInstanceType(**{**entry.__dict__, "on_demand_usd_per_hour": prices.get(entry.instance_type)})
        for entry in entries
    ]


# ---------------------------------------------------------------------------
# AWS calls


def _client(service: str, region: str, endpoint_url: str | None) -> Any:
    import boto3  # type: ignore[import-untyped]  # imported here: only this command needs it

    return boto3.client(service, region_name=region, endpoint_url=endpoint_url)


def describe_gpu_instance_types(region: str, endpoint_url: str | None) -> list[GpuInstanceType]:
    client = _client("ec2", region, endpoint_url)
    paginator = client.get_paginator("describe_instance_types")
    return gpu_instance_types(paginator.paginate())


def fetch_prices(region: str, instance_types: Iterable[str], endpoint_url: str | None) -> dict[str, float]:
    client = _client("pricing", PRICING_API_REGION, endpoint_url)
    paginator = client.get_paginator("get_products")
    prices: dict[str, float] = {}
    for name in instance_types:
        for page in paginator.paginate(ServiceCode="AmazonEC2", Filters=price_filters(region, name)):
            for item in page.get("PriceList", []):
                found = on_demand_price(item)
                if found and found[0] == name:
                    prices[name] = found[1]
    return prices


# ---------------------------------------------------------------------------
# Handlers


def _today() -> str:
    return datetime.datetime.now(datetime.UTC).date().isoformat()


def handle_refresh(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

    output: Path = args.output or default_output()
    price_region = args.price_region or args.region
    try:
        entries = describe_gpu_instance_types(args.region, args.endpoint_url)
        if not entries:
            print(f"error: EC2 in {args.region} described no NVIDIA GPU instance types", file=sys.stderr)
            return 1
        if args.prices:
            prices: dict[str, float | None] = dict(
                fetch_prices(price_region, [e.instance_type for e in entries], args.pricing_endpoint_url)
            )
            price_source = (
                f"AWS Pricing API GetProducts (AmazonEC2, {price_region}, on-demand Linux, shared tenancy), "
                f"read by `llmdeploy catalog refresh --prices`"
            )
            price_date = _today()
        else:
            previous = parse_catalogue(json.loads(output.read_text())) if output.is_file() else None
            prices = {
                name: entry.on_demand_usd_per_hour
                for name, entry in (previous.instance_types if previous else {}).items()
            }
            price_source = previous.price_source if previous else "none"
            price_date = previous.price_date if previous else ""
            price_region = previous.price_region if previous else price_region
    except (BotoCoreError, ClientError) as error:
        print(f"error: AWS refused or could not be reached: {error}", file=sys.stderr)
        return 1
    document = catalogue_document(
        with_prices(entries, prices),
        source=(
            f"EC2 DescribeInstanceTypes GpuInfo ({args.region}), read by `llmdeploy catalog refresh`: whole "
            f"NVIDIA GPUs on x86_64 instance types; GPU memory is GpuInfo's MemoryInfo.SizeInMiB per GPU."
        ),
        generated=_today(),
        price_region=price_region,
        price_source=price_source,
        price_date=price_date,
    )
    output.write_text(json.dumps(document, indent=1) + "\n")
    priced = sum(1 for item in document["instance_types"] if item["on_demand_usd_per_hour"] is not None)
    print(f"wrote {output}: {len(entries)} GPU instance types, {priced} with a {price_region} price")
    return 0


def handle_list(args: argparse.Namespace) -> int:
    from llmdeploy.core.gpus import catalogue

    cat = catalogue()
    if args.format == "json":
        print(
            json.dumps(
                {
                    "source": cat.source,
                    "generated": cat.generated,
                    "price_region": cat.price_region,
                    "price_source": cat.price_source,
                    "price_date": cat.price_date,
                    "instance_types": [it.__dict__ for it in cat.instance_types.values()],
                },
                indent=1,
            )
        )
        return 0
    name, gpus, gpu, mib, vcpus, memory, usd = (
        "instance type",
        "GPUs",
        "GPU",
        "MiB/GPU",
        "vCPUs",
        "memory MiB",
        "USD/h",
    )
    print(f"{name:<20}{gpus:>5}  {gpu:<22}{mib:>9}{vcpus:>7}{memory:>12}{usd:>11}")
    for it in sorted(cat.instance_types.values(), key=lambda it: (it.family, it.gpu_count, it.vcpus)):
        price = f"{it.on_demand_usd_per_hour:.4f}" if it.on_demand_usd_per_hour is not None else "-"
        print(
            f"{it.instance_type:<20}{it.gpu_count:>5}  {it.gpu_model:<22}{it.gpu_memory_mib:>9}{it.vcpus:>7}"
            f"{it.memory_mib:>12}{price:>11}"
        )
    print(f"\nsource: {cat.source} ({cat.generated})")
    print(f"prices: {cat.price_region}, {cat.price_source or 'none'} ({cat.price_date or 'undated'})")
    return 0
