"""Every engine on prod: the repository's program with `engine: vllm`, `sglang` and `tgi` plans under
the mock monitor (with the test double for the AWS provider's computed values) and passes our pack
(the real pack process) and AWSGuard but for its written-down exceptions.

Beside the pack, what each engine must get from the catalogue: the ALB forwards the engine's OpenAI
path and health only, scaling and the queue alarm track the engine's own queue-depth series, and the
engine runs with its API key read at boot from Secrets Manager (never in the user data).
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator

import pytest

from llmdeploy.cli.check import PolicyPackProcess, stack_policy_config
from llmdeploy.cli.mockrun import ProgramRun
from llmdeploy.core.engines import API_KEY_VARIABLE, ENGINES
from llmdeploy.core.metrics import ENGINE_METRICS
from tests.policies.conftest import PACK_DIR
from tests.policies.test_awsguard import AWSGUARD_DIR
from tests.support import inputs, of_type, one, plaintext_strings
from tests.test_engines_sglang import parse
from tests.test_prod_stack import (
    ALARM,
    ASG,
    CANARY_API_KEY,
    CERT,
    LAUNCH_TEMPLATE,
    POLICY,
    docker_run_line,
    prod,
    refusal,
    user_data,
)

PROD_ENGINES = ("vllm", "sglang", "tgi")
REVISION = "a" * 40


@pytest.fixture(scope="module")
def runs() -> dict[str, ProgramRun]:
    return {
        engine: prod(engine=engine, modelRevision=REVISION, certificateArn=CERT, allowPlainHttp="false")
        for engine in PROD_ENGINES
    }


@pytest.fixture(scope="module")
def awsguard() -> Iterator[PolicyPackProcess]:
    assert (AWSGUARD_DIR / "node_modules").is_dir(), "AWSGuard is not installed: run `make awsguard`"
    with PolicyPackProcess(AWSGUARD_DIR, project="llmdeploy", stack="test") as running:
        yield running


@pytest.mark.parametrize("engine", PROD_ENGINES)
def test_prod_with_each_engine_passes_our_pack(
    pack: PolicyPackProcess, runs: dict[str, ProgramRun], engine: str
) -> None:
    config, source = stack_policy_config(PACK_DIR, "prod")
    result = pack.check(runs[engine], config, source)
    assert [(v.policy, v.urn, v.message) for v in result.violations] == []


@pytest.mark.e2e
@pytest.mark.parametrize("engine", PROD_ENGINES)
def test_prod_with_each_engine_passes_awsguard_but_its_written_down_exceptions(
    awsguard: PolicyPackProcess, runs: dict[str, ProgramRun], engine: str
) -> None:
    config, source = stack_policy_config(AWSGUARD_DIR, "prod")
    result = awsguard.check(runs[engine], config, source)
    assert result.mandatory == [], "\n".join(f"{v.policy} {v.urn}: {v.message}" for v in result.mandatory)
    for violation in result.violations:
        assert violation.policy in result.reasons, f"{violation.policy} reported with no written reason"


@pytest.mark.parametrize("engine", PROD_ENGINES)
def test_the_alb_forwards_only_the_engines_openai_path_and_health(
    runs: dict[str, ProgramRun], engine: str
) -> None:
    entry = ENGINES[engine]
    run = runs[engine]
    rule = inputs(one(run, "aws:lb/listenerRule:ListenerRule", "api-forward"))
    assert rule["conditions"] == [{"pathPattern": {"values": [f"{entry.openai_path}/*", entry.health_path]}}]
    group = inputs(one(run, "aws:lb/targetGroup:TargetGroup"))
    assert group["port"] == entry.container_port
    assert group["healthCheck"]["path"] == entry.health_path
    # The engine's port takes the load balancer's group only; monitoring gets the collector's port
    # (and TGI's own metrics listener, which serves no inference).
    api_rules = [
        inputs(r)
        for r in of_type(run, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
        if inputs(r)["securityGroupId"] == "sg-vllm-sg" and inputs(r)["fromPort"] == entry.container_port
    ]
    assert api_rules and all("referencedSecurityGroupId" in r and "cidrIpv4" not in r for r in api_rules)


@pytest.mark.parametrize("engine", PROD_ENGINES)
def test_scaling_and_the_queue_alarm_track_the_engines_queue_depth(
    runs: dict[str, ProgramRun], engine: str
) -> None:
    run = runs[engine]
    queue_depth = ENGINE_METRICS[engine].queue_depth
    group = inputs(one(run, ASG))["name"]
    assert group == f"llmdeploy-prod-{engine}"
    metric = inputs(one(run, POLICY))["targetTrackingConfiguration"]["customizedMetricSpecification"]
    assert (metric["namespace"], metric["metricName"]) == (f"llmdeploy/{engine}", queue_depth)
    alarms = {inputs(a)["name"].removeprefix(f"{group}-"): inputs(a) for a in of_type(run, ALARM)}
    assert alarms["queue-depth"]["metricName"] == queue_depth
    # The instance's collector scrapes that series from the engine's own metrics endpoint and sends it
    # (awsemf, RE2's end of text `\z`) into the same namespace.
    script = user_data(run)
    entry = ENGINES[engine]
    assert json.dumps(f"^{re.escape(queue_depth)}\\z") in script
    assert f'"127.0.0.1:{entry.metrics_port}"' in script and f'"llmdeploy/{engine}"' in script


@pytest.mark.parametrize("engine", PROD_ENGINES)
def test_the_engine_runs_with_its_api_key_from_the_secret(runs: dict[str, ProgramRun], engine: str) -> None:
    entry = ENGINES[engine]
    run = runs[engine]
    script = user_data(run)
    variable = entry.api_key_env or API_KEY_VARIABLE
    assert f"fetch_secret {variable} llmdeploy/prod/vllm-api-key" in script
    argv = docker_run_line(run)
    image_at = argv.index(entry.image())
    assert "--env-file" in argv[:image_at]
    if entry.api_key_flag:
        # A flag-only engine reads the variable inside the container; the flag parses as SGLang's.
        assert argv[image_at + 1 : image_at + 3] == ["sh", "-c"]
        inner = shlex.split(argv[image_at + 3])
        assert inner[0] == "exec" and inner[-2:] == [entry.api_key_flag, f"${API_KEY_VARIABLE}"]
        assert parse(inner[1:]).api_key == f"${API_KEY_VARIABLE}"
    # The key itself is nowhere in plain text: not in the user data, not in any input or output.
    assert CANARY_API_KEY not in script
    assert not [s for s in plaintext_strings(run) if CANARY_API_KEY in s]


@pytest.mark.parametrize(
    ("engine", "key", "value"),
    [
        ("sglang", "modelSource", "s3://models/llama"),
        ("tgi", "modelSource", "s3://models/llama"),
        ("sglang", "generationConfig", "auto"),
        ("tgi", "gpuMemoryUtilization", "0.8"),
        ("sglang", "maxNumBatchedTokens", "8192"),
        ("sglang", "shutdownTimeout", "60"),
    ],
)
def test_settings_only_vllm_has_are_refused_for_the_others_with_one_line(
    engine: str, key: str, value: str
) -> None:
    message = refusal(engine=engine, **{key: value})
    lines = [line for line in message.splitlines() if line.strip()]
    assert len(lines) == 1, message
    assert (
        lines[0].startswith(f"llmdeploy:{key}: found ") and f"with engine '{engine}'; accepted: " in lines[0]
    )


def test_tgi_drains_for_the_shutdown_timeout_and_the_target_group_waits_for_it() -> None:
    run = prod(engine="tgi", shutdownTimeout="200")
    argv = docker_run_line(run)
    assert argv[argv.index("--graceful-termination-timeout") + 1] == "200"
    assert inputs(one(run, "aws:lb/targetGroup:TargetGroup"))["deregistrationDelay"] == 200
    assert "docker stop --time 210" in user_data(run)
    # TGI's own metrics listener is published for the collector and monitoring.
    assert "9000:9000" in argv
    assert one(run, LAUNCH_TEMPLATE)
