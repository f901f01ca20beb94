"""Model architecture: what a model's `config.json` says about its size.

The capacity planner needs a model's layers, hidden size, attention and KV
heads, head dim, vocabulary, context length, dtype and quantization. They come
from the model's `config.json`, looked up in this order:

1. a local path (a model directory holding `config.json`, or the file itself);
2. the bundled set under `llmdeploy/core/data/models/<org>/<name>/config.json`
   (common models, the published files as they are on the Hugging Face hub),
   so the offline plan works with no network;
3. the on-disk cache (`$LLMDEPLOY_CACHE_DIR`, else `$XDG_CACHE_HOME/llmdeploy`,
   else `~/.cache/llmdeploy`), at `models/<org>/<name>/<revision>/config.json`,
   filled by `llmdeploy models fetch MODEL` (or by 4);
4. the Hugging Face hub (`$HF_ENDPOINT`, default https://huggingface.co), only
   for callers that allow the network (`llmdeploy capacity`); never the stacks'
   resolve step (plans are offline), never when `HF_HUB_OFFLINE=1`.

Parameter counts are computed from the architecture (the same shapes the
engines allocate), per family; `bench/capacity_device.py` checks them against
real architectures instantiated with PyTorch.
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

DEFAULT_HF_ENDPOINT = "https://huggingface.co"
HUB_TIMEOUT_SECONDS = 10
# A config.json is a few KiB; anything near this is not one (and must not fill memory).
MAX_HUB_CONFIG_BYTES = 1024 * 1024

# Families whose tensor shapes `parameter_counts` knows. Anything else is refused
# with a clear line rather than sized by guesswork.
DENSE_MODEL_TYPES = ("llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3_text", "phi3")
MOE_MODEL_TYPES = ("mixtral", "qwen2_moe", "qwen3_moe")
SUPPORTED_MODEL_TYPES = DENSE_MODEL_TYPES + MOE_MODEL_TYPES


class ModelConfigError(Exception):
    """A model's config could not be found, read or sized. `str()` is one line."""


def fetch_command(name: str) -> str:
    """The one command that puts a model's config.json into the cache (the only step that needs the hub)."""
    return f"llmdeploy models fetch {name}"


class ModelNotCached(ModelConfigError):
    """Neither bundled nor cached, and the hub is off limits: `fetch_command` caches it."""

    def __init__(self, name: str) -> None:
        self.model = name
        super().__init__(
            f"{name}: not bundled, not cached, and the hub is off limits (offline); bundled models: "
            f"{', '.join(bundled_model_names())}; cache it with `{fetch_command(name)}`"
        )


@dataclass(frozen=True)
class WeightQuantization:
    """How the quantized linear weights are stored.

    `overhead_bytes` is what scales and zero points add per weight: for
    group-wise int4 (AWQ, GPTQ) one fp16 scale plus one packed zero point per
    `group_size` weights of a row.
    """

    method: str
    bits: int
    group_size: int | None
    overhead_bytes: float

    @property
    def bytes_per_weight(self) -> float:
        return self.bits / 8 + self.overhead_bytes


@dataclass(frozen=True)
class ParameterCounts:
    embedding: int
    lm_head: int
    quantizable: int  # the linear layers' weight matrices inside the decoder layers
    other: int  # norms, biases, routers: kept in the model dtype by every quantization scheme

    @property
    def total(self) -> int:
        return self.embedding + self.lm_head + self.quantizable + self.other


