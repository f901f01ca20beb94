"""Model architecture from config.json: bundled set, local path, and the hub path against a loopback double."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from llmdeploy.core.models import (
    ModelConfigError,
    architecture_from_config,
    bundled_model_names,
    clear_resolve_cache,
    engine_quantization,
    load_model_config,
    parse_quantization,
    resolve_model,
)

QWEN_CONFIG = json.loads(
    (
        Path(__file__).resolve().parent.parent
        / "llmdeploy/core/data/models/Qwen/Qwen2.5-7B-Instruct/config.json"
    ).read_text()
)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No test reaches the real hub: offline unless a test points HF_ENDPOINT at its loopback double."""
    monkeypatch.setenv("LLMDEPLOY_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # discard port: never the real hub
    monkeypatch.delenv("HF_TOKEN", raising=False)
    clear_resolve_cache()
    yield
    clear_resolve_cache()


# Published totals from the models' own cards or papers (billions, as rounded there).
PUBLISHED_PARAMETERS_B = {
    "meta-llama/Llama-3.1-8B-Instruct": 8.03,
    "meta-llama/Llama-3.1-70B-Instruct": 70.55,
    "meta-llama/Llama-3.2-3B-Instruct": 3.21,
    "mistralai/Mistral-7B-Instruct-v0.3": 7.25,
    "mistralai/Mixtral-8x7B-Instruct-v0.1": 46.70,
    "Qwen/Qwen2.5-7B-Instruct": 7.61,
    "Qwen/Qwen2.5-72B-Instruct": 72.7,
    "google/gemma-2-9b-it": 9.24,
    "google/gemma-2-2b-it": 2.61,
    "microsoft/Phi-3-mini-4k-instruct": 3.82,
    "microsoft/phi-4": 14.66,
}


@pytest.mark.parametrize("name", sorted(PUBLISHED_PARAMETERS_B))
def test_bundled_parameter_counts_match_published_totals(name: str) -> None:
    arch = resolve_model(name)
    total = arch.parameter_counts().total / 1e9
    assert abs(total - PUBLISHED_PARAMETERS_B[name]) < 0.01, f"{name}: {total:.3f} B parameters"
    assert arch.source == "bundled with llmdeploy"


def test_every_bundled_config_is_sizable() -> None:
    names = bundled_model_names()
    assert "meta-llama/Llama-3.1-8B-Instruct" in names and len(names) >= 10
    for name in names:
        arch = resolve_model(name)
        assert arch.num_hidden_layers > 0 and arch.head_dim > 0, name


def test_bundled_lookup_ignores_case() -> None:
    assert resolve_model("META-LLAMA/llama-3.1-8b-instruct").hidden_size == 4096


def test_architecture_fields_from_config() -> None:
    gemma = resolve_model("google/gemma-2-9b-it")
    assert (gemma.head_dim, gemma.num_key_value_heads, gemma.tie_word_embeddings) == (256, 8, True)
    assert gemma.norms_per_layer == 4
    qwen = resolve_model("Qwen/Qwen2.5-7B-Instruct")
    assert qwen.qkv_bias and not qwen.o_bias and qwen.head_dim == 128
    mixtral = resolve_model("mistralai/Mixtral-8x7B-Instruct-v0.1")
    assert (mixtral.num_experts, mixtral.num_experts_per_tok, mixtral.moe_intermediate_size) == (8, 2, 14336)
    llama32 = resolve_model("meta-llama/Llama-3.2-3B-Instruct")
    assert llama32.tie_word_embeddings and llama32.parameter_counts().lm_head == 0


def test_local_directory_and_file(tmp_path: Path) -> None:
    model_dir = tmp_path / "my-model"
    model_dir.mkdir()
    (model_dir / "config.json").write_text(json.dumps({**QWEN_CONFIG, "num_hidden_layers": 2}))
    arch = resolve_model(str(model_dir))
    assert arch.num_hidden_layers == 2 and arch.source.startswith("local file")
    assert resolve_model(str(model_dir / "config.json")).num_hidden_layers == 2


def test_local_path_problems_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(ModelConfigError, match="does not exist"):
        resolve_model(str(tmp_path / "absent"))
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    with pytest.raises(ModelConfigError, match="not a readable JSON file"):
        resolve_model(str(broken))


def test_unknown_architecture_is_refused_with_the_accepted_list() -> None:
    with pytest.raises(ModelConfigError, match=r"model_type 'gpt2' .*accepted: llama, mistral"):
        architecture_from_config({"model_type": "gpt2", "n_layer": 12}, "gpt2", "test")


def test_missing_field_names_it() -> None:
    config = {k: v for k, v in QWEN_CONFIG.items() if k != "vocab_size"}
    with pytest.raises(ModelConfigError, match="'vocab_size'"):
        architecture_from_config(config, "x/y", "test")


def test_offline_unknown_model_names_the_bundled_ones() -> None:
    with pytest.raises(ModelConfigError, match=r"off limits \(offline\); bundled models: .*Qwen/Qwen2.5-7B"):
        resolve_model("someorg/unknown-model")


@pytest.mark.parametrize(
    ("spec", "bits", "per_weight"),
    [
        ({"quant_method": "awq", "bits": 4, "group_size": 128}, 4, 0.5 + 2.5 / 128),
        ({"quant_method": "gptq", "bits": 8, "group_size": 128}, 8, 1 + 3 / 128),
        ({"quant_method": "gptq", "bits": 4, "group_size": -1}, 4, 0.5),
        ({"quant_method": "fp8", "weight_block_size": [128, 128]}, 8, 1 + 4 / 128**2),
        ({"quant_method": "fp8"}, 8, 1.0),
        ({"quant_method": "bitsandbytes", "load_in_4bit": True}, 4, 0.5 + 4 / 64),
        ({"quant_method": "bitsandbytes", "load_in_8bit": True}, 8, 1.0),
        (
            {
                "quant_method": "compressed-tensors",
                "config_groups": {"group_0": {"weights": {"num_bits": 4, "group_size": 128}}},
            },
            4,
            0.5 + 2 / 128,
        ),
    ],
)
def test_quantization_config(spec: dict[str, Any], bits: int, per_weight: float) -> None:
    quantization = parse_quantization({"quantization_config": spec})
    assert quantization is not None and quantization.bits == bits
    assert quantization.bytes_per_weight == pytest.approx(per_weight)


def test_unknown_quantization_is_refused() -> None:
    with pytest.raises(ModelConfigError, match="quantization method 'hqq' cannot be sized"):
        parse_quantization({"quantization_config": {"quant_method": "hqq"}})
    with pytest.raises(ModelConfigError, match="AWQ/GPTQ need a quantized checkpoint"):
        engine_quantization("awq")
    assert engine_quantization("fp8").bits == 8


def test_bundled_awq_checkpoint_is_read_as_4_bit() -> None:
    arch = resolve_model("hugging-quants/Meta-Llama-3.1-70B-Instruct-AWQ-INT4")
    assert arch.quantization is not None and (arch.quantization.method, arch.quantization.bits) == ("awq", 4)


# ---------------------------------------------------------------------------
# The hub path, against a test double: a loopback HTTP server that serves config.json the way
# huggingface.co does (GET /<org>/<name>/resolve/<revision>/config.json, 401 for a gated repo
# without a token). The real hub is never contacted in tests.


class FakeHubHandler(BaseHTTPRequestHandler):
    routes: ClassVar[dict[str, tuple[int, bytes]]] = {}
    gated_token = "hf_TESTDOUBLEtokenAbCdEf0123456789"
    requests: ClassVar[list[tuple[str, str | None]]] = []

    def do_GET(self) -> None:
        auth = self.headers.get("Authorization")
        type(self).requests.append((self.path, auth))
        status, body = self.routes.get(self.path, (404, b'{"error":"Repository Not Found"}'))
        if self.path.startswith("/gated/") and auth != f"Bearer {self.gated_token}":
            status, body = 401, b'{"error":"Access to model gated/model is restricted."}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    config = json.dumps(QWEN_CONFIG).encode()
    FakeHubHandler.routes = {
        "/acme/qwen-like/resolve/main/config.json": (200, config),
        "/gated/model/resolve/main/config.json": (200, config),
        "/acme/not-json/resolve/main/config.json": (200, b"<html>"),
    }
    FakeHubHandler.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeHubHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    monkeypatch.delenv("HF_HUB_OFFLINE")
    yield endpoint
    server.shutdown()
    thread.join()


def test_hub_config_is_fetched_once_then_read_from_the_disk_cache(fake_hub: str, tmp_path: Path) -> None:
    arch = resolve_model("acme/qwen-like")
    assert arch.hidden_size == 3584 and arch.source == "hub"
    cached = tmp_path / "cache/models/acme/qwen-like/main/config.json"
    assert json.loads(cached.read_text()) == QWEN_CONFIG
    clear_resolve_cache()
    again = resolve_model("acme/qwen-like")
    assert again.source.startswith("hub (cached at")
    assert [path for path, _ in FakeHubHandler.requests] == ["/acme/qwen-like/resolve/main/config.json"]


def test_gated_model_sends_the_token_and_never_shows_it(fake_hub: str) -> None:
    with pytest.raises(ModelConfigError) as refused:
        resolve_model("gated/model")
    assert "HTTP 401" in str(refused.value) and "set hfToken" in str(refused.value)
    wrong = "hf_WRONGwrongWRONGwrong0000000000000"
    with pytest.raises(ModelConfigError) as refused_wrong:
        resolve_model("gated/model", token=wrong)
    assert wrong not in str(refused_wrong.value) and "the token has no access" in str(refused_wrong.value)
    arch = resolve_model("gated/model", token=FakeHubHandler.gated_token)
    assert arch.num_hidden_layers == 28
    assert FakeHubHandler.requests[-1][1] == f"Bearer {FakeHubHandler.gated_token}"


def test_hf_token_from_the_environment(fake_hub: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", FakeHubHandler.gated_token)
    assert resolve_model("gated/model").vocab_size == 152064


def test_hub_errors_are_one_line(fake_hub: str) -> None:
    with pytest.raises(ModelConfigError, match="no such model on the hub"):
        resolve_model("acme/missing")
    with pytest.raises(ModelConfigError, match="not JSON"):
        resolve_model("acme/not-json")


def test_unreachable_hub_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE")
    # Port 9 (discard) on loopback: nothing listens there, the connection is refused at once.
    with pytest.raises(ModelConfigError, match="could not be reached"):
        load_model_config("acme/anything", endpoint="http://127.0.0.1:9")
