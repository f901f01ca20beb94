"""Capacity arithmetic: will this model serve at this context length on this instance?

Pure functions over a model architecture (`llmdeploy.core.models`) and an instance
type (`llmdeploy.core.gpus`). All figures are per GPU unless named otherwise: with
tensor parallelism every GPU holds 1/TP of the weights and of every token's KV
cache, and the engine's limits apply to each GPU.

The memory model (vLLM V1; the figures its start-up log prints)
-----------------------------------------------------------------

    budget      = cuda_visible x gpu_memory_utilization
    kv_budget   = budget - weights - non_torch - activation_peak
    kv_tokens   = kv_budget // kv_bytes_per_token, in whole 16-token blocks
    sequences   = kv_tokens // max_model_len

vLLM's worker (`vllm/v1/worker/gpu_worker.py`, `determine_available_memory`)
takes `total_gpu_memory x gpu_memory_utilization` minus the peak of a profile
run (weights + activations) minus memory allocated outside PyTorch, and gives
the rest to the KV cache; it refuses to start when one sequence of
`max_model_len` tokens does not fit. Each term here:

- cuda_visible: EC2's GpuInfo memory less `CUDA_RESERVED_FRACTION` (1.6 %).
  CUDA reports less than the board's memory (ECC, driver reservations): an
  A100-40GB's 40960 MiB shows as 39.39 GiB (vllm#12330), 1.5 % less; an
  H100's 81920 MiB as 79.22 GiB (vllm#10511) or 79.18 GiB (measured, see
  bench/results), 1.0 % less. We take 1.6 % for every GPU, on the safe side.
- weights: parameters x bytes per parameter (the serving dtype, or the
  quantized size of the linear layers plus their scales), split over the
  tensor-parallel GPUs, plus vLLM's rotary cos/sin cache (max positions x
  head dim, replicated). Llama-3-8B in bf16: 14.96 GiB, as vLLM logs it.
- non_torch: CUDA context, cuBLAS workspaces and, with TP > 1, NCCL buffers.
  vLLM measured 1.79 GiB on one H100 and 3.58 GiB per GPU at TP=2
  (vllm#10511; other logs show 0.2 GiB): we take those higher figures.
- activation_peak: the profile run pushes `max_num_batched_tokens` tokens
  through the model and samples `min(max_num_seqs, tokens)` rows of logits.
  Per token the largest live set is the residual stream, the normed input,
  q/k/v and the MLP's gate, up and activation outputs: (2 hidden + q + 2 kv +
  3 intermediate / TP) x 2 bytes. Per sampled row: vocab x 12 bytes (logits in
  the model dtype, a float32 copy and float32 probabilities). vLLM's defaults
  are 8192 tokens and 1024 sequences on GPUs of 70 GiB or more except the
  A100, else 2048 and 256 (`EngineArgs.get_batch_defaults`). For Llama-3-8B
  at 8192 tokens and 256 rows this gives 1.24 GiB; vllm#10511 logged 1.26 GiB.
- CUDA graphs are captured after the KV cache is allocated and live in the
  `1 - gpu_memory_utilization` headroom, so they are not subtracted.

TGI (`server/text_generation_server/models/flash_causal_lm.py`, warmup) runs a
prefill of `max_batch_prefill_tokens` (default `max_input_tokens + 50`), then
gives the KV cache the free memory x `CUDA_MEMORY_FRACTION` x 0.90 (its wiggle
room): here `0.90 x (cuda_visible x fraction - weights - non_torch -
activation_peak)`, with one logits row per prefill. TGI refuses a
`max_total_tokens` larger than the tokens its cache holds.

Every layer is counted for every token, also for sliding-window layers
(Gemma 2, Mistral): vLLM's hybrid allocator can give those layers less, so the
estimate errs on the safe side for them. Accuracy against published figures
and measured memory: `bench/results/capacity_accuracy.md`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from llmdeploy.core.cold_start import ColdStartBudget, StartKind, WeightSource, cold_start_budget
from llmdeploy.core.engines import SGLANG_DEFAULT_MEM_FRACTION
from llmdeploy.core.gpus import (
    GpuInstanceType,
    catalogue,
    gpu_instance_type,
    gpu_instance_type_names,
    nearest_gpu_instance_types,
)
from llmdeploy.core.models import (
    ModelArchitecture,
    ModelConfigError,
    ModelNotCached,
    WeightQuantization,
    engine_quantization,
    fetch_command,
    resolve_model,
)

GIB = 1024**3
MIB = 1024**2

CapacityEngine = Literal["vllm", "tgi", "sglang"]
STARTS: tuple[StartKind, ...] = ("cold", "warm")

CUDA_RESERVED_FRACTION = 0.016
NON_TORCH_BYTES_SINGLE_GPU = int(1.79 * GIB)
NON_TORCH_BYTES_PER_GPU_TENSOR_PARALLEL = int(3.58 * GIB)
ACTIVATION_BYTES = 2  # activations are kept in the serving dtype (bf16/fp16)
SAMPLER_BYTES_PER_LOGIT = 12
KV_BLOCK_TOKENS = 16  # vLLM's default block size; blocks are allocated whole

VLLM_DEFAULT_GPU_MEMORY_UTILIZATION = 0.92  # vLLM's --gpu-memory-utilization default; 0.9 before
VLLM_LARGE_GPU_BYTES = 70 * GIB
TGI_WIGGLE_ROOM = 0.90
TGI_DEFAULT_CUDA_MEMORY_FRACTION = 1.0
TGI_PREFILL_MARGIN_TOKENS = 50  # max_batch_prefill_tokens defaults to max_input_tokens + 50

# GPUs older than Ampere (compute capability < 8.0) have no bfloat16; vLLM and TGI
# serve on them only in float16 and without their fast attention kernels, so they
# are never suggested (they stay in the catalogue and may still be chosen).
PRE_AMPERE_GPU_MODELS = frozenset({"T4", "T4g", "V100", "M60", "K80"})

# Shortest context `choose_max_model_len` will pick; below it a deploy is not useful.
MIN_CHOSEN_MAX_MODEL_LEN = 1024
CHOSEN_MAX_MODEL_LEN_STEP = 256


@dataclass(frozen=True)
class ConfigKeys:
    """Config keys (camelCase, as users type them) that the problem lines name."""

    model: str = "model"
    instance_type: str = "instanceType"
    max_model_len: str = "maxModelLen"
    gpu_memory_utilization: str = "gpuMemoryUtilization"
    tensor_parallel_size: str = "tensorParallelSize"
    quantization: str = "quantization"


VLLM_KEYS = ConfigKeys()
TGI_KEYS = ConfigKeys(max_model_len="maxTotalTokens", quantization="quantize")


@dataclass(frozen=True)
class CapacityRequest:
    """What a stack asks for. None means the engine's default (or, for max_model_len, chosen to fit)."""

    model: str
    instance_type: str
    engine: CapacityEngine = "vllm"
    max_model_len: int | None = None  # TGI: max_total_tokens
    max_input_tokens: int | None = None  # TGI only
    gpu_memory_utilization: float | None = None  # vLLM; TGI: CUDA_MEMORY_FRACTION
    max_num_seqs: int | None = None
    max_num_batched_tokens: int | None = None  # TGI: max_batch_prefill_tokens
    tensor_parallel_size: int | None = None  # default: every GPU of the instance
    quantization: str | None = None  # engine-side: vLLM --quantization, TGI --quantize
    kv_cache_dtype: str | None = None  # "auto" or "fp8"
    min_size: int = 1
    max_size: int = 1
    hf_token: str | None = field(default=None, repr=False)  # never in a repr, a log or an error
    allow_network: bool = True
    keys: ConfigKeys | None = None
    # Where a new instance gets the weights, for its cold-start budget.
    weights_from: WeightSource = "hub"
    # The engine image is baked into the AMI: a launch pulls nothing.
    image_baked: bool = False

    @property
    def config_keys(self) -> ConfigKeys:
        return self.keys or (TGI_KEYS if self.engine == "tgi" else VLLM_KEYS)