@dataclass(frozen=True)
class ModelArchitecture:
    name: str
    source: str
    model_type: str
    num_hidden_layers: int
    hidden_size: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int
    intermediate_size: int
    vocab_size: int
    max_position_embeddings: int
    torch_dtype: str
    tie_word_embeddings: bool
    qkv_bias: bool = False
    o_bias: bool = False
    mlp_bias: bool = False
    norms_per_layer: int = 2
    qk_norm: bool = False
    num_experts: int = 0
    num_experts_per_tok: int = 0
    moe_intermediate_size: int = 0
    shared_expert_intermediate_size: int = 0
    quantization: WeightQuantization | None = None

    @property
    def q_dim(self) -> int:
        return self.num_attention_heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        return self.num_key_value_heads * self.head_dim

    @property
    def short_name(self) -> str:
        return self.name.rstrip("/").rsplit("/", 1)[-1]

    def parameter_counts(self) -> ParameterCounts:
        hidden = self.hidden_size
        attention = hidden * self.q_dim + 2 * hidden * self.kv_dim + self.q_dim * hidden
        other = self.norms_per_layer * hidden
        if self.qkv_bias:
            other += self.q_dim + 2 * self.kv_dim
        if self.o_bias:
            other += hidden
        if self.qk_norm:
            other += 2 * self.head_dim
        if self.num_experts:
            mlp = self.num_experts * 3 * hidden * self.moe_intermediate_size
            other += hidden * self.num_experts  # the router
            if self.shared_expert_intermediate_size:
                mlp += 3 * hidden * self.shared_expert_intermediate_size
                other += hidden  # the shared expert's gate (qwen2_moe)
        else:
            mlp = 3 * hidden * self.intermediate_size  # gate, up and down projections
            if self.mlp_bias:
                other += 2 * self.intermediate_size + hidden
        layers = self.num_hidden_layers
        embedding = self.vocab_size * hidden
        return ParameterCounts(
            embedding=embedding,
            lm_head=0 if self.tie_word_embeddings else embedding,
            quantizable=layers * (attention + mlp),
            other=layers * other + hidden,  # + the final norm
        )


# ---------------------------------------------------------------------------
# Reading a config.json


def _required_int(config: Mapping[str, Any], key: str, name: str) -> int:
    value = config.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ModelConfigError(f"{name}: config.json has no positive integer {key!r} (found {value!r})")
    return value


def _optional_int(config: Mapping[str, Any], key: str, default: int) -> int:
    value = config.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else default


def parse_quantization(config: Mapping[str, Any], name: str = "model") -> WeightQuantization | None:
    """The checkpoint's own quantization (`quantization_config`), or None for a plain checkpoint."""
    spec = config.get("quantization_config")
    if not spec:
        return None
    if not isinstance(spec, Mapping):
        raise ModelConfigError(f"{name}: quantization_config is not an object")
    method = str(spec.get("quant_method", "")).lower()
    if method in ("awq", "gptq"):
        bits = int(spec.get("bits", spec.get("w_bit", 4)))
        group = int(spec.get("group_size", spec.get("q_group_size", 128)))
        # One fp16 scale and one packed zero point per group of a row; per-channel (-1) is negligible.
        overhead = (2 + bits / 8) / group if group > 0 else 0.0
        return WeightQuantization(method, bits, group if group > 0 else None, overhead)
    if method == "fp8":
        block = spec.get("weight_block_size")
        if isinstance(block, list) and len(block) == 2:
            return WeightQuantization(method, 8, int(block[0]), 4 / (int(block[0]) * int(block[1])))
        return WeightQuantization(method, 8, None, 0.0)
    if method == "bitsandbytes":
        if spec.get("load_in_4bit"):
            # NF4/FP4: one fp32 absmax per 64-weight block (double quantization makes it smaller).
            return WeightQuantization(method, 4, 64, 4 / 64)
        return WeightQuantization(method, 8, None, 0.0)
    if method == "compressed-tensors":
        groups = spec.get("config_groups") or {}
        for group_spec in groups.values() if isinstance(groups, Mapping) else []:
            weights = group_spec.get("weights") if isinstance(group_spec, Mapping) else None
            if isinstance(weights, Mapping) and weights.get("num_bits"):
                bits = int(weights["num_bits"])
                group_size = weights.get("group_size")
                group = int(group_size) if group_size else 0
                overhead = 2 / group if group > 0 else 0.0
                return WeightQuantization(method, bits, group or None, overhead)
        raise ModelConfigError(f"{name}: compressed-tensors quantization_config has no weight bits")
    if method == "mxfp4":
        return WeightQuantization(method, 4, 32, 1 / 32)
    raise ModelConfigError(
        f"{name}: quantization method {method!r} cannot be sized; accepted: awq, gptq, fp8, "
        "bitsandbytes, compressed-tensors, mxfp4"
    )


