"""Dollars per million output tokens: the fleet's price per hour over its measured tokens per hour.

On-Demand prices come from the GPU catalogue (`llmdeploy/core/gpus.py`, with its region and
date); the catalogue has no Spot prices, which change by the hour, so a Spot share is priced only
with a price given (`--spot-price`), and a fleet with an unknown price gets no cost, never a guess.
"""

from __future__ import annotations

from llmdeploy.core.bench.errors import BenchInputError
from llmdeploy.core.bench.result import Fleet
from llmdeploy.core.gpus import catalogue, gpu_instance_type

SECONDS_PER_HOUR = 3600
MILLION = 1_000_000


def fleet_cost(
    instance_type: str | None, instances: int, on_demand: int | None, spot_usd_per_hour: float | None
) -> Fleet:
    """`instances` of `instance_type`, `on_demand` of them On-Demand (default: all), the rest Spot."""
    if instances < 1:
        raise BenchInputError(f"--instances: found {instances}; accepted: a whole number of at least 1")
    on_demand_count = instances if on_demand is None else on_demand
    if not 0 <= on_demand_count <= instances:
        raise BenchInputError(
            f"--on-demand: found {on_demand_count}; accepted: 0 to --instances ({instances})"
        )
    if spot_usd_per_hour is not None and not spot_usd_per_hour > 0:
        raise BenchInputError(
            f"--spot-price: found {spot_usd_per_hour:g}; accepted: US dollars per hour above 0"
        )
    spot_count = instances - on_demand_count
    if instance_type is None:
        return Fleet(
            on_demand_instances=on_demand_count,
            spot_instances=spot_count,
            price_basis="no instance type (pass --instance-type or a stack with a capacity output)",
        )
    known = gpu_instance_type(instance_type)
    on_demand_price = known.on_demand_usd_per_hour if known else None
    problems = []
    if known is None:
        problems.append(f"{instance_type} is not in the GPU catalogue")
    elif on_demand_count and on_demand_price is None:
        problems.append(f"the catalogue has no On-Demand price for {instance_type}")
    if spot_count and spot_usd_per_hour is None:
        problems.append(f"{spot_count} Spot instance(s) and no --spot-price")
    prices = catalogue()
    basis = f"On-Demand: GPU catalogue, {prices.price_region}" + (
        f", {prices.price_date}" if prices.price_date else ""
    )
    if spot_count:
        basis += "; Spot: --spot-price"
    total = None
    if not problems:
        total = round(on_demand_count * (on_demand_price or 0.0) + spot_count * (spot_usd_per_hour or 0.0), 6)
    return Fleet(
        instance_type=instance_type,
        on_demand_instances=on_demand_count,
        spot_instances=spot_count,
        on_demand_usd_per_hour=on_demand_price,
        spot_usd_per_hour=spot_usd_per_hour,
        usd_per_hour=total,
        price_basis="; ".join(problems) if problems else basis,
    )


def usd_per_million_output_tokens(
    usd_per_hour: float | None, output_tokens_per_second: float
) -> float | None:
    if usd_per_hour is None or output_tokens_per_second <= 0:
        return None
    return usd_per_hour / (output_tokens_per_second * SECONDS_PER_HOUR) * MILLION
