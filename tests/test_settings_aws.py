"""AwsSettings and StagingSettings: defaults, and one clear line per bad value."""

from __future__ import annotations

import pytest
from pydantic import ValidationError, model_validator
from pydantic_core import PydanticCustomError

from stacks.settings import (
    DLAMI_PARAMETER,
    SettingsError,
    StagingSettings,
    StrictSettings,
    _lines_from,
    hf_token_secret_name_for,
    load_settings,
)

CANARY = "hf_" + "Qm4" * 11 + "z"

BASE = {"llmdeploy:model": "Qwen/Qwen2.5-0.5B-Instruct", "llmdeploy:instanceType": "g5.xlarge"}


# Staging requires an API key (a secret); every test here gives one unless it says otherwise.
API_KEY = "sk-settings-test-" + "k" * 16


def staging(secret_keys: frozenset[str] = frozenset(), **config: str) -> StagingSettings:
    values = {
        **BASE,
        "llmdeploy:apiKey": API_KEY,
        **{f"llmdeploy:{key}": value for key, value in config.items()},
    }
    settings = load_settings("staging", values, {f"llmdeploy:{key}" for key in {*secret_keys, "apiKey"}})
    assert isinstance(settings, StagingSettings)
    return settings


def refusal(secret_keys: frozenset[str] = frozenset(), **config: str) -> str:
    with pytest.raises(SettingsError) as caught:
        staging(secret_keys, **config)
    return str(caught.value)


def test_defaults_are_the_secure_ones() -> None:
    settings = staging()
    assert settings.kind == "staging" and settings.engine == "tgi"
    assert settings.ami_parameter == DLAMI_PARAMETER
    assert settings.ami_parameter.startswith("/aws/service/deeplearning/ami/x86_64/")
    assert settings.api_allowed_cidrs == [], "no 0.0.0.0/0 by default"
    assert settings.monitoring_cidrs == [] and settings.monitoring_security_group_id is None
    assert settings.nat_gateway is False and settings.vpc_endpoints is False
    assert settings.shm_size == "1g" and settings.shm_size_bytes == 1024**3
    assert settings.max_concurrent_requests == 128 and settings.api_port == 8080
    assert settings.image_reference == "ghcr.io/huggingface/text-generation-inference:3.3.7"
    assert settings.hf_token is None and settings.hf_token_secret_name is None
    assert settings.gpu.gpu_count == 1


def test_the_token_is_a_secret_and_its_name_comes_from_project_and_stack() -> None:
    settings = staging(frozenset({"hfToken"}), hfToken=CANARY, modelNeedsToken="true")
    assert settings.hf_token is not None and settings.hf_token.get_secret_value() == CANARY
    assert CANARY not in repr(settings) and CANARY not in str(settings)
    assert hf_token_secret_name_for("llmdeploy", "staging") == "llmdeploy/staging/hf-token"