@dataclass(frozen=True)
class CapacityEstimate:
    model: str
    instance_type: str
    engine: CapacityEngine
    gpu_model: str
    gpu_count: int
    tensor_parallel_size: int
    max_model_len: int
    gpu_memory_bytes: int  # per GPU, as EC2 reports it
    cuda_visible_bytes: int
    budget_bytes: int  # what the engine may use per GPU
    weight_bytes: int  # per GPU
    non_torch_bytes: int
    activation_bytes: int
    kv_budget_bytes: int  # per GPU; negative when the weights alone overflow the budget
    kv_bytes_per_token: int  # per GPU
    kv_bytes_per_token_model: int  # all GPUs together: 2 x layers x kv_heads x head_dim x bytes
    kv_cache_tokens: int
    concurrent_sequences: int
    max_num_seqs: int
    max_num_batched_tokens: int

    @property
    def weights_fit(self) -> bool:
        return self.kv_budget_bytes > 0

    @property
    def fits(self) -> bool:
        return self.weights_fit and self.kv_cache_tokens >= self.max_model_len

    @property
    def kv_bytes_for_one_sequence(self) -> int:
        return self.kv_bytes_per_token * self.max_model_len

    def verdict(self) -> str:
        if not self.weights_fit:
            return (
                f"does not fit: {gib(self.weight_bytes)} of weights per GPU leave no KV cache in "
                f"{gib(self.budget_bytes)} usable"
            )
        if not self.fits:
            return (
                f"does not fit: one {self.max_model_len}-token sequence needs "
                f"{gib(self.kv_bytes_for_one_sequence)} of KV cache per GPU, "
                f"{gib(self.kv_budget_bytes)} is left ({self.kv_cache_tokens} tokens)"
            )
        plural = "s" if self.concurrent_sequences != 1 else ""
        return f"fits: {self.concurrent_sequences} concurrent sequence{plural} of {self.max_model_len} tokens"


