"""The planner wired into the stacks: settings refuse a config that cannot serve, the plan shows capacity.

The staging program runs offline under the mock monitor (llmdeploy.cli.mockrun) with the test base
config of tests/programs/staging (Qwen2.5-7B-Instruct on g5.xlarge, TGI 4096/8192).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmdeploy.cli.mockrun import ProgramRefused, ProgramRun, run_program
from llmdeploy.cli.plan import plan_document
from llmdeploy.core.capacity import TGI_KEYS, CapacityRequest, assess_capacity

STAGING_BASE = Path(__file__).resolve().parent / "programs" / "staging"


def staging(**config: str) -> ProgramRun:
    return run_program(STAGING_BASE, "staging", config={f"llmdeploy:{k}": v for k, v in config.items()})


def refusal(**config: str) -> str:
    with pytest.raises(ProgramRefused) as refused:
        staging(**config)
    return str(refused.value)


def capacity_output(run: ProgramRun) -> dict:
    return dict(plan_document(run)["outputs"]["capacity"])


def test_staging_exports_its_capacity_and_cost() -> None:
    capacity = capacity_output(staging())
    expected = assess_capacity(
        CapacityRequest(
            model="Qwen/Qwen2.5-7B-Instruct",
            instance_type="g5.xlarge",
            engine="tgi",
            max_model_len=8192,
            max_input_tokens=4096,
            keys=TGI_KEYS,
        )
    ).output()
    assert capacity == json.loads(json.dumps(expected)), "the plan must show the planner's figures"
    assert capacity["engine"] == "tgi" and capacity["max_model_len"] == 8192
    assert capacity["max_model_len_source"] == "set"
    assert capacity["concurrent_sequences"] == capacity["kv_cache_tokens"] // 8192 >= 1
    assert capacity["cost_per_hour_usd"] == {
        "min": 1.006,
        "max": 1.006,
        "instances": [1, 1],
        "region": "us-east-1",
    }


def test_staging_refuses_max_total_tokens_the_kv_cache_cannot_hold() -> None:
    line = refusal(model="meta-llama/Llama-3.1-8B-Instruct", maxInputTokens="4096", maxTotalTokens="131072")
    assert line.startswith("llmdeploy:maxTotalTokens: found 131072; accepted: at most ")
    assert (
        "on g5.xlarge (Llama-3.1-8B-Instruct on 1 x A10G: one 131072-token sequence needs 16.00 GiB" in line
    )
    assert "or an instance type that fits: g6e.xlarge (1 x L40S 45776 MiB, $1.861/h" in line
    assert "\n" not in line


def test_staging_refuses_a_model_whose_weights_overflow_the_gpus() -> None:
    line = refusal(model="meta-llama/Llama-3.1-70B-Instruct")
    assert line.startswith(
        "llmdeploy:instanceType: found 'g5.xlarge'; accepted: an instance type whose GPUs hold "
    )
    assert "Llama-3.1-70B-Instruct's 131.45 GiB of weights per GPU" in line


def test_staging_refuses_a_gpu_count_that_cannot_shard_the_model() -> None:
    line = refusal(instanceType="g6e.48xlarge", shmSize="8g")
    assert line.startswith(
        "llmdeploy:instanceType: found 'g6e.48xlarge' (8 GPUs); accepted: an instance type"
    )
    assert "28 attention heads" in line


def test_a_quantized_checkpoint_fits_where_the_full_one_does_not() -> None:
    line = refusal(model="meta-llama/Llama-3.1-70B-Instruct", instanceType="g6e.xlarge")
    assert line.startswith("llmdeploy:instanceType: found 'g6e.xlarge'")
    capacity = capacity_output(
        staging(model="hugging-quants/Meta-Llama-3.1-70B-Instruct-AWQ-INT4", instanceType="g6e.xlarge")
    )
    assert capacity["weights_gib_per_gpu"] < 40 and capacity["kv_cache_tokens"] >= 8192


def test_an_unknown_model_offline_is_a_warning_and_an_unknown_capacity() -> None:
    run = staging(model="acme/private-model")
    assert capacity_output(run)["unknown"].startswith("llmdeploy:model: found 'acme/private-model'")
    warnings = [message for level, message in run.log if level == "warning"]
    assert any(
        message.startswith("capacity not estimated, so not checked: llmdeploy:model:") for message in warnings
    ), run.log