@pytest.mark.parametrize(
    ("config", "line"),
    [
        (
            {"instanceType": "t3.large"},
            "llmdeploy:instanceType: found 't3.large'; accepted: a GPU instance type from the catalogue "
            "(nearest: g5.xlarge, g6.xlarge, g5.2xlarge)",
        ),
        (
            {"modelNeedsToken": "true"},
            "llmdeploy:hfToken: found nothing, while llmdeploy:modelNeedsToken is true; accepted: the "
            "Hugging Face token as a secret: pulumi config set --secret hfToken hf_...",
        ),
        (
            {"image": "ghcr.io/huggingface/text-generation-inference:latest"},
            "llmdeploy:image: found 'ghcr.io/huggingface/text-generation-inference:latest'; accepted: an "
            "image pinned by a version tag or a digest (not `latest`, not untagged)",
        ),
        (
            {"shmSize": "512m"},
            "llmdeploy:shmSize: found '512m'; accepted: a Docker size of at least 1g, such as 1g or 8g",
        ),
        (
            {"shmSize": "lots"},
            "llmdeploy:shmSize: found 'lots'; accepted: a Docker size of at least 1g, such as 1g or 8g",
        ),
        (
            {"maxInputTokens": "8192", "maxTotalTokens": "8192"},
            "llmdeploy:maxInputTokens: found 8192 with llmdeploy:maxTotalTokens 8192; accepted: fewer "
            "tokens than llmdeploy:maxTotalTokens (the prompt plus one generated token)",
        ),
        (
            {"vpcId": "vpc-0123456789abcdef0", "publicSubnetIds": '["subnet-0123456789abcdef0"]'},
            "llmdeploy:privateSubnetIds: found nothing, while llmdeploy:vpcId, llmdeploy:publicSubnetIds "
            "are set; accepted: vpcId, publicSubnetIds and privateSubnetIds all together (your own "
            "network) or none of them (llmdeploy creates one)",
        ),
        (
            {
                "vpcId": "vpc-0123456789abcdef0",
                "publicSubnetIds": '["subnet-0123456789abcdef0"]',
                "privateSubnetIds": '["subnet-0123456789abcdef1"]',
                "natGateway": "true",
            },
            "llmdeploy:natGateway: found true while llmdeploy:vpcId is set; accepted: this key only with "
            "a network llmdeploy creates (leave it out with your own VPC)",
        ),
        (
            {"quantize": "int3"},
            "llmdeploy:quantize: found 'int3'; accepted: one of 'awq', 'compressed-tensors', 'eetq', "
            "'exl2', 'gptq', 'marlin', 'bitsandbytes', 'bitsandbytes-nf4', 'bitsandbytes-fp4' or 'fp8'",
        ),
        (
            {"instanceType": "g5.12xlarge", "quantize": "exl2"},
            "llmdeploy:quantize: found 'exl2' on g5.12xlarge (4 GPUs); accepted: another method, or a "
            "one-GPU instance type (TGI's exl2 does not support num_shard > 1)",
        ),
        (
            {"apiAllowedCidrs": '["10.0.0.1/8"]'},
            "llmdeploy:apiAllowedCidrs.0: found '10.0.0.1/8'; accepted: an IPv4 CIDR block such as "
            "203.0.113.0/24",
        ),
        (
            {"monitoringSecurityGroupId": "default"},
            "llmdeploy:monitoringSecurityGroupId: found 'default'; accepted: an id such as "
            "sg-0123456789abcdef0",
        ),
        (
            {"apiPort": "9000"},
            "llmdeploy:apiPort: found 9000; accepted: a port other than 9000 (TGI's metrics listener, on "
            "loopback for the collector) and 4317, 9464",
        ),
        (
            {"apiPort": "9464", "engine": "vllm"},
            "llmdeploy:apiPort: found 9464; accepted: a port other than 9464 (the collector's Prometheus "
            "port, which monitoring scrapes) and 4317, 8000",
        ),
        (
            {"publicAddress": "false"},
            "llmdeploy:publicAddress: found false with llmdeploy:natGateway false; accepted: true, or "
            "natGateway true: a private instance needs a way out to ghcr.io and the Hugging Face hub",
        ),
        (
            {"rootVolumeGib": "50"},
            "llmdeploy:rootVolumeGib: found 50; accepted: at least 75 (the DLAMI's root snapshot size)",
        ),
        (
            {"availabilityZones": '["us-east-1a"]'},
            'llmdeploy:availabilityZones: found ["us-east-1a"]; accepted: at least two different '
            "availability zones, or none",
        ),
        (
            {"maxConcurrentRequests": "0"},
            "llmdeploy:maxConcurrentRequests: found '0'; accepted: a number greater than 0",
        ),
    ],
)
def test_each_bad_setting_is_one_line_naming_key_value_and_what_is_accepted(
    config: dict[str, str], line: str
) -> None:
    assert refusal(**config) == line


def test_a_plaintext_token_is_refused_without_showing_it() -> None:
    message = refusal(hfToken=CANARY)
    assert message == (
        "llmdeploy:hfToken: found a plaintext value ([secret] not shown); accepted: a secret, set with "
        "`pulumi config set --secret hfToken ...`"
    )


def test_a_malformed_token_is_refused_without_showing_it() -> None:
    message = refusal(frozenset({"hfToken"}), hfToken=CANARY + " trailing")
    assert CANARY not in message
    assert message == "llmdeploy:hfToken: found [secret]; accepted: a token with no spaces or newlines"


def test_partial_network_with_only_a_vpc_names_the_first_missing_key() -> None:
    assert refusal(vpcId="vpc-0123456789abcdef0").startswith(
        "llmdeploy:publicSubnetIds: found nothing, while llmdeploy:vpcId is set;"
    )


def test_a_full_bring_your_own_network_is_accepted() -> None:
    settings = staging(
        vpcId="vpc-0123456789abcdef0",
        publicSubnetIds='["subnet-0123456789abcdef0"]',
        privateSubnetIds='["subnet-0123456789abcdef1"]',
        publicAddress="false",
    )
    assert settings.bring_your_own_network


def test_a_validator_with_several_problems_gives_one_line_each() -> None:
    # The capacity validators join the planner's lines with newlines; each becomes its own problem.
    class TwoProblems(StrictSettings):
        size: int = 1

        @model_validator(mode="after")
        def _check(self) -> TwoProblems:
            lines = ["llmdeploy:a: found 1; accepted: 2", "llmdeploy:b: found 3; accepted: 4"]
            raise PydanticCustomError("setting", "{line}", {"line": "\n".join(lines)})

    with pytest.raises(ValidationError) as caught:
        TwoProblems.model_validate({})
    assert _lines_from(caught.value, {}, TwoProblems, set()) == [
        "llmdeploy:a: found 1; accepted: 2",
        "llmdeploy:b: found 3; accepted: 4",
    ]
