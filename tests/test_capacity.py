"""Capacity arithmetic: weights, KV cache, engine budgets, verdicts and the settings lines."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from llmdeploy.core.capacity import (
    GIB,
    TGI_WIGGLE_ROOM,
    CapacityRequest,
    activation_peak_bytes,
    assess_capacity,
    assess_fleet_capacity,
    capacity_problems,
    choose_max_model_len,
    cost_per_hour,
    cuda_visible_bytes,
    estimate,
    fitting_instance_types,
    kv_bytes_per_token,
    vllm_batch_defaults,
    vllm_kv_budget_bytes,
    weight_bytes,
    weight_bytes_per_gpu,
)
from llmdeploy.core.gpus import GpuInstanceType, gpu_instance_type
from llmdeploy.core.models import clear_resolve_cache, engine_quantization, resolve_model

LLAMA3_8B = "meta-llama/Meta-Llama-3-8B"
LLAMA31_8B = "meta-llama/Llama-3.1-8B-Instruct"
LLAMA31_70B = "meta-llama/Llama-3.1-70B-Instruct"


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("LLMDEPLOY_CACHE_DIR", str(tmp_path))
    clear_resolve_cache()
    yield
    clear_resolve_cache()


def instance(name: str) -> GpuInstanceType:
    found = gpu_instance_type(name)
    assert found is not None, f"{name} is missing from the catalogue"
    return found


def request(**overrides: object) -> CapacityRequest:
    base = CapacityRequest(model=LLAMA31_8B, instance_type="g6e.xlarge", max_model_len=8192)
    return replace(base, **overrides)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------
# The terms


def test_kv_bytes_per_token_is_2_x_layers_x_kv_heads_x_head_dim_x_bytes() -> None:
    arch = resolve_model(LLAMA3_8B)
    # Llama-3-8B, 32 layers, 8 KV heads, head_dim 128, bf16 -> 131,072 B, 1 GiB per 8k tokens.
    assert kv_bytes_per_token(arch) == 2 * 32 * 8 * 128 * 2 == 131_072
    assert kv_bytes_per_token(arch) * 8192 == GIB
    assert kv_bytes_per_token(arch, dtype_bytes=1) == 65_536  # --kv-cache-dtype fp8
    assert kv_bytes_per_token(arch, tp=2) == 65_536  # each GPU holds half the KV heads
    assert kv_bytes_per_token(arch, tp=8) == 16_384  # one KV head per GPU
    qwen = resolve_model("Qwen/Qwen2.5-7B-Instruct")  # 4 KV heads: at TP=8 each head sits on two GPUs
    assert kv_bytes_per_token(qwen, tp=8) == kv_bytes_per_token(qwen, tp=4)


def test_weights_of_llama3_8b_are_the_published_14_96_gib() -> None:
    arch = resolve_model(LLAMA3_8B)
    assert round(weight_bytes(arch) / GIB, 2) == 14.96  # vllm#12330, vllm#10511
    assert round(weight_bytes_per_gpu(arch, 2, None) / GIB, 2) == 7.48  # vllm#10511 at -tp 2


def test_quantization_shrinks_the_linear_layers_only() -> None:
    awq = resolve_model("hugging-quants/Meta-Llama-3.1-70B-Instruct-AWQ-INT4")
    full = resolve_model(LLAMA31_70B)
    counts = full.parameter_counts()
    plain = (counts.embedding + counts.lm_head + counts.other) * 2
    assert weight_bytes(awq, awq.quantization) == int(plain + counts.quantizable * (0.5 + 2.5 / 128))
    assert 35 * GIB < weight_bytes(awq, awq.quantization) < 40 * GIB < weight_bytes(full) / 3
    fp8 = weight_bytes(full, engine_quantization("fp8"))
    assert fp8 == plain + counts.quantizable


def test_activation_model_matches_the_published_profile_peak() -> None:
    arch = resolve_model(LLAMA3_8B)
    # vllm#10511: 8192 batched tokens, 256 sequences -> "PyTorch activation peak memory 1.26GiB".
    assert activation_peak_bytes(arch, 8192, 256) / GIB == pytest.approx(1.26, rel=0.05)


def test_published_budget_arithmetic_gives_the_published_kv_memory() -> None:
    # vllm#12330: A100-40GB (39.39 GiB to CUDA) at 0.9, weights 14.96 GiB,
    # activation peak 9.37 GiB, 11.12 GiB left for the KV cache.
    kv = vllm_kv_budget_bytes(39.39 * GIB, 0.9, weight_bytes(resolve_model(LLAMA3_8B)), 0, 9.37 * GIB)
    assert round(kv / GIB, 2) == 11.12
    # vllm#10511: H100 (79.22 GiB) at 0.9, weights 14.96, non-torch 1.79, activation 1.26 -> 53.29 GiB.
    kv = vllm_kv_budget_bytes(79.22 * GIB, 0.9, 14.96 * GIB, 1.79 * GIB, 1.26 * GIB)
    assert round(kv / GIB, 2) == 53.29


def test_cuda_visible_memory_errs_on_the_safe_side_of_the_published_totals() -> None:
    assert 39.0 * GIB < cuda_visible_bytes(instance("p4d.24xlarge")) <= 39.39 * GIB  # vllm#12330
    assert 78.5 * GIB < cuda_visible_bytes(instance("p5.48xlarge")) <= 79.22 * GIB  # vllm#10511


def test_vllm_batch_defaults_follow_gpu_memory() -> None:
    assert vllm_batch_defaults(instance("p5.48xlarge")) == (8192, 1024)
    assert vllm_batch_defaults(instance("p4de.24xlarge")) == (2048, 256)  # A100s keep the small defaults
    assert vllm_batch_defaults(instance("g6e.xlarge")) == (2048, 256)


# ---------------------------------------------------------------------------
# Estimates and verdicts


def test_llama_8b_on_an_l40s_fits_many_8k_sequences() -> None:
    arch, it = resolve_model(LLAMA31_8B), instance("g6e.xlarge")
    est = estimate(arch, it, request(), 8192)
    assert est.fits and est.concurrent_sequences == est.kv_cache_tokens // 8192 >= 20
    assert est.kv_cache_tokens % 16 == 0
    expected_kv = est.budget_bytes - est.weight_bytes - est.non_torch_bytes - est.activation_bytes
    assert est.kv_budget_bytes == pytest.approx(expected_kv, abs=2)
    assert est.verdict().startswith("fits: ")


def test_more_utilization_more_kv_cache() -> None:
    arch, it = resolve_model(LLAMA31_8B), instance("g5.xlarge")
    low = estimate(arch, it, request(gpu_memory_utilization=0.85), 8192)
    high = estimate(arch, it, request(gpu_memory_utilization=0.95), 8192)
    assert high.kv_cache_tokens > low.kv_cache_tokens


def test_tgi_keeps_its_wiggle_room() -> None:
    arch, it = resolve_model(LLAMA31_8B), instance("g6e.xlarge")
    tgi = estimate(arch, it, request(engine="tgi", max_input_tokens=4096), 8192)
    free = tgi.budget_bytes - tgi.weight_bytes - tgi.non_torch_bytes - tgi.activation_bytes
    assert tgi.kv_budget_bytes == int(free * TGI_WIGGLE_ROOM)
    assert tgi.max_num_batched_tokens == 4096 + 50  # max_batch_prefill_tokens default


def test_max_model_len_too_long_for_the_gpu_names_the_numbers_and_the_alternatives() -> None:
    problems = capacity_problems(request(instance_type="g5.xlarge", max_model_len=131072))
    assert len(problems) == 1, problems
    line = problems[0]
    assert re.match(
        r"^llmdeploy:maxModelLen: found 131072; accepted: at most \d+ tokens on g5\.xlarge ", line
    )
    assert "needs 16.00 GiB of KV cache per GPU" in line and "of weights" in line
    assert "or an instance type that fits: g6e.xlarge (1 x L40S 45776 MiB, $1.861/h" in line
    assert "\n" not in line


def test_model_too_big_for_the_gpus_names_the_instance_types_that_fit() -> None:
    problems = capacity_problems(request(model=LLAMA31_70B, instance_type="g6e.xlarge"))
    assert len(problems) == 1 and problems[0].startswith(
        "llmdeploy:instanceType: found 'g6e.xlarge'; accepted: "
    )
    alternatives = problems[0].split("): ", 1)[1]
    assert re.search(r"g6e\.12xlarge \(4 x L40S", alternatives), problems[0]


def test_tgi_problem_names_max_total_tokens() -> None:
    too_long = request(engine="tgi", instance_type="g5.xlarge", max_model_len=131072, max_input_tokens=4096)
    problems = capacity_problems(too_long)
    assert problems and problems[0].startswith("llmdeploy:maxTotalTokens: found 131072; accepted: at most ")


def test_tgi_prefill_of_the_whole_input_counts_against_memory() -> None:
    # TGI warms up with max_batch_prefill_tokens = max_input_tokens + 50: a 131k-token prefill's
    # activations alone overflow an A10G.
    problems = capacity_problems(request(engine="tgi", instance_type="g5.xlarge", max_model_len=131072))
    assert problems and problems[0].startswith("llmdeploy:instanceType: found 'g5.xlarge'")


def test_tensor_parallel_size_must_divide_the_heads() -> None:
    # Qwen2.5-7B has 28 attention heads and 4 KV heads: 8 GPUs cannot shard it.
    problems = capacity_problems(request(model="Qwen/Qwen2.5-7B-Instruct", instance_type="g6e.48xlarge"))
    assert problems == [
        "llmdeploy:instanceType: found 'g6e.48xlarge' (8 GPUs); accepted: an instance type whose GPU count "
        "divides Qwen2.5-7B-Instruct's 28 attention heads and 4 KV heads (tensor-parallel size = GPUs): 1, 2, 4 GPUs"
    ]


def test_tensor_parallel_size_must_equal_the_gpus() -> None:
    problems = capacity_problems(request(instance_type="g6e.12xlarge", tensor_parallel_size=2))
    assert problems[0].startswith(
        "llmdeploy:tensorParallelSize: found 2; accepted: 4, the GPUs of g6e.12xlarge"
    )


def test_max_model_len_above_the_models_own_is_refused() -> None:
    problems = capacity_problems(request(model="microsoft/Phi-3-mini-4k-instruct", max_model_len=8192))
    assert problems == [
        "llmdeploy:maxModelLen: found 8192; accepted: at most 4096, Phi-3-mini-4k-instruct's max_position_embeddings"
    ]


def test_unknown_instance_type_and_unknown_model_are_lines() -> None:
    assert capacity_problems(request(instance_type="m7i.large"))[0].startswith(
        "llmdeploy:instanceType: found 'm7i.large'; accepted: a GPU instance type of the catalogue"
    )


def test_an_unknown_model_leaves_capacity_unknown_not_refused() -> None:
    unknown = request(model="acme/never-heard-of", allow_network=False, min_size=1, max_size=2)
    assert capacity_problems(unknown) == []
    assessment = assess_capacity(unknown)
    assert assessment.unknown is not None
    assert assessment.unknown.startswith(
        "llmdeploy:model: found 'acme/never-heard-of'; accepted: a model whose"
    )
    assert assessment.output() == {
        "model": "acme/never-heard-of",
        "instance_type": "g6e.xlarge",
        "unknown": assessment.unknown,
        # The one command that makes it known: offline plans read the cache it fills.
        "verdict": "unknown: cache the model's config.json with `llmdeploy models fetch acme/never-heard-of`",
    }


def test_engine_quantization_of_an_unquantized_checkpoint_is_unknown() -> None:
    assessment = assess_capacity(request(engine="tgi", quantization="awq"))
    assert assessment.problems == []
    assert assessment.unknown is not None and assessment.unknown.startswith("llmdeploy:quantize: found 'awq'")
    fp8 = assess_capacity(request(engine="tgi", quantization="fp8"))
    assert fp8.unknown is None and fp8.estimate is not None
    plain = assess_capacity(request(engine="tgi"))
    assert plain.estimate is not None and fp8.estimate.weight_bytes < plain.estimate.weight_bytes


# ---------------------------------------------------------------------------
# Choosing max-model-len, alternatives, cost


def test_chosen_max_model_len_is_the_longest_that_fits() -> None:
    arch, it = resolve_model(LLAMA31_8B), instance("g5.xlarge")
    req = request(max_model_len=None)
    chosen = choose_max_model_len(arch, it, req)
    assert chosen is not None and chosen % 256 == 0 and 8192 <= chosen < arch.max_position_embeddings
    assert estimate(arch, it, req, chosen).fits
    assert not estimate(arch, it, req, chosen + 256).fits


def test_chosen_max_model_len_is_the_models_own_when_it_fits() -> None:
    arch, it = resolve_model(LLAMA3_8B), instance("g6e.xlarge")
    assert choose_max_model_len(arch, it, request(model=LLAMA3_8B, max_model_len=None)) == 8192


def test_no_max_model_len_when_the_weights_do_not_fit() -> None:
    arch, it = resolve_model(LLAMA31_70B), instance("g6e.xlarge")
    assert choose_max_model_len(arch, it, request(model=LLAMA31_70B, max_model_len=None)) is None
    problems = capacity_problems(request(model=LLAMA31_70B, max_model_len=None))
    assert problems[0].startswith("llmdeploy:instanceType: found 'g6e.xlarge'")


def test_fitting_instance_types_are_the_cheapest_that_fit() -> None:
    arch = resolve_model(LLAMA31_70B)
    fits = fitting_instance_types(arch, request(model=LLAMA31_70B), 8192, limit=5)
    prices = [fit.instance_type.on_demand_usd_per_hour for fit in fits]
    assert fits and all(fit.estimate.fits for fit in fits)
    assert prices == sorted(prices, key=lambda p: float("inf") if p is None else p)
    assert not {fit.instance_type.gpu_model for fit in fits} & {"T4", "V100"}
    configs = [(it.gpu_model, it.gpu_count, it.gpu_memory_mib) for it in (fit.instance_type for fit in fits)]
    assert len(configs) == len(set(configs)), "one instance type per GPU model, count and memory"


def test_cost_per_hour_at_min_and_max_size() -> None:
    cost = cost_per_hour(instance("g6e.xlarge"), 1, 4)
    assert cost == {"min": 1.861, "max": 7.444, "instances": [1, 4], "region": "us-east-1"}
    unpriced = cost_per_hour(instance("g7e.2xlarge"), 1, 2)
    assert (unpriced["min"], unpriced["max"]) == (None, None)


def test_capacity_output_for_the_stack() -> None:
    output = assess_capacity(request(max_model_len=None, min_size=1, max_size=3)).output()
    assert output["max_model_len_source"] == "chosen to fit"
    assert output["kv_cache_tokens"] >= output["max_model_len"]
    assert output["concurrent_sequences"] == output["kv_cache_tokens"] // output["max_model_len"]
    assert output["cost_per_hour_usd"]["max"] == pytest.approx(3 * 1.861)
    assert output["kv_bytes_per_token"] == 131_072
    assert set(output) == {
        "model",
        "engine",
        "instance_type",
        "gpus",
        "tensor_parallel_size",
        "max_model_len",
        "max_model_len_source",
        "weights_gib_per_gpu",
        "kv_cache_gib_per_gpu",
        "kv_bytes_per_token",
        "kv_cache_tokens",
        "concurrent_sequences",
        "verdict",
        "cost_per_hour_usd",
        "cold_start",
    }
    assert set(output["cold_start"]) == {"cold", "warm"}


def test_capacity_problems_name_the_setting() -> None:
    problems = assess_capacity(request(instance_type="g5.xlarge", max_model_len=131072)).problems
    assert problems[0].startswith("llmdeploy:maxModelLen: found 131072")


def test_assessment_keeps_the_chosen_length() -> None:
    assessment = assess_capacity(request(max_model_len=None))
    assert (
        assessment.max_model_len_chosen and assessment.max_model_len == assessment.output()["max_model_len"]
    )


# ---------------------------------------------------------------------------
# A group of several instance types (prod's Spot pools): one set of flags for all

# Both 8 x 80 GiB, but vLLM profiles 8192 batched tokens on the H100 and 2048 on the A100
# (`vllm_batch_defaults`), so at a low utilization the H100 holds fewer KV tokens.
A100_GROUP = dict(
    model=LLAMA31_70B, instance_type="p4de.24xlarge", gpu_memory_utilization=0.3, max_num_seqs=128
)


def test_a_group_is_assessed_as_its_first_type_when_every_type_fits() -> None:
    alone = assess_capacity(request(max_model_len=8192))
    group = assess_fleet_capacity(
        request(max_model_len=8192), ["g6e.2xlarge", "g6e.xlarge"], "spotInstanceTypes"
    )
    assert group.problems == [] and group.output() == alone.output()
    assert assess_fleet_capacity(request(), [], "spotInstanceTypes").output() == alone.output()


def test_a_type_of_the_group_that_cannot_serve_the_length_is_a_problem_line() -> None:
    arch = resolve_model(LLAMA31_70B)
    a100_longest = choose_max_model_len(
        arch, instance("p4de.24xlarge"), request(**A100_GROUP, max_model_len=None)
    )
    h100_longest = choose_max_model_len(
        arch, instance("p5.48xlarge"), request(**A100_GROUP, max_model_len=None)
    )
    assert a100_longest is not None and h100_longest is not None and h100_longest < a100_longest
    group = assess_fleet_capacity(
        request(**A100_GROUP, max_model_len=a100_longest), ["p5.48xlarge"], "spotInstanceTypes"
    )
    assert assess_capacity(request(**A100_GROUP, max_model_len=a100_longest)).problems == []
    (line,) = group.problems
    assert line.startswith(
        f"llmdeploy:maxModelLen: found {a100_longest}; accepted: at most {h100_longest} tokens on p5.48xlarge"
    )


def test_a_type_of_the_group_whose_gpus_cannot_hold_the_model_names_the_groups_key() -> None:
    tiny = assess_fleet_capacity(
        request(model=LLAMA31_70B, instance_type="p4de.24xlarge"), ["g6e.xlarge"], "spotInstanceTypes"
    )
    (line,) = tiny.problems
    assert line.startswith(
        "llmdeploy:spotInstanceTypes: found 'g6e.xlarge'; accepted: an instance type whose GPUs"
    )


def test_an_unset_length_is_the_longest_every_type_of_the_group_fits() -> None:
    arch = resolve_model(LLAMA31_70B)
    h100_longest = choose_max_model_len(
        arch, instance("p5.48xlarge"), request(**A100_GROUP, max_model_len=None)
    )
    group = assess_fleet_capacity(
        request(**A100_GROUP, max_model_len=None), ["p5.48xlarge"], "spotInstanceTypes"
    )
    assert group.problems == [] and group.max_model_len == h100_longest
    assert group.max_model_len_chosen and group.output()["max_model_len_source"] == "chosen to fit"
    assert group.output()["instance_type"] == "p4de.24xlarge", "the output is the group's own type's"