@dataclass(frozen=True)
class InstanceFit:
    instance_type: GpuInstanceType
    estimate: CapacityEstimate

    def describe(self) -> str:
        it = self.instance_type
        price = (
            f"${it.on_demand_usd_per_hour:g}/h" if it.on_demand_usd_per_hour is not None else "price unknown"
        )
        return (
            f"{it.instance_type} ({it.gpu_count} x {it.gpu_model} {it.gpu_memory_mib} MiB, {price}, "
            f"{self.estimate.kv_cache_tokens} KV tokens)"
        )


@dataclass
class CapacityAssessment:
    """What `assess_capacity` found.

    `problems`: the settings cannot serve (settings lines; a stack must refuse them).
    `unknown`: capacity could not be estimated (the model's config.json unreadable or not sizable,
    e.g. offline with a model that is not bundled): one settings-style line; a stack warns and goes
    on, the `llmdeploy capacity` command fails.
    """

    request: CapacityRequest
    problems: list[str] = field(default_factory=list)
    unknown: str | None = None
    unknown_reason: str | None = None  # why the model could not be sized (ModelConfigError's line)
    # Set when the model's config.json is merely not at hand: the command that caches it.
    fetch_command: str | None = None
    estimate: CapacityEstimate | None = None
    architecture: ModelArchitecture | None = None
    instance: GpuInstanceType | None = None
    max_model_len_chosen: bool = False
    # Unset, and not even the shortest length llmdeploy would choose fits: the estimate is at
    # that length, which nobody set and nothing chose.
    max_model_len_tried: bool = False

    @property
    def max_model_len(self) -> int | None:
        return self.estimate.max_model_len if self.estimate else None

    @property
    def max_model_len_source(self) -> str:
        """Where the estimate's max-model-len came from, as the plan and `capacity` say it."""
        if self.max_model_len_chosen:
            return "chosen to fit"
        if self.max_model_len_tried:
            return "not set; the shortest llmdeploy tries, which does not fit"
        return "set"

    def output(self) -> dict[str, Any]:
        """The `capacity` stack output: small, stable, JSON-friendly."""
        if self.estimate is None or self.instance is None:
            document = {
                "model": self.request.model,
                "instance_type": self.request.instance_type,
                "unknown": self.unknown or "; ".join(self.problems),
            }
            if self.fetch_command:
                document["verdict"] = f"unknown: cache the model's config.json with `{self.fetch_command}`"
            return document
        est = self.estimate
        return {
            "model": est.model,
            "engine": est.engine,
            "instance_type": est.instance_type,
            "gpus": f"{est.gpu_count} x {est.gpu_model} ({est.gpu_memory_bytes // MIB} MiB)",
            "tensor_parallel_size": est.tensor_parallel_size,
            "max_model_len": est.max_model_len,
            "max_model_len_source": self.max_model_len_source,
            "weights_gib_per_gpu": round(est.weight_bytes / GIB, 2),
            "kv_cache_gib_per_gpu": round(max(est.kv_budget_bytes, 0) / GIB, 2),
            "kv_bytes_per_token": est.kv_bytes_per_token_model,
            "kv_cache_tokens": est.kv_cache_tokens,
            "concurrent_sequences": est.concurrent_sequences,
            "verdict": est.verdict(),
            "cost_per_hour_usd": cost_per_hour(self.instance, self.request.min_size, self.request.max_size),
            "cold_start": {start: budget.output() for start, budget in self.cold_start().items()},
        }

    def cold_start(self) -> dict[str, ColdStartBudget]:
        """The cold-start budgets of a fresh launch and of a warm-pool start (empty when unsized)."""
        if self.architecture is None or self.instance is None:
            return {}
        weights = weight_bytes(self.architecture, self.architecture.quantization)
        return {
            start: cold_start_budget(
                self.instance,
                self.request.engine,
                weights,
                source=self.request.weights_from,
                start=start,
                image_baked=self.request.image_baked,
            )
            for start in STARTS
        }


