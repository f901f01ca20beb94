"""Measure real architectures on a GPU: weight bytes and KV-cache bytes per token (bf16, random weights).

Runs where PyTorch, transformers and a CUDA GPU are (not in CI). Reads model
configs (the bundled config.json files) from a JSON file mapping repo id to
config, builds each architecture with `AutoModelForCausalLM.from_config` on the
GPU in bfloat16 with random weights, and measures:

- weights: `torch.cuda.memory_allocated()` growth while the model is built;
  models too big for the GPU are built at 2 and 4 layers and extrapolated
  linearly (the layers are identical, so memory = fixed + layers x per-layer);
- KV bytes per token: the bytes of the key and value tensors the model's own
  cache class (`DynamicCache`) holds after a forward pass over N tokens, / N.

Writes one JSON document (device, versions, date, per model figures) to the
path given. `bench/capacity_accuracy.py` compares it with llmdeploy's estimate.

    python3 bench/capacity_device.py CONFIGS.json OUT.json
"""

from __future__ import annotations

import datetime
import gc
import json
import subprocess
import sys
from typing import Any

import torch
import transformers
from transformers import AutoConfig, AutoModelForCausalLM

TOKENS = 512
# Leave room for the forward pass: build the full model only below this share of free memory.
FULL_BUILD_SHARE = 0.7
# Keys that name tokens, versions or loaders, not shapes.
NON_ARCHITECTURE_KEYS = (
    "quantization_config",
    "auto_map",
    "_name_or_path",
    "transformers_version",
    "torch_dtype",
)


def build(config: dict[str, Any], layers: int | None = None) -> torch.nn.Module:
    fields = {k: v for k, v in config.items() if k not in NON_ARCHITECTURE_KEYS}
    if layers is not None:
        fields["num_hidden_layers"] = layers
    cfg = AutoConfig.for_model(fields.pop("model_type"), **fields)
    with torch.device("cuda"):
        try:
            return AutoModelForCausalLM.from_config(cfg, dtype=torch.bfloat16)
        except TypeError:  # transformers before 4.56 named it torch_dtype
            return AutoModelForCausalLM.from_config(cfg, torch_dtype=torch.bfloat16)


def cache_tensors(cache: Any) -> list[torch.Tensor]:
    if hasattr(cache, "layers"):  # transformers 5: one layer object per decoder layer
        return [t for layer in cache.layers for t in (layer.keys, layer.values) if t is not None]
    if hasattr(cache, "key_cache"):
        return list(cache.key_cache) + list(cache.value_cache)
    return [t for pair in cache for t in pair]


def measure(config: dict[str, Any], layers: int | None = None) -> dict[str, Any]:
    gc.collect()
    torch.cuda.empty_cache()
    torch.cuda.synchronize()
    before = torch.cuda.memory_allocated()
    model = build(config, layers)
    torch.cuda.synchronize()
    allocated = torch.cuda.memory_allocated() - before
    params = list(model.parameters())  # tied weights appear once
    result = {
        "layers": model.config.num_hidden_layers,
        "allocated_bytes": allocated,
        "parameters": sum(p.numel() for p in params),
        "parameter_bytes": sum(p.numel() * p.element_size() for p in params),
        "buffer_bytes": sum(b.numel() * b.element_size() for b in model.buffers()),
        "dtypes": sorted({str(p.dtype) for p in params}),
    }
    ids = torch.randint(0, model.config.vocab_size, (1, TOKENS), device="cuda")
    with torch.no_grad():
        out = model(input_ids=ids, use_cache=True, logits_to_keep=1)
    tensors = cache_tensors(out.past_key_values)
    kv_bytes = sum(t.numel() * t.element_size() for t in tensors)
    result["kv_cache_class"] = type(out.past_key_values).__name__
    result["kv_tensor_shape"] = list(tensors[0].shape)
    result["kv_tensor_dtype"] = str(tensors[0].dtype)
    result["kv_bytes_per_token"] = kv_bytes / TOKENS
    del out, tensors, model, params, ids
    return result


def main() -> None:
    with open(sys.argv[1]) as file:
        configs: dict[str, dict[str, Any]] = json.load(file)
    total = torch.cuda.mem_get_info()[1]
    smi = subprocess.run(
        ["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    document: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "device": torch.cuda.get_device_name(),
        "nvidia_smi": smi,
        "cuda_total_bytes": total,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "tokens": TOKENS,
        "models": {},
    }
    for name, config in configs.items():
        layers = config["num_hidden_layers"]
        experts = config.get("num_local_experts") or config.get("num_experts") or 1
        mlp = 3 * config["hidden_size"] * config["intermediate_size"] * experts
        embeddings = 4 * config["vocab_size"] * config["hidden_size"]
        rough_bytes = 2 * layers * (mlp + 4 * config["hidden_size"] ** 2) + embeddings
        try:
            if rough_bytes < FULL_BUILD_SHARE * torch.cuda.mem_get_info()[0]:
                entry = {"method": "full", **measure(config)}
            else:
                two, four = measure(config, 2), measure(config, 4)
                per_layer = (four["allocated_bytes"] - two["allocated_bytes"]) / 2
                kv_per_layer = (four["kv_bytes_per_token"] - two["kv_bytes_per_token"]) / 2
                entry = {
                    "method": "extrapolated from 2 and 4 layers",
                    "layers": layers,
                    "allocated_bytes": two["allocated_bytes"] + (layers - 2) * per_layer,
                    "parameters": two["parameters"]
                    + (layers - 2) * (four["parameters"] - two["parameters"]) // 2,
                    "kv_bytes_per_token": two["kv_bytes_per_token"] + (layers - 2) * kv_per_layer,
                    "kv_cache_class": two["kv_cache_class"],
                    "kv_tensor_shape": two["kv_tensor_shape"],
                    "kv_tensor_dtype": two["kv_tensor_dtype"],
                    "dtypes": two["dtypes"],
                    "at_2_layers": two,
                    "at_4_layers": four,
                }
        except Exception as error:  # one model failing must not lose the others' figures
            entry = {"error": f"{type(error).__name__}: {error}"}
        document["models"][name] = entry
        print(name, json.dumps({k: v for k, v in entry.items() if not k.startswith("at_")}), flush=True)
    with open(sys.argv[2], "w") as file:
        json.dump(document, file, indent=1)


if __name__ == "__main__":
    main()
