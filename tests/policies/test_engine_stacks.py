"""Every engine on staging: the repository's program with `engine: tgi`, `vllm` and `sglang` plans
under the mock monitor and goes through the policy pack (the real pack process).

Staging has no load balancer, and vLLM and SGLang answer some paths without a key (vLLM
/invocations, /tokenize, /metrics; SGLang /metrics): their port is published on the host's loopback
only, and an nginx proxy on the API port forwards the OpenAI path and /health alone, so
apiAllowedCidrs reach no unguarded path and engine-port-only-from-load-balancer passes."""

from __future__ import annotations

import shlex

import pytest

from llmdeploy.cli.check import CheckResult, PolicyPackProcess, read_policy_config
from llmdeploy.cli.mockrun import run_program
from tests.policies.conftest import PACK_DIR
from tests.support import inputs, one
from tests.test_engines_sglang import parse
from tests.test_staging_stack import STAGING_BASE

INSTANCE = "aws:ec2/instance:Instance"
# Staging's own policy levels: everything mandatory but model-revision-pinned (advice).
STAGING_LEVELS = read_policy_config(PACK_DIR / "config" / "staging.json")


def mandatory(result: CheckResult) -> list[tuple[str, str]]:
    return sorted(
        {(v.policy, v.urn.rsplit("::", 1)[-1]) for v in result.violations if v.level == "mandatory"}
    )


def docker_run(engine: str, **config: str) -> tuple[list[str], object]:
    values = {"llmdeploy:engine": engine, **{f"llmdeploy:{k}": v for k, v in config.items()}}
    run = run_program(STAGING_BASE, "staging", config=values)
    user_data = str(inputs(one(run, INSTANCE))["userData"])
    lines = [
        line
        for line in user_data.splitlines()
        if line.startswith("exec docker run ") and "--name llmdeploy-proxy " not in line
    ]
    assert len(lines) == 1, lines
    return shlex.split(lines[0].removeprefix("exec ")), run


@pytest.mark.parametrize("engine", ["tgi", "vllm", "sglang"])
def test_staging_with_each_engine_and_api_cidrs_passes_the_pack(pack: PolicyPackProcess, engine: str) -> None:
    _, run = docker_run(engine)
    result = pack.check(run, STAGING_LEVELS, "staging.json")
    assert mandatory(result) == []
    # No modelRevision: advised, and nothing else.
    assert {(v.policy, v.level) for v in result.violations} == {("model-revision-pinned", "advisory")}


def test_the_pack_still_reports_vllm_published_on_every_interface(pack: PolicyPackProcess) -> None:
    """Not a pass for want of looking: the same program with the engine's port on all interfaces."""
    _, run = docker_run("vllm")
    for resource in run.resources:
        if resource.type == INSTANCE:
            user_data = resource.inputs.fields["userData"]
            text = user_data.string_value.replace("-p 127.0.0.1:8000:8000", "-p 0.0.0.0:8080:8000")
            assert text != user_data.string_value
            user_data.string_value = text
    result = pack.check(run, STAGING_LEVELS, "staging.json")
    assert mandatory(result) == [("engine-port-only-from-load-balancer", "tgi-instance")]


def test_staging_with_another_engine_and_no_api_cidrs_passes_the_whole_pack(pack: PolicyPackProcess) -> None:
    """Reached only through SSM port forwarding (no API CIDRs, metrics by security group): clean."""
    for engine in ("vllm", "sglang"):
        _, run = docker_run(engine, apiAllowedCidrs="[]", monitoringCidrs="[]", modelRevision="a" * 40)
        result = pack.check(run, STAGING_LEVELS, "staging.json")
        assert [(v.policy, v.urn) for v in result.violations] == [], engine


def test_staging_sglang_runs_the_catalogues_command_with_host_ipc_and_its_port() -> None:
    argv, _ = docker_run("sglang", modelRevision="a" * 40, servedModelName="qwen")
    image_at = next(i for i, word in enumerate(argv) if word.startswith("lmsysorg/sglang:"))
    assert "--ipc=host" in argv[:image_at] and "--shm-size" not in argv[:image_at]
    # On loopback only: the proxy on 8080 is the way in.
    assert argv[argv.index("-p") + 1] == "127.0.0.1:30000:30000"
    # The key reaches --api-key inside the container, from the env file.
    assert argv[image_at + 1 : image_at + 3] == ["sh", "-c"] and "--env-file" in argv[:image_at]
    inner = shlex.split(argv[image_at + 3])
    assert inner[0] == "exec"
    parsed = parse(inner[1:])  # every flag is one of SGLang's
    assert parsed.api_key == "$LLMDEPLOY_API_KEY"
    assert parsed.revision == "a" * 40 and parsed.served_model_name == "qwen"
    assert parsed.context_length == "8192" and parsed.enable_metrics


def test_staging_vllm_takes_the_context_and_batch_from_the_engine_neutral_keys() -> None:
    argv, _ = docker_run("vllm", maxTotalTokens="4096", maxInputTokens="2048", maxConcurrentRequests="16")
    assert argv[argv.index("--max-model-len") + 1] == "4096"
    assert argv[argv.index("--max-num-seqs") + 1] == "16"
    assert "--ipc=host" in argv and argv[argv.index("-p") + 1] == "127.0.0.1:8000:8000"
