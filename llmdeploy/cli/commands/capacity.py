"""`llmdeploy capacity --model M --instance-type T`: will the model serve there, and what does it cost.

Prints the memory breakdown of `llmdeploy.core.capacity` (weights, engine
overheads, KV cache), the tokens the KV cache holds, the concurrent sequences
at max-model-len, a verdict and the cost per hour. Exit code 1 when the model
cannot serve one sequence, with the same lines a stack's resolve step prints.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from llmdeploy.cli.args import add_deadline_argument, fraction
from llmdeploy.cli.commands import SUMMARIES
from llmdeploy.cli.deadline import deadline
from llmdeploy.core.capacity import (
    GIB,
    CapacityAssessment,
    CapacityRequest,
    assess_capacity,
    cost_per_hour,
    gib,
    serving_dtype_bytes,
)
from llmdeploy.core.cold_start import WEIGHT_SOURCES, ColdStartBudget
from llmdeploy.core.engines import (
    SGLANG_DEFAULT_MEM_FRACTION,
    VLLM_STACK_GPU_MEMORY_UTILIZATION,
    VLLM_STACK_MAX_NUM_SEQS,
)
from llmdeploy.core.gpus import catalogue


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "capacity",
        help=SUMMARIES["capacity"],
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", required=True, help="hub repo id (org/name) or a local model directory")
    parser.add_argument("--instance-type", required=True, help="EC2 GPU instance type, e.g. g6e.xlarge")
    parser.add_argument("--engine", choices=("vllm", "tgi", "sglang"), default="vllm")
    parser.add_argument(
        "--max-model-len", type=int, help="context length (TGI: max-total-tokens); default: chosen to fit"
    )
    parser.add_argument("--max-input-tokens", type=int, help="TGI only")
    parser.add_argument(
        "--gpu-memory-utilization",
        type=fraction,
        help=f"vLLM (default {VLLM_STACK_GPU_MEMORY_UTILIZATION:g}, the stacks'); TGI: CUDA_MEMORY_FRACTION "
        f"(1.0); SGLang: --mem-fraction-static ({SGLANG_DEFAULT_MEM_FRACTION:g})",
    )
    parser.add_argument(
        "--max-num-seqs", type=int, help=f"vLLM: default {VLLM_STACK_MAX_NUM_SEQS}, the stacks'"
    )
    parser.add_argument("--max-num-batched-tokens", type=int, help="TGI: max-batch-prefill-tokens")
    parser.add_argument("--quantization", help="engine-side quantization, e.g. fp8")
    parser.add_argument("--kv-cache-dtype", choices=("auto", "fp8"), default=None)
    parser.add_argument("--min-size", type=int, default=1, help="instances at minimum (cost)")
    parser.add_argument("--max-size", type=int, default=1, help="instances at maximum (cost)")
    parser.add_argument(
        "--weights-from",
        choices=WEIGHT_SOURCES,
        default="hub",
        help="where a new instance gets the weights, for the cold-start budget (default hub)",
    )
    parser.add_argument("--offline", action="store_true", help="never fetch config.json from the hub")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    add_deadline_argument(parser, 60, "reading the model's config.json from the hub")
    parser.set_defaults(handler=handle)


def request_from_args(args: argparse.Namespace) -> CapacityRequest:
    return CapacityRequest(
        model=args.model,
        instance_type=args.instance_type,
        engine=args.engine,
        max_model_len=args.max_model_len,
        max_input_tokens=args.max_input_tokens,
        # vLLM at the stacks' defaults, so the recommendation plans as computed when copied.
        gpu_memory_utilization=args.gpu_memory_utilization
        or (VLLM_STACK_GPU_MEMORY_UTILIZATION if args.engine == "vllm" else None),
        max_num_seqs=args.max_num_seqs or (VLLM_STACK_MAX_NUM_SEQS if args.engine == "vllm" else None),
        max_num_batched_tokens=args.max_num_batched_tokens,
        quantization=args.quantization,
        kv_cache_dtype=args.kv_cache_dtype,
        min_size=args.min_size,
        max_size=args.max_size,
        allow_network=not args.offline,
        weights_from=args.weights_from,
    )


def render_text(assessment: CapacityAssessment) -> str:
    est, arch, instance = assessment.estimate, assessment.architecture, assessment.instance
    if est is None or arch is None or instance is None:
        return ""
    request = assessment.request
    counts = arch.parameter_counts()
    if arch.quantization is not None:
        stored = f"{arch.quantization.method} {arch.quantization.bits}-bit"
    elif request.quantization:
        stored = f"{request.quantization}, quantized by the engine"
    else:
        dtype = arch.torch_dtype if arch.torch_dtype in ("bfloat16", "float16") else "bfloat16"
        stored = f"{dtype}, {serving_dtype_bytes(arch)} bytes each"
    weights_note = f"{counts.total / 1e9:.2f} B parameters, {stored}"
    engine_label = {"vllm": "vLLM", "tgi": "TGI", "sglang": "SGLang"}[est.engine]
    if est.engine == "vllm":
        limit_label = (
            f"gpu-memory-utilization {request.gpu_memory_utilization or VLLM_STACK_GPU_MEMORY_UTILIZATION}"
        )
    elif est.engine == "sglang":
        limit_label = f"mem-fraction-static {request.gpu_memory_utilization or SGLANG_DEFAULT_MEM_FRACTION}"
    else:
        limit_label = f"CUDA_MEMORY_FRACTION {request.gpu_memory_utilization or 1.0}, then x 0.90"
    kv_bytes = 2 if request.kv_cache_dtype != "fp8" else 1
    cost = cost_per_hour(instance, request.min_size, request.max_size)
    cat = catalogue()
    if cost["min"] is None:
        cost_line = f"unknown (no {cat.price_region} price for {instance.instance_type} in the catalogue)"
    else:
        cost_line = (
            f"${cost['min']:g} at {request.min_size} instance(s), ${cost['max']:g} at {request.max_size} "
            f"({cat.price_region} on-demand, prices as of {cat.price_date or 'an unknown date'})"
        )
    rows = [
        ("model config", f"{arch.name}: {arch.source}"),
        (
            "GPUs",
            f"{instance.gpu_count} x {instance.gpu_model}, {instance.gpu_memory_mib} MiB each; "
            f"CUDA sees about {gib(est.cuda_visible_bytes)}",
        ),
        ("engine budget", f"{gib(est.budget_bytes)} per GPU ({limit_label})"),
        (
            "- weights",
            f"{gib(est.weight_bytes)} per GPU ({weights_note}, tensor-parallel {est.tensor_parallel_size})",
        ),
        ("- non-torch", f"{gib(est.non_torch_bytes)} (CUDA context, cuBLAS, NCCL)"),
        (
            "- activation peak",
            f"{gib(est.activation_bytes)} ({est.max_num_batched_tokens} batched tokens)",
        ),
        ("= KV cache", gib(max(est.kv_budget_bytes, 0)) + " per GPU"),
        (
            "KV per token",
            f"{est.kv_bytes_per_token_model / 1024:.1f} KiB = 2 x {arch.num_hidden_layers} layers x "
            f"{arch.num_key_value_heads} KV heads x {arch.head_dim} head dim x {kv_bytes} bytes",
        ),
        ("KV cache tokens", f"{est.kv_cache_tokens:,}"),
        (
            "max-model-len",
            f"{est.max_model_len:,} ({assessment.max_model_len_source}; "
            f"the model's own is {arch.max_position_embeddings:,})",
        ),
        ("sequences", f"{est.concurrent_sequences} at max-model-len (max-num-seqs {est.max_num_seqs})"),
        ("verdict", est.verdict()),
        ("cost per hour", cost_line),
    ]
    header = f"{arch.short_name} on {instance.instance_type} with {engine_label}"
    text = header + "\n" + "\n".join(f"  {label:<20}{value}" for label, value in rows) + "\n"
    return text + "".join(render_budget(budget) for budget in assessment.cold_start().values())


def render_budget(budget: ColdStartBudget) -> str:
    """One cold-start budget: each phase's seconds, its physical floor and its assumption."""
    title = "fresh launch" if budget.start == "cold" else "warm-pool start"
    lines = [
        f"cold-start budget, {title}, weights from {budget.source}: {budget.total_seconds:.0f} s "
        f"(floor {budget.floor_seconds:.0f} s; with margin {budget.padded_seconds} s)"
    ]
    for phase in budget.phases:
        figures = f"{phase.seconds:>6.0f} s  floor {phase.floor_seconds:>4.0f} s"
        lines.append(f"  {phase.name:<18}{figures}  {phase.assumption}")
    return "\n".join(lines) + "\n"


