"""The resolve step (stacks.resolve), called directly: settings in, the stack's resolved spec out.

Settings check shape only; every derived value (capacity, max-model-len, grace, volumes, names,
user data) is decided here, once, offline.
"""

from __future__ import annotations

import base64
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import llmdeploy.core.models as models_module
from llmdeploy.core.engines import VllmOptions
from llmdeploy.core.stack_kinds import AWS_STACK_KINDS, STACK_KINDS
from llmdeploy.core.volumes import ENGINE_IMAGE_GIB, root_volume_gib
from stacks.resolve import (
    DevSpec,
    ProdSpec,
    StagingSpec,
    load_stack,
    resolve,
)
from stacks.settings import SETTINGS_BY_KIND, ProdSettings, SettingsError, StagingSettings, load_settings
from tests.conftest import run_stack
from tests.support import REPO, of_type

API_KEY = "sk-resolve-test-" + "x" * 16


def prod_config(**extra: str) -> dict[str, str]:
    config = {
        "model": "Qwen/Qwen2.5-7B-Instruct",
        "instanceType": "g5.xlarge",
        "allowPlainHttp": "true",
        "apiAllowedCidrs": '["203.0.113.0/24"]',
        "apiKey": API_KEY,
        **extra,
    }
    return {f"llmdeploy:{key}": value for key, value in config.items()}


STAGING_SECRETS = {"llmdeploy:apiKey"}


def staging_config(**extra: str) -> dict[str, str]:
    config = {"model": "Qwen/Qwen2.5-7B-Instruct", "instanceType": "g5.xlarge", "apiKey": API_KEY, **extra}
    return {f"llmdeploy:{key}": value for key, value in config.items()}


def prod_spec(**extra: str) -> ProdSpec:
    secrets = {"llmdeploy:apiKey", "llmdeploy:hfToken"}
    spec = load_stack("prod", prod_config(**extra), secrets, project="llmdeploy")
    assert isinstance(spec, ProdSpec)
    return spec