# ---------------------------------------------------------------------------
# The arithmetic


def gib(value: float) -> str:
    return f"{value / GIB:.2f} GiB"


def cuda_visible_bytes(instance: GpuInstanceType) -> int:
    return int(instance.gpu_memory_bytes * (1 - CUDA_RESERVED_FRACTION))


def serving_dtype_bytes(arch: ModelArchitecture) -> int:
    # Engines serve float32 checkpoints in bf16/fp16 (vLLM `--dtype auto`), so 2 bytes either way.
    return 2


def kv_dtype_bytes(arch: ModelArchitecture, kv_cache_dtype: str | None) -> int:
    if kv_cache_dtype and kv_cache_dtype.lower().startswith("fp8"):
        return 1
    return serving_dtype_bytes(arch)


def effective_quantization(arch: ModelArchitecture, engine_side: str | None) -> WeightQuantization | None:
    if arch.quantization is not None:
        return arch.quantization  # a quantized checkpoint is served as stored
    return engine_quantization(engine_side) if engine_side else None


def weight_bytes(arch: ModelArchitecture, quantization: WeightQuantization | None = None) -> int:
    """Bytes of all parameters as served (not split over GPUs)."""
    counts = arch.parameter_counts()
    dtype = serving_dtype_bytes(arch)
    plain = (counts.embedding + counts.lm_head + counts.other) * dtype
    per_weight = quantization.bytes_per_weight if quantization else dtype
    return int(plain + counts.quantizable * per_weight)


def rotary_cache_bytes(arch: ModelArchitecture) -> int:
    """vLLM's cos/sin cache: max positions x head dim in the model dtype, on every GPU."""
    return arch.max_position_embeddings * arch.head_dim * serving_dtype_bytes(arch)


def weight_bytes_per_gpu(arch: ModelArchitecture, tp: int, quantization: WeightQuantization | None) -> int:
    return weight_bytes(arch, quantization) // tp + rotary_cache_bytes(arch)