def render_json(assessment: CapacityAssessment) -> str:
    document: dict[str, Any] = dict(assessment.output())
    est = assessment.estimate
    if est is not None:
        document["breakdown_gib_per_gpu"] = {
            "cuda_visible": round(est.cuda_visible_bytes / GIB, 3),
            "budget": round(est.budget_bytes / GIB, 3),
            "weights": round(est.weight_bytes / GIB, 3),
            "non_torch": round(est.non_torch_bytes / GIB, 3),
            "activation_peak": round(est.activation_bytes / GIB, 3),
            "kv_cache": round(max(est.kv_budget_bytes, 0) / GIB, 3),
        }
    document["problems"] = problem_lines(assessment)
    return json.dumps(document, indent=2) + "\n"


def problem_lines(assessment: CapacityAssessment) -> list[str]:
    return [*assessment.problems, *([assessment.unknown] if assessment.unknown else [])]


def handle(args: argparse.Namespace) -> int:
    with deadline(
        args.deadline, "llmdeploy capacity", "raise --deadline, pass --offline, or check HF_ENDPOINT"
    ):
        assessment = assess_capacity(request_from_args(args))
    sys.stdout.write(render_json(assessment) if args.format == "json" else render_text(assessment))
    lines = problem_lines(assessment)
    for line in lines:
        print(line, file=sys.stderr)
    return 1 if lines else 0
