"""The served name: derived from the model by default; one that names another model is reported."""

from __future__ import annotations

import pytest

from llmdeploy.core.served_name import default_served_name, served_name_matches, served_name_warning
from tests.test_prod_stack import prod
from tests.test_staging_stack import staging


@pytest.mark.parametrize(
    ("model", "served"),
    [
        ("meta-llama/Llama-3.1-8B-Instruct", "llama-3.1-8b-instruct"),
        ("Qwen/Qwen2.5-7B-Instruct", "qwen2.5-7b-instruct"),
        ("Qwen/Qwen2.5-7B-Instruct", "Qwen/Qwen2.5-7B-Instruct"),
        ("Qwen/Qwen2.5-7B-Instruct", "qwen2.5-7b"),
    ],
)
def test_names_of_the_model_match(model: str, served: str) -> None:
    assert served_name_matches(model, served)
    assert served_name_warning(model, served, "k") is None


@pytest.mark.parametrize(
    ("model", "served"),
    [
        ("Qwen/Qwen2.5-7B-Instruct", "llama-3.1-8b-instruct"),
        ("meta-llama/Llama-3.1-70B-Instruct", "llama-3.1-8b-instruct"),
        ("mistralai/Mistral-7B-Instruct-v0.3", "gpt-4o"),
    ],
)
def test_names_of_another_model_are_reported(model: str, served: str) -> None:
    line = served_name_warning(model, served, "llmdeploy:servedModelName")
    assert line is not None and served in line and model in line
    assert default_served_name(model) in line


def test_default_is_the_repo_name_in_lower_case() -> None:
    assert default_served_name("meta-llama/Llama-3.1-8B-Instruct") == "llama-3.1-8b-instruct"


def test_prod_plan_warns_when_the_model_changes_under_a_pinned_served_name() -> None:
    """The issue's drift: `model` changed, the example's servedModelName kept."""
    run = prod(model="Qwen/Qwen2.5-7B-Instruct", servedModelName="llama-3.1-8b-instruct")
    warnings = [message for level, message in run.log if level == "warning"]
    assert any("servedModelName" in w and "llama-3.1-8b-instruct" in w for w in warnings), run.log


def test_prod_plan_without_a_served_name_serves_the_derived_one_and_warns_nothing() -> None:
    run = prod()
    assert not [m for level, m in run.log if "servedModelName" in m]
    assert run.outputs["model"] == "qwen2.5-7b-instruct"


def test_staging_vllm_warns_too_but_tgi_ignores_the_name() -> None:
    drift = staging(engine="vllm", servedModelName="llama-3.1-8b-instruct")
    assert any("servedModelName" in m for _, m in drift.log), drift.log
    assert not any("servedModelName" in m for _, m in staging(servedModelName="llama-3.1-8b-instruct").log)
