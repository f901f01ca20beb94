"""`llmdeploy parity`: the stacks side by side from their resolved specs, differences explained,
exit 1 on what the parity config marks as errors."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from llmdeploy.core.parity import (
    DEFAULT_RULES,
    UNPINNED,
    ParityRule,
    StackFacts,
    differences,
    ollama_base,
    read_rules,
)
from tests.conftest import llmdeploy_cli

COMMIT = "0123456789abcdef0123456789abcdef01234567"
PROD = StackFacts(
    stack="prod",
    engine="vllm",
    image="vllm/vllm-openai:v0.30.0",
    model="meta-llama/Llama-3.1-8B-Instruct",
    revision=COMMIT,
    quantization="none: the checkpoint's dtype",
    context_length="8192",
    sampling_defaults="vLLM --generation-config vllm",
    chat_template="the tokenizer's (hub repo)",
    served_name="llama-3.1-8b-instruct",
)
STAGING = replace(PROD, stack="staging", engine="sglang", image="lmsysorg/sglang:v0.5.3")


def test_same_model_and_revision_on_another_engine_is_noted_not_an_error() -> None:
    found = differences([STAGING, PROD], DEFAULT_RULES)
    assert {item.field for item in found} == {"engine", "image"}
    assert not any(item.error for item in found)
    assert all(item.why for item in found)


def test_another_model_or_revision_between_staging_and_prod_is_an_error() -> None:
    other = replace(STAGING, model="Qwen/Qwen2.5-7B-Instruct")
    assert [item.field for item in differences([other, PROD], DEFAULT_RULES) if item.error] == ["model"]
    moved = replace(STAGING, revision="f" * 40)
    assert [item.field for item in differences([moved, PROD], DEFAULT_RULES) if item.error] == ["revision"]


def test_both_unpinned_is_an_error_though_the_values_agree() -> None:
    found = differences(
        [replace(STAGING, revision=UNPINNED), replace(PROD, revision=UNPINNED)], DEFAULT_RULES
    )
    (item,) = [item for item in found if item.error]
    assert item.field == "revision" and "staging" in item.why and "prod" in item.why


def test_dev_maps_its_ollama_tag_to_base_model_and_quantization() -> None:
    assert ollama_base("llama3.1:8b") == ("meta-llama/Llama-3.1-8B-Instruct", "gguf Q4_K_M")
    base, quantization = ollama_base("somebody/custom:7b")
    assert "not in the bundled table" in base and quantization.startswith("unknown")
    dev = replace(PROD, stack="dev", engine="ollama", quantization="gguf Q4_K_M")
    found = differences([dev, PROD], [ParityRule(("dev", "prod"), ("model",))])
    assert {item.field: item.error for item in found} == {"engine": False, "quantization": False}


def test_a_bad_parity_config_is_one_line() -> None:
    for document in ([], {"mustMatch": [{"stacks": ["staging"], "fields": ["colour"]}]}):
        try:
            read_rules(document, "parity.json")
        except ValueError as error:
            assert str(error).startswith("parity.json") and "\n" not in str(error)
        else:
            raise AssertionError(f"accepted {document}")


def test_cli_on_the_repositorys_stacks(tmp_path: Path) -> None:
    # The examples pin no modelRevision: staging and prod are unpinned, which the default rule fails.
    done = llmdeploy_cli("parity")
    assert done.returncode == 1, done.stderr
    assert "error: revision" in done.stdout and "dev" in done.stdout.splitlines()[0]
    assert "meta-llama/Llama-3.2-1B-Instruct" in done.stdout  # dev's llama3.2:1b, mapped
    # A config that only asks for the same model passes: the examples serve the same one.
    config = tmp_path / "parity.json"
    config.write_text(json.dumps({"mustMatch": [{"stacks": ["staging", "prod"], "fields": ["model"]}]}))
    done = llmdeploy_cli("parity", "staging", "prod", "--config", str(config), "--format", "json")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["stacks"]["staging"]["model"] == document["stacks"]["prod"]["model"]
    assert {item["field"] for item in document["differences"]} >= {"engine", "image"}
    # And one that wants the same engine fails.
    config.write_text(json.dumps({"mustMatch": [{"stacks": ["staging", "prod"], "fields": ["engine"]}]}))
    assert llmdeploy_cli("parity", "staging", "prod", "--config", str(config)).returncode == 1
    config.write_text("{")
    broken = llmdeploy_cli("parity", "--config", str(config))
    assert broken.returncode == 2 and len(broken.stderr.strip().splitlines()) <= 2, broken.stderr