def kv_heads_per_gpu(arch: ModelArchitecture, tp: int) -> int:
    # With more GPUs than KV heads, vLLM and TGI replicate each KV head over tp / kv_heads GPUs.
    return max(1, arch.num_key_value_heads // tp)


def kv_bytes_per_token(arch: ModelArchitecture, dtype_bytes: int = 2, tp: int = 1) -> int:
    """2 (K and V) x layers x KV heads x head dim x dtype bytes, for one GPU of `tp`."""
    return 2 * arch.num_hidden_layers * kv_heads_per_gpu(arch, tp) * arch.head_dim * dtype_bytes


def activation_peak_bytes(arch: ModelArchitecture, tokens: int, logit_rows: int, tp: int = 1) -> int:
    if arch.num_experts:
        mlp_width = (
            arch.num_experts_per_tok * arch.moe_intermediate_size + arch.shared_expert_intermediate_size
        )
    else:
        mlp_width = arch.intermediate_size
    per_token = 2 * arch.hidden_size + (arch.q_dim + 2 * arch.kv_dim + 3 * mlp_width) // tp
    return tokens * per_token * ACTIVATION_BYTES + logit_rows * arch.vocab_size * SAMPLER_BYTES_PER_LOGIT


def non_torch_bytes(tp: int) -> int:
    return NON_TORCH_BYTES_SINGLE_GPU if tp == 1 else NON_TORCH_BYTES_PER_GPU_TENSOR_PARALLEL


def vllm_kv_budget_bytes(
    cuda_visible: float, utilization: float, weights: float, non_torch: float, activation: float
) -> int:
    """vLLM's `determine_available_memory`: total x utilization - (weights + activation peak) - non-torch."""
    return int(cuda_visible * utilization - weights - non_torch - activation)


def tgi_kv_budget_bytes(
    cuda_visible: float, memory_fraction: float, weights: float, non_torch: float, activation: float
) -> int:
    """TGI's warmup: what is free after weights and the prefill peak, x the 0.90 wiggle room."""
    free = cuda_visible * memory_fraction - weights - non_torch - activation
    return int(free * TGI_WIGGLE_ROOM) if free > 0 else int(free)


def sglang_kv_budget_bytes(cuda_visible: float, mem_fraction_static: float, weights: float) -> int:
    """SGLang's pool: --mem-fraction-static of the GPU holds the weights and the KV pool; activations,
    CUDA graphs and the rest live in what the fraction leaves out (server_args.py's help)."""
    return int(cuda_visible * mem_fraction_static - weights)


def vllm_batch_defaults(instance: GpuInstanceType) -> tuple[int, int]:
    """vLLM's (max_num_batched_tokens, max_num_seqs) for `vllm serve` on this GPU."""
    if instance.gpu_memory_bytes >= VLLM_LARGE_GPU_BYTES and "a100" not in instance.gpu_model.lower():
        return 8192, 1024
    return 2048, 256


def tensor_parallel_problems(
    arch: ModelArchitecture, instance: GpuInstanceType, tp: int, keys: ConfigKeys
) -> list[str]:
    problems = []
    if tp != instance.gpu_count:
        problems.append(
            f"llmdeploy:{keys.tensor_parallel_size}: found {tp}; accepted: {instance.gpu_count}, the GPUs of "
            f"{instance.instance_type} (the engine shards the model over every GPU of the instance)"
        )
    heads, kv = arch.num_attention_heads, arch.num_key_value_heads
    kv_ok = (kv % tp == 0) if tp <= kv else (tp % kv == 0)
    if heads % tp or not kv_ok:
        counts = [n for n in (1, 2, 4, 8) if heads % n == 0 and ((kv % n == 0) if n <= kv else (n % kv == 0))]
        problems.append(
            f"llmdeploy:{keys.instance_type}: found {instance.instance_type!r} ({tp} GPUs); accepted: an "
            f"instance type whose GPU count divides {arch.short_name}'s {heads} attention heads and "
            f"{kv} KV heads (tensor-parallel size = GPUs): {', '.join(map(str, counts))} GPUs"
        )
    return problems


def estimate(
    arch: ModelArchitecture,
    instance: GpuInstanceType,
    request: CapacityRequest,
    max_model_len: int,
) -> CapacityEstimate:
    """The memory model in the module docstring, for one context length."""
    tp = request.tensor_parallel_size or instance.gpu_count
    quantization = effective_quantization(arch, request.quantization)
    visible = cuda_visible_bytes(instance)
    weights = weight_bytes_per_gpu(arch, tp, quantization)
    other = non_torch_bytes(tp)
    per_token = kv_bytes_per_token(arch, kv_dtype_bytes(arch, request.kv_cache_dtype), tp)
    if request.engine == "vllm":
        default_tokens, default_seqs = vllm_batch_defaults(instance)
        max_num_seqs = request.max_num_seqs or default_seqs
        batched = request.max_num_batched_tokens or default_tokens
        utilization = request.gpu_memory_utilization or VLLM_DEFAULT_GPU_MEMORY_UTILIZATION
        budget = int(visible * utilization)
        activation = activation_peak_bytes(arch, batched, min(max_num_seqs, batched), tp)
        kv_budget = vllm_kv_budget_bytes(visible, utilization, weights, other, activation)
    elif request.engine == "sglang":
        max_num_seqs = request.max_num_seqs or 1
        batched = request.max_num_batched_tokens or max_model_len
        fraction = request.gpu_memory_utilization or SGLANG_DEFAULT_MEM_FRACTION
        budget = int(visible * fraction)
        activation = 0
        kv_budget = sglang_kv_budget_bytes(visible, fraction, weights)
    else:
        max_num_seqs = request.max_num_seqs or 1
        input_tokens = request.max_input_tokens or max_model_len - 1
        batched = request.max_num_batched_tokens or input_tokens + TGI_PREFILL_MARGIN_TOKENS
        fraction = request.gpu_memory_utilization or TGI_DEFAULT_CUDA_MEMORY_FRACTION
        budget = int(visible * fraction)
        activation = activation_peak_bytes(arch, batched, 1, tp)
        kv_budget = tgi_kv_budget_bytes(visible, fraction, weights, other, activation)
    blocks = max(kv_budget, 0) // (per_token * KV_BLOCK_TOKENS)
    tokens = blocks * KV_BLOCK_TOKENS
    return CapacityEstimate(
        model=arch.name,
        instance_type=instance.instance_type,
        engine=request.engine,
        gpu_model=instance.gpu_model,
        gpu_count=instance.gpu_count,
        tensor_parallel_size=tp,
        max_model_len=max_model_len,
        gpu_memory_bytes=instance.gpu_memory_bytes,
        cuda_visible_bytes=visible,
        budget_bytes=budget,
        weight_bytes=weights,
        non_torch_bytes=other,
        activation_bytes=activation,
        kv_budget_bytes=kv_budget,
        kv_bytes_per_token=per_token,
        kv_bytes_per_token_model=kv_bytes_per_token(arch, kv_dtype_bytes(arch, request.kv_cache_dtype), 1),
        kv_cache_tokens=tokens,
        concurrent_sequences=tokens // max_model_len if max_model_len else 0,
        max_num_seqs=max_num_seqs,
        max_num_batched_tokens=batched,
    )


def choose_max_model_len(
    arch: ModelArchitecture, instance: GpuInstanceType, request: CapacityRequest, min_sequences: int = 1
) -> int | None:
    """The longest context (a multiple of 256, at most the model's own) that fits `min_sequences`.

    None when not even MIN_CHOSEN_MAX_MODEL_LEN tokens fit.
    """

    def fits(length: int) -> bool:
        est = estimate(arch, instance, request, length)
        return est.weights_fit and est.kv_cache_tokens >= length * min_sequences

    longest = arch.max_position_embeddings
    if fits(longest):
        return longest
    low, high = 0, longest // CHOSEN_MAX_MODEL_LEN_STEP  # in steps; fits(low*step) assumed, high fails
    while high - low > 1:
        middle = (low + high) // 2
        if fits(middle * CHOSEN_MAX_MODEL_LEN_STEP):
            low = middle
        else:
            high = middle
    chosen = low * CHOSEN_MAX_MODEL_LEN_STEP
    if chosen < MIN_CHOSEN_MAX_MODEL_LEN or not fits(chosen):
        return None
    return chosen


def cost_per_hour(instance: GpuInstanceType, min_size: int, max_size: int) -> dict[str, Any]:
    price = instance.on_demand_usd_per_hour
    region = catalogue().price_region
    if price is None:
        return {"min": None, "max": None, "instances": [min_size, max_size], "region": region}
    return {
        "min": round(price * min_size, 4),
        "max": round(price * max_size, 4),
        "instances": [min_size, max_size],
        "region": region,
    }


def fitting_instance_types(
    arch: ModelArchitecture,
    request: CapacityRequest,
    max_model_len: int,
    limit: int = 3,
    candidates: Sequence[str] | None = None,
) -> list[InstanceFit]:
    """The cheapest instance types (one per GPU model and count) that serve one `max_model_len` sequence."""
    fits: dict[tuple[str, int, int], InstanceFit] = {}
    for name in candidates or gpu_instance_type_names():
        instance = gpu_instance_type(name)
        if instance is None or instance.gpu_model in PRE_AMPERE_GPU_MODELS:
            continue
        tp = instance.gpu_count
        if tensor_parallel_problems(arch, instance, tp, request.config_keys):
            continue
        est = estimate(
            arch, instance, replace(request, tensor_parallel_size=tp, instance_type=name), max_model_len
        )
        if not est.fits:
            continue
        key = (instance.gpu_model, instance.gpu_count, instance.gpu_memory_mib)
        price = instance.on_demand_usd_per_hour
        best = fits.get(key)
        if best is None or _price_key(price) < _price_key(best.instance_type.on_demand_usd_per_hour):
            fits[key] = InstanceFit(instance, est)
    ordered = sorted(
        fits.values(),
        key=lambda fit: (
            _price_key(fit.instance_type.on_demand_usd_per_hour),
            fit.instance_type.instance_type,
        ),
    )
    return ordered[:limit]


def _price_key(price: float | None) -> float:
    return price if price is not None else float("inf")


# ---------------------------------------------------------------------------
# What the stacks call


def assess_capacity(request: CapacityRequest) -> CapacityAssessment:
    """Estimate capacity for a stack's settings, collecting settings problems instead of raising."""
    keys = request.config_keys
    assessment = CapacityAssessment(request)
    instance = gpu_instance_type(request.instance_type)
    if instance is None:
        assessment.problems.append(
            f"llmdeploy:{keys.instance_type}: found {request.instance_type!r}; accepted: a GPU instance type "
            f"of the catalogue (nearest: {', '.join(nearest_gpu_instance_types(request.instance_type))})"
        )
        return assessment
    assessment.instance = instance
    try:
        arch = resolve_model(request.model, token=request.hf_token, allow_network=request.allow_network)
    except ModelConfigError as error:
        assessment.unknown_reason = str(error)
        if isinstance(error, ModelNotCached):
            assessment.fetch_command = fetch_command(error.model)
        assessment.unknown = (
            f"llmdeploy:{keys.model}: found {request.model!r}; accepted: a model whose config.json "
            f"llmdeploy can read and size ({error})"
        )
        return assessment
    if request.quantization:
        try:
            effective_quantization(arch, request.quantization)
        except ModelConfigError as error:
            assessment.unknown = (
                f"llmdeploy:{keys.quantization}: found {request.quantization!r}; accepted: {error}"
            )
            return assessment
    assessment.architecture = arch
    tp = request.tensor_parallel_size or instance.gpu_count
    tp_problems = tensor_parallel_problems(arch, instance, tp, keys)
    if tp_problems:
        assessment.problems.extend(tp_problems)
        return assessment

    if request.max_model_len is not None and request.max_model_len > arch.max_position_embeddings:
        assessment.problems.append(
            f"llmdeploy:{keys.max_model_len}: found {request.max_model_len}; accepted: at most "
            f"{arch.max_position_embeddings}, {arch.short_name}'s max_position_embeddings"
        )
        return assessment

    if request.max_model_len is None:
        chosen = choose_max_model_len(arch, instance, request)
        if chosen is None:
            assessment.estimate = estimate(arch, instance, request, MIN_CHOSEN_MAX_MODEL_LEN)
            assessment.max_model_len_tried = True
            assessment.problems.append(_instance_problem(assessment.estimate, arch, request, instance))
            return assessment
        assessment.max_model_len_chosen = True
        assessment.estimate = estimate(arch, instance, request, chosen)
        return assessment

    est = estimate(arch, instance, request, request.max_model_len)
    assessment.estimate = est
    if est.fits:
        return assessment
    if not est.weights_fit:
        assessment.problems.append(_instance_problem(est, arch, request, instance))
        return assessment
    longest = choose_max_model_len(arch, instance, request)
    alternatives = fitting_instance_types(arch, request, request.max_model_len)
    shorter = f"at most {longest} tokens on {instance.instance_type}" if longest else "a bigger instance type"
    assessment.problems.append(
        f"llmdeploy:{keys.max_model_len}: found {request.max_model_len}; accepted: {shorter} "
        f"({arch.short_name} on {instance.gpu_count} x {instance.gpu_model}: one "
        f"{request.max_model_len}-token sequence needs {gib(est.kv_bytes_for_one_sequence)} of KV cache "
        f"per GPU, {gib(max(est.kv_budget_bytes, 0))} is left after {gib(est.weight_bytes)} of weights), "
        f"or an instance type that fits: {_describe_fits(alternatives)}"
    )
    return assessment


def assess_fleet_capacity(
    request: CapacityRequest, more_instance_types: Sequence[str], more_key: str
) -> CapacityAssessment:
    """Capacity of a group that launches `request.instance_type` or any of `more_instance_types`.

    An Auto Scaling group with Spot pools runs every instance type from one launch template, so
    with one set of engine flags: each type must serve one sequence of the same max-model-len.
    Their problems name `more_key` (the config key listing them) instead of the instance type's.
    When max-model-len is unset, the length chosen is the longest that every type fits; a type
    with as much GPU memory can still fit less, since vLLM batches 8192 tokens in its profile run
    (not 2048) on GPUs of 70 GiB or more (`vllm_batch_defaults`).

    The assessment returned, and its output, are `request.instance_type`'s.
    """
    primary = assess_capacity(request)
    others = [name for name in dict.fromkeys(more_instance_types) if name != request.instance_type]
    if primary.problems or primary.estimate is None or not others:
        return primary
    keys = replace(request.config_keys, instance_type=more_key)
    length = primary.estimate.max_model_len
    problems: list[str] = []
    for name in others:
        other = assess_capacity(replace(request, instance_type=name, keys=keys))
        problems += other.problems
        if not other.problems and other.max_model_len is not None:
            length = min(length, other.max_model_len)
    if problems:
        primary.problems.extend(problems)
        return primary
    if request.max_model_len is None and length < primary.estimate.max_model_len:
        fleet = assess_capacity(replace(request, max_model_len=length))
        fleet.max_model_len_chosen = True
        return fleet
    return primary


def _instance_problem(
    est: CapacityEstimate, arch: ModelArchitecture, request: CapacityRequest, instance: GpuInstanceType
) -> str:
    length = request.max_model_len or MIN_CHOSEN_MAX_MODEL_LEN
    alternatives = fitting_instance_types(arch, request, length)
    return (
        f"llmdeploy:{request.config_keys.instance_type}: found {instance.instance_type!r}; accepted: an "
        f"instance type whose GPUs hold {arch.short_name}'s {gib(est.weight_bytes)} of weights per GPU and "
        f"one {length}-token sequence ({instance.gpu_count} x {instance.gpu_model} leave "
        f"{gib(est.budget_bytes - est.non_torch_bytes - est.activation_bytes)} per GPU): "
        f"{_describe_fits(alternatives)}"
    )


def _describe_fits(fits: list[InstanceFit]) -> str:
    if not fits:
        return "none in the catalogue"
    return ", ".join(fit.describe() for fit in fits)


def capacity_problems(request: CapacityRequest) -> list[str]:
    """One settings line per reason the stack's model cannot serve one sequence.

    Empty when it fits, and when capacity is unknown (see `CapacityAssessment.unknown`).
    """
    return assess_capacity(request).problems
