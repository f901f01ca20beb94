"""What `llmdeploy bench STACK` reads of a stack: outputs (as `verify` does) and, from its settings, image and size."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmdeploy.cli import build_parser
from llmdeploy.cli.commands.bench import read_target
from llmdeploy.core.engines import TGI, VLLM
from llmdeploy.core.gpus import gpu_instance_type
from tests.conftest import plan_of
from tests.support import REPO

pytestmark = pytest.mark.unit


def deployed_outputs(stack: str, tmp_path: Path) -> Path:
    """The offline plan's outputs with the values only a deploy knows filled in."""
    outputs = dict(plan_of(stack)["outputs"])
    outputs["endpoint"] = "https://llm.example.invalid/v1"
    path = tmp_path / f"{stack}.json"
    path.write_text(json.dumps(outputs))
    return path


def test_staging_target_from_outputs_and_settings(tmp_path: Path) -> None:
    args = build_parser("bench").parse_args(
        ["bench", "staging", "--program", str(REPO), "--outputs", str(deployed_outputs("staging", tmp_path))]
    )
    target, tokenizer = read_target(args)
    capacity = plan_of("staging")["outputs"]["capacity"]
    assert target.endpoint == "https://llm.example.invalid/v1" and target.stack == "staging"
    assert target.engine == "tgi" and target.image == TGI.image()
    assert target.fleet.instance_type == capacity["instance_type"] and target.fleet.on_demand_instances == 1
    price = gpu_instance_type(capacity["instance_type"])
    assert price is not None and target.fleet.usd_per_hour == pytest.approx(price.on_demand_usd_per_hour)
    # Prompts are sized with the served model's own tokenizer: its hub id, from the capacity output.
    assert tokenizer == capacity["model"]


def test_prod_target_counts_the_group(tmp_path: Path) -> None:
    args = build_parser("bench").parse_args(
        ["bench", "prod", "--program", str(REPO), "--outputs", str(deployed_outputs("prod", tmp_path))]
    )
    target, _ = read_target(args)
    capacity = plan_of("prod")["outputs"]["capacity"]
    assert target.engine == "vllm" and target.image == VLLM.image()
    assert target.fleet.on_demand_instances == capacity["cost_per_hour_usd"]["instances"][0]
    assert target.fleet.usd_per_hour == pytest.approx(capacity["cost_per_hour_usd"]["min"])


def test_arguments_override_the_outputs(tmp_path: Path) -> None:
    args = build_parser("bench").parse_args(
        ["bench", "staging", "--program", str(REPO), "--outputs", str(deployed_outputs("staging", tmp_path)),
         "--instance-type", "g6e.xlarge", "--instances", "3", "--on-demand", "1", "--spot-price", "0.5",
         "--tokenizer", "bytes"]
    )  # fmt: skip
    target, tokenizer = read_target(args)
    price = gpu_instance_type("g6e.xlarge")
    assert price is not None and price.on_demand_usd_per_hour is not None
    assert (target.fleet.on_demand_instances, target.fleet.spot_instances) == (1, 2)
    assert target.fleet.usd_per_hour == pytest.approx(price.on_demand_usd_per_hour + 2 * 0.5)
    assert tokenizer == "bytes"