def engine_quantization(method: str) -> WeightQuantization:
    """Quantization an engine applies on load (vLLM `--quantization`, TGI `--quantize`)."""
    name = method.lower()
    if name in ("fp8", "fbgemm_fp8", "eetq", "bitsandbytes-8bit", "bitsandbytes"):
        return WeightQuantization(name, 8, None, 0.0)
    if name in ("bitsandbytes-nf4", "bitsandbytes-fp4"):
        return WeightQuantization(name, 4, 64, 4 / 64)
    raise ModelConfigError(
        f"quantization {method!r} cannot be applied to an unquantized checkpoint by llmdeploy's "
        "estimate; accepted: fp8, eetq, bitsandbytes, bitsandbytes-nf4, bitsandbytes-fp4 "
        "(AWQ/GPTQ need a quantized checkpoint, whose config.json says so)"
    )


def architecture_from_config(config: Mapping[str, Any], name: str, source: str) -> ModelArchitecture:
    """Size-relevant fields of a Hugging Face `config.json`."""
    # Multimodal wrappers (e.g. Gemma 3, Llama 4) keep the language model under text_config.
    text = config.get("text_config")
    if isinstance(text, Mapping) and "num_hidden_layers" not in config:
        config = {**text, "torch_dtype": config.get("torch_dtype", text.get("torch_dtype"))}
    model_type = str(config.get("model_type", ""))
    if model_type not in SUPPORTED_MODEL_TYPES:
        raise ModelConfigError(
            f"{name}: model_type {model_type!r} is not one llmdeploy can size yet; accepted: "
            f"{', '.join(SUPPORTED_MODEL_TYPES)}"
        )
    layers = _required_int(config, "num_hidden_layers", name)
    hidden = _required_int(config, "hidden_size", name)
    heads = _required_int(config, "num_attention_heads", name)
    kv_heads = _optional_int(config, "num_key_value_heads", heads)
    head_dim = _optional_int(config, "head_dim", hidden // heads)
    vocab = _required_int(config, "vocab_size", name)
    dtype = str(config.get("torch_dtype") or config.get("dtype") or "bfloat16")
    is_gemma = model_type.startswith("gemma")
    fields: dict[str, Any] = {
        "name": name,
        "source": source,
        "model_type": model_type,
        "num_hidden_layers": layers,
        "hidden_size": hidden,
        "num_attention_heads": heads,
        "num_key_value_heads": kv_heads,
        "head_dim": head_dim,
        "intermediate_size": _optional_int(config, "intermediate_size", 0),
        "vocab_size": vocab,
        "max_position_embeddings": _required_int(config, "max_position_embeddings", name),
        "torch_dtype": dtype,
        # Gemma ties its embeddings whatever the config says; the others default to untied.
        "tie_word_embeddings": bool(config.get("tie_word_embeddings", is_gemma)),
        # Qwen2's q, k and v projections always carry a bias; Llama's follow attention_bias.
        "qkv_bias": model_type in ("qwen2", "qwen2_moe") or bool(config.get("attention_bias", False)),
        "o_bias": model_type not in ("qwen2", "qwen2_moe") and bool(config.get("attention_bias", False)),
        "mlp_bias": bool(config.get("mlp_bias", False)),
        # Gemma 2 and 3 add post-attention and post-feedforward norms.
        "norms_per_layer": 4 if model_type in ("gemma2", "gemma3_text") else 2,
        "qk_norm": model_type in ("qwen3", "qwen3_moe", "gemma3_text"),
        "quantization": parse_quantization(config, name),
    }
    if model_type in MOE_MODEL_TYPES:
        experts = _optional_int(config, "num_local_experts", 0) or _required_int(config, "num_experts", name)
        fields["num_experts"] = experts
        fields["num_experts_per_tok"] = _optional_int(config, "num_experts_per_tok", 2)
        # Mixtral sizes each expert with intermediate_size; Qwen MoE with moe_intermediate_size.
        fields["moe_intermediate_size"] = _optional_int(
            config, "moe_intermediate_size", _optional_int(config, "intermediate_size", 0)
        )
        fields["shared_expert_intermediate_size"] = _optional_int(
            config, "shared_expert_intermediate_size", 0
        )
        if not fields["moe_intermediate_size"]:
            raise ModelConfigError(f"{name}: config.json has no expert size (moe_intermediate_size)")
    elif not fields["intermediate_size"]:
        raise ModelConfigError(f"{name}: config.json has no positive integer 'intermediate_size'")
    return ModelArchitecture(**fields)


# ---------------------------------------------------------------------------
# Finding a config.json


def bundled_model_names() -> list[str]:
    """Repo ids of the models whose config.json ships with llmdeploy."""
    root = resources.files("llmdeploy.core").joinpath("data/models")
    names: list[str] = []
    for org in root.iterdir():
        if org.is_dir():
            names.extend(f"{org.name}/{model.name}" for model in org.iterdir() if model.is_dir())
    return sorted(names)


def _bundled_config(name: str) -> dict[str, Any] | None:
    wanted = name.strip().lower()
    for bundled in bundled_model_names():
        if bundled.lower() == wanted:
            path = resources.files("llmdeploy.core").joinpath(f"data/models/{bundled}/config.json")
            return dict(json.loads(path.read_text()))
    return None


def cache_dir() -> Path:
    explicit = os.environ.get("LLMDEPLOY_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "llmdeploy"


def _cache_path(repo_id: str, revision: str) -> Path:
    safe_revision = urllib.parse.quote(revision, safe="")
    return cache_dir() / "models" / repo_id / safe_revision / "config.json"


def is_repo_id(name: str) -> bool:
    """`name` or `org/name`, in the characters the hub allows (letters, digits, `-`, `_`, `.`)."""
    parts = name.split("/")
    return 1 <= len(parts) <= 2 and all(
        part not in (".", "..") and re.fullmatch(r"[A-Za-z0-9_.-]+", part) for part in parts
    )


def fetch_hub_config(
    repo_id: str,
    *,
    revision: str = "main",
    token: str | None = None,
    endpoint: str | None = None,
    timeout: float = HUB_TIMEOUT_SECONDS,
) -> dict[str, Any]:
    """GET `<endpoint>/<repo>/resolve/<revision>/config.json`. The token never appears in errors."""
    base = (endpoint or os.environ.get("HF_ENDPOINT") or DEFAULT_HF_ENDPOINT).rstrip("/")
    url = f"{base}/{urllib.parse.quote(repo_id)}/resolve/{urllib.parse.quote(revision, safe='')}/config.json"
    request = urllib.request.Request(url, headers={"User-Agent": "llmdeploy", "Accept": "application/json"})
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = _read_bounded(response, timeout, repo_id)
        document = json.loads(body.decode("utf-8"))
    except urllib.error.HTTPError as error:
        if error.code in (401, 403):
            hint = "the token has no access to it" if token else "it is gated or private: set hfToken"
            raise ModelConfigError(
                f"{repo_id}: the hub refused config.json (HTTP {error.code}; {hint})"
            ) from None
        if error.code == 404:
            raise ModelConfigError(
                f"{repo_id}: no such model on the hub (HTTP 404 for config.json)"
            ) from None
        raise ModelConfigError(f"{repo_id}: the hub answered HTTP {error.code} for config.json") from None
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise ModelConfigError(f"{repo_id}: the hub at {base} could not be reached ({reason})") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ModelConfigError(f"{repo_id}: the hub's config.json is not JSON") from None
    if not isinstance(document, dict):
        raise ModelConfigError(f"{repo_id}: the hub's config.json is not a JSON object")
    if token and token in body.decode("utf-8", "replace"):
        # A hub (or a proxy) that echoes the Authorization header: the file would carry the token
        # into the cache and every report that shows the config. Refused, not stored.
        raise ModelConfigError(
            f"{repo_id}: the hub's config.json contains the token that was sent; refused, not cached "
            "(check HF_ENDPOINT points at the Hugging Face hub)"
        )
    return document


def _read_bounded(response: Any, timeout: float, repo_id: str) -> bytes:
    """The body, up to `MAX_HUB_CONFIG_BYTES`, within `timeout` of wall time in all.

    The socket timeout bounds each read only: a server dripping a byte a second would never end.
    """
    ends_at = time.monotonic() + timeout
    chunks: list[bytes] = []
    size = 0
    while True:
        if time.monotonic() > ends_at:
            raise ModelConfigError(f"{repo_id}: the hub's config.json did not arrive within {timeout:g} s")
        chunk = response.read1(64 * 1024) if hasattr(response, "read1") else response.read(64 * 1024)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > MAX_HUB_CONFIG_BYTES:
            raise ModelConfigError(
                f"{repo_id}: the hub's config.json is over {MAX_HUB_CONFIG_BYTES // 1024} KiB; "
                "accepted: a model config (a few KiB)"
            )
        chunks.append(chunk)


def _read_local(path: Path, name: str) -> dict[str, Any]:
    file = path / "config.json" if path.is_dir() else path
    try:
        document = json.loads(file.read_text())
    except FileNotFoundError:
        raise ModelConfigError(f"{name}: {file} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelConfigError(f"{name}: {file} is not a readable JSON file ({error})") from None
    if not isinstance(document, dict):
        raise ModelConfigError(f"{name}: {file} is not a JSON object")
    return document


def load_model_config(
    name: str,
    *,
    token: str | None = None,
    revision: str = "main",
    allow_network: bool = True,
    endpoint: str | None = None,
) -> tuple[dict[str, Any], str]:
    """A model's config.json and where it came from (local, bundled, cache or hub)."""
    path = Path(name).expanduser()
    if name.startswith((".", "/", "~")) or path.exists():
        return _read_local(path, name), f"local file {path}"
    bundled = _bundled_config(name)
    if bundled is not None:
        return bundled, "bundled with llmdeploy"
    if not is_repo_id(name):
        raise ModelConfigError(f"{name}: neither a local path nor a Hugging Face repo id (org/name)")
    cached = _cache_path(name, revision)
    if cached.is_file():
        return _read_local(cached, name), f"hub (cached at {cached})"
    if not allow_network or os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        raise ModelNotCached(name)
    document = fetch_hub_config(name, revision=revision, token=token, endpoint=endpoint)
    store_cached_config(name, document, revision)
    return document, "hub"


def store_cached_config(repo_id: str, document: Mapping[str, Any], revision: str = "main") -> Path:
    """Write a model's config.json into the on-disk cache, where offline plans read it."""
    cached = _cache_path(repo_id, revision)
    cached.parent.mkdir(parents=True, exist_ok=True)
    partial = cached.with_suffix(".tmp")
    partial.write_text(json.dumps(document, indent=2) + "\n")
    partial.replace(cached)  # atomic: a concurrent preview never reads half a file
    return cached


@cache
def _resolve_cached(
    name: str, token: str | None, revision: str, allow_network: bool, endpoint: str | None
) -> ModelArchitecture:
    document, source = load_model_config(
        name, token=token, revision=revision, allow_network=allow_network, endpoint=endpoint
    )
    return architecture_from_config(document, name, source)


def resolve_model(
    name: str,
    *,
    token: str | None = None,
    revision: str = "main",
    allow_network: bool = True,
    endpoint: str | None = None,
) -> ModelArchitecture:
    """The architecture of `name` (a local path or a hub repo id). Raises ModelConfigError."""
    return _resolve_cached(
        name, token or os.environ.get("HF_TOKEN") or None, revision, allow_network, endpoint
    )


def clear_resolve_cache() -> None:
    _resolve_cached.cache_clear()