@pytest.fixture
def no_model_configs(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every lookup of a model's config.json fails loudly (and is recorded)."""
    asked: list[str] = []

    def refuse(name: str, **_: Any) -> Any:
        asked.append(name)
        raise AssertionError(f"settings validation looked up {name}'s config.json")

    monkeypatch.setattr(models_module, "load_model_config", refuse)
    models_module.clear_resolve_cache()
    yield asked
    models_module.clear_resolve_cache()


# ---------------------------------------------------------------------------
# Settings do no capacity planning and no I/O


def test_settings_validation_reads_no_model_config(no_model_configs: list[str]) -> None:
    settings = load_settings("prod", prod_config(model="acme/private-model"), {"llmdeploy:apiKey"})
    assert isinstance(settings, ProdSettings) and settings.model == "acme/private-model"
    staging = load_settings(
        "staging", staging_config(model="meta-llama/Llama-3.1-70B-Instruct"), STAGING_SECRETS
    )
    assert isinstance(staging, StagingSettings)
    assert no_model_configs == [], "validation must not look up model configs"


def test_a_config_that_cannot_serve_is_valid_settings_and_refused_by_resolve() -> None:
    settings = load_settings(
        "staging", staging_config(model="meta-llama/Llama-3.1-70B-Instruct"), STAGING_SECRETS
    )
    with pytest.raises(SettingsError) as refused:
        resolve(settings, "llmdeploy")
    (line,) = refused.value.problems
    assert line.startswith("llmdeploy:instanceType: found 'g5.xlarge'; accepted: an instance type whose GPUs")


# ---------------------------------------------------------------------------
# What the spec decides


def test_prod_spec_chooses_max_model_len_grace_volume_and_names() -> None:
    spec = prod_spec()
    # Unset maxModelLen: Qwen2.5-7B's own 32768 fits a g5.xlarge, so it is chosen.
    assert spec.max_model_len == 32768 == spec.capacity.max_model_len
    assert spec.capacity.max_model_len_chosen
    assert isinstance(spec.engine_options, VllmOptions) and spec.engine_options.max_model_len == 32768
    assert spec.group_name == "llmdeploy-prod-vllm"
    assert spec.metrics.log_group == "/llmdeploy/prod/vllm-metrics"
    assert spec.api_key_secret_name == "llmdeploy/prod/vllm-api-key"
    assert spec.hf_token_secret_name is None
    assert spec.root_volume_gib == root_volume_gib(spec.settings.gpu, image_gib=ENGINE_IMAGE_GIB["vllm"])
    assert spec.root_device_name == "/dev/xvda"
    assert spec.health_check_grace_seconds >= 600
    assert "--max-model-len 32768" in spec.user_data
    assert spec.user_data.startswith("#!/bin/bash")

    named = load_stack("gpu-eu", prod_config(kind="prod"), {"llmdeploy:apiKey"}, project="acme")
    assert isinstance(named, ProdSpec) and named.group_name == "acme-gpu-eu-vllm"
    assert named.api_key_secret_name == "llmdeploy/gpu-eu/vllm-api-key"


def test_prod_spec_takes_what_is_set() -> None:
    spec = prod_spec(maxModelLen="8192", healthCheckGraceSeconds="1800", rootVolumeGib="300")
    assert (spec.max_model_len, spec.health_check_grace_seconds, spec.root_volume_gib) == (8192, 1800, 300)
    assert not spec.capacity.max_model_len_chosen


def test_staging_spec() -> None:
    spec = load_stack("staging", staging_config(rootVolumeGib="150"), STAGING_SECRETS, project="llmdeploy")
    assert isinstance(spec, StagingSpec)
    assert spec.root_volume_gib == 150 and spec.hf_token_secret_name is None
    assert spec.capacity.estimate is not None and spec.capacity.estimate.max_model_len == 8192
    assert spec.capacity.request.engine == "tgi"


def test_dev_spec() -> None:
    spec = load_stack("dev", {"llmdeploy:model": "llama3.2:1b"}, project="llmdeploy")
    assert isinstance(spec, DevSpec) and spec.settings.model == "llama3.2:1b"


def test_the_planner_reads_no_token_and_no_network() -> None:
    spec = prod_spec(hfToken="[secret]")
    request = spec.capacity.request
    assert request.hf_token is None and request.allow_network is False


def test_a_model_neither_bundled_nor_cached_is_unknown_with_the_command_that_caches_it(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMDEPLOY_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("HF_HUB_OFFLINE")  # even with the hub allowed, resolve stays offline
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    spec = prod_spec(model="acme/private-model", maxModelLen="8192")
    output = spec.capacity.output()
    assert output["verdict"] == (
        "unknown: cache the model's config.json with `llmdeploy models fetch acme/private-model`"
    )
    assert spec.capacity.unknown is not None
    # Unset, maxModelLen cannot be chosen: a settings line, naming the same command.
    with pytest.raises(SettingsError) as refused:
        prod_spec(model="acme/private-model")
    (line,) = refused.value.problems
    assert line.startswith("llmdeploy:maxModelLen: found nothing, and the capacity planner cannot size")
    assert "`llmdeploy models fetch acme/private-model`" in line


# ---------------------------------------------------------------------------
# Capacity computed once per program run


# The program runs in its own process: a wrapper program counts there, in a file, every call the
# stack's own __main__ makes (the resolve step's import and the one assess_fleet_capacity calls).
COUNTING_PROGRAM = """
import runpy

import llmdeploy.core.capacity as capacity_module
import stacks.resolve as resolve_module

assess = capacity_module.assess_capacity


def counting(request):
    with open({calls!r}, "a") as calls:
        calls.write(request.instance_type + "\\n")
    return assess(request)


resolve_module.assess_capacity = counting
capacity_module.assess_capacity = counting
runpy.run_path({main!r}, run_name="__main__")
"""


def _capacity_calls(tmp_path: Path, stack: str, **run: Any) -> list[str]:
    program = tmp_path / stack
    program.mkdir()
    for name in ("Pulumi.yaml", f"Pulumi.{stack}.yaml"):
        shutil.copy(REPO / name, program / name)
    calls = tmp_path / f"{stack}-calls.txt"
    calls.touch()
    (program / "__main__.py").write_text(
        COUNTING_PROGRAM.format(calls=str(calls), main=str(REPO / "__main__.py"))
    )
    result = run_stack(stack, program, **run)
    assert of_type(result, "aws:ec2/launchTemplate:LaunchTemplate") or of_type(
        result, "aws:ec2/instance:Instance"
    ), f"the {stack} program ran: {result.ending}"
    return calls.read_text().splitlines()


def test_a_program_run_assesses_capacity_once(tmp_path: Path) -> None:
    prod = _capacity_calls(tmp_path, "prod", secrets={"apiKey": API_KEY})
    assert len(prod) == 1, f"capacity assessed {len(prod)} times in one run: {prod}"
    staging = _capacity_calls(tmp_path, "staging")
    assert len(staging) == 1, f"capacity assessed {len(staging)} times in one run: {staging}"


def test_the_user_data_launched_is_the_spec_s() -> None:
    run = run_stack("prod", REPO, secrets={"apiKey": API_KEY})
    (template,) = of_type(run, "aws:ec2/launchTemplate:LaunchTemplate")
    launched = base64.b64decode(str(template.inputs["userData"])).decode()
    values = {key: str(value) for key, value in _stack_file_config("prod").items()}
    spec = load_stack("prod", values, {"llmdeploy:apiKey", "llmdeploy:hfToken"}, project="llmdeploy")
    assert isinstance(spec, ProdSpec) and launched == spec.user_data


def _stack_file_config(stack: str) -> dict[str, str]:
    from llmdeploy.cli.mockrun import read_project, read_stack_config

    return read_stack_config(REPO, read_project(REPO), stack).values


# ---------------------------------------------------------------------------
# One list of stack kinds


def test_every_stack_kind_has_settings_and_the_aws_kinds_are_among_them() -> None:
    assert tuple(SETTINGS_BY_KIND) == STACK_KINDS
    assert set(AWS_STACK_KINDS) < set(STACK_KINDS)
    with pytest.raises(SettingsError) as refused:
        load_settings("qa", {"llmdeploy:model": "x"})
    assert refused.value.problems[0].endswith(
        "accepted: one of dev, staging, prod (set `pulumi config set kind prod`, or name the stack after its kind)"
    )
