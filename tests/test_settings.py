"""Settings: every rejection names the key, the value found and what is accepted, in one line."""

from __future__ import annotations

import pytest

from stacks.settings import DevSettings, SettingsError, load_settings
from tests.conftest import full_keys


def problems_for(stack: str = "dev", secret_keys: set[str] | None = None, **config: object) -> list[str]:
    values = full_keys({"model": "llama3.2:1b", **config})
    with pytest.raises(SettingsError) as caught:
        load_settings(stack, values, {f"llmdeploy:{k}" for k in (secret_keys or set())})
    for line in caught.value.problems:
        assert "\n" not in line and "Traceback" not in line
    return caught.value.problems


def test_valid_dev_settings_take_documented_defaults() -> None:
    settings = load_settings("dev", full_keys({"model": "llama3.2:1b"}))
    assert isinstance(settings, DevSettings)
    assert settings.bind_address == "127.0.0.1"
    assert settings.host_port == 11434
    assert settings.image_reference == "ollama/ollama:0.32.13"
    assert settings.models == ["llama3.2:1b"]


def test_config_values_arrive_as_strings_and_json() -> None:
    settings = load_settings(
        "dev", full_keys({"model": "m", "numParallel": "4", "gpu": "true", "extraModels": ["a", "m", "b"]})
    )
    assert isinstance(settings, DevSettings)
    assert settings.num_parallel == 4 and settings.gpu is True
    assert settings.models == ["m", "a", "b"]


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (
            {"numParalel": 2},
            "llmdeploy:numParalel: found an unknown key (did you mean llmdeploy:numParallel?)",
        ),
        ({"numParallel": "lots"}, "llmdeploy:numParallel: found 'lots'; accepted: an integer"),
        ({"numParallel": 0}, "llmdeploy:numParallel: found '0'; accepted: a number greater than 0"),
        (
            {"contextLength": -4096},
            "llmdeploy:contextLength: found '-4096'; accepted: a number greater than 0",
        ),
        ({"hostPort": 70000}, "llmdeploy:hostPort: found '70000'; accepted: a number of at most 65535"),
        ({"engine": "llamacpp"}, "llmdeploy:engine: found 'llamacpp'; accepted: one of 'ollama'"),
        ({"engine": "vllm"}, "llmdeploy:engine: found 'vllm'; accepted: one of 'ollama'"),
        ({"bindAddress": "localhost"}, "llmdeploy:bindAddress: found 'localhost'; accepted: an IP address"),
        ({"keepAlive": "five minutes"}, "llmdeploy:keepAlive: found 'five minutes'; accepted: a duration"),
        ({"gpu": "maybe"}, "llmdeploy:gpu: found 'maybe'; accepted: true or false"),
        (
            {"restart": "sometimes"},
            "llmdeploy:restart: found 'sometimes'; accepted: one of 'no', 'on-failure'",
        ),
        ({"extraModels": "llama3"}, "llmdeploy:extraModels: found 'llama3'; accepted: a list"),
        ({"httpsProxy": "proxy:3128"}, "llmdeploy:httpsProxy: found 'proxy:3128'; accepted: a proxy URL"),
    ],
)
def test_each_bad_value_gives_one_line(config: dict, expected: str) -> None:
    problems = problems_for(**config)
    assert len(problems) == 1, problems
    assert problems[0].startswith(expected), problems[0]


def test_missing_model_is_named_with_what_it_is() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings("dev", {})
    assert caught.value.problems == [
        "llmdeploy:model: found nothing; accepted: a value (required): The model to serve, as the engine names it."
    ]


def test_several_problems_give_one_line_each() -> None:
    problems = problems_for(numParallel=0, hostPort=0, colour="blue")
    assert len(problems) == 3
    assert {p.split(":")[1] for p in problems} == {"numParallel", "hostPort", "colour"}


def test_secret_values_are_never_echoed(canary: str) -> None:
    problems = problems_for(httpsProxy=canary, secret_keys={"httpsProxy"})
    assert problems == [
        "llmdeploy:httpsProxy: found [secret]; accepted: a proxy URL such as http://proxy.internal:3128"
    ]
    assert canary not in "".join(problems)


def test_secret_keys_are_remembered_for_the_stack() -> None:
    settings = load_settings(
        "dev", full_keys({"model": "m", "httpsProxy": "http://u:p@proxy:3128"}), {"llmdeploy:httpsProxy"}
    )
    assert settings.is_secret("https_proxy")
    assert not settings.is_secret("model")


def test_stack_kind_defaults_to_stack_name_and_rejects_others() -> None:
    assert load_settings("laptop", full_keys({"model": "m", "kind": "dev"})).kind == "dev"
    assert problems_for("laptop") == [
        "llmdeploy:kind: found nothing, and the stack name 'laptop' is not a stack kind; accepted: one of "
        "dev, staging, prod (set `pulumi config set kind prod`, or name the stack after its kind)"
    ]
    assert problems_for(kind="qa") == ["llmdeploy:kind: found 'qa'; accepted: one of dev, staging, prod"]


def test_other_namespaces_belong_to_providers() -> None:
    settings = load_settings(
        "dev", {**full_keys({"model": "m"}), "docker:host": "unix:///var/run/docker.sock"}
    )
    assert settings.model == "m"


def test_dev_allows_an_unpinned_image_but_says_it_is_the_users_choice() -> None:
    # Pinning is enforced for staging and prod; on a laptop `latest` is a developer's call.
    settings = load_settings("dev", full_keys({"model": "m", "image": "ollama/ollama:latest"}))
    assert isinstance(settings, DevSettings)
    assert settings.image_reference == "ollama/ollama:latest"


def test_names_derived_from_the_stack_are_the_same_outside_the_program() -> None:
    # `llmdeploy preflight` reads settings outside any Pulumi program: the secret it looks
    # for must be the one the program creates for that stack.
    from pathlib import Path

    from llmdeploy.cli.mockrun import read_project, read_stack_config

    program = Path(__file__).resolve().parent / "programs" / "staging"
    config = read_stack_config(program, read_project(program), "staging")
    values = {**config.values, "llmdeploy:kind": "staging", "llmdeploy:hfToken": "hf_" + "x" * 34}
    settings = load_settings("staging-eu", values, {"llmdeploy:hfToken", *config.secret_keys})
    assert settings.stack_name == "staging-eu"
    assert settings.hf_token_secret_name == "llmdeploy/staging-eu/hf-token"  # type: ignore[attr-defined]
