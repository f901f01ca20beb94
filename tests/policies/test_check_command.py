"""`llmdeploy check`: exit codes, output formats, config handling and the Analyzer driver's plumbing."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import grpc
import pytest
from google.protobuf import json_format, struct_pb2
from llmpolicies.rules.credentials import HF_TOKEN_PATTERN
from pulumi.runtime import rpc
from pulumi.runtime.proto import engine_pb2, engine_pb2_grpc

from llmdeploy import cli
from llmdeploy.cli.check import (
    PolicyConfigError,
    PolicyPackProcess,
    PolicySetting,
    engine_properties,
    parse_policy_config,
    reconcile_config,
    stack_policy_config,
)
from llmdeploy.cli.commands import plan as plan_command
from llmdeploy.cli.masking import HF_TOKEN_SHAPE, Masker
from llmdeploy.cli.mockrun import execute_program, plain_struct, run_program
from tests.policies.conftest import PACK_DIR, REPO
from tests.policies.helpers import CANARY, program_dir, project_name


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(["check", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_dev_stack_passes(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "dev", "--program", str(REPO))
    assert code == 0, f"llmdeploy check dev failed:\n{out}\n{err}"
    assert "[mandatory]" not in out, out
    assert "config/dev.json" in out


def test_staging_stack_passes_and_its_server_is_seen(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = run_cli(capsys, "staging", "--program", str(REPO))
    assert code == 0, f"llmdeploy check staging failed:\n{out}\n{err}"
    assert "[mandatory]" not in out, out
    # The pass is not for want of looking: TGI in the staging user data is found (a heredoc-written start
    # script run by a systemd unit) and a stricter config catches its 1 GiB of shared memory.
    stricter = tmp_path / "stricter.json"
    stricter.write_text(json.dumps({"all": "mandatory", "tgi-shm-size": {"minimumGib": 2}}))
    code, out, err = run_cli(
        capsys, "staging", "--program", str(REPO), "--policy-config", str(stricter), "--format", "json"
    )
    assert code == 1, err
    shm = [item for item in json.loads(out) if item["policy"] == "tgi-shm-size"]
    assert [item["urn"].rsplit("::", 1)[-1] for item in shm] == ["tgi-instance"], shm
    assert "1 GiB (--shm-size 1g)" in shm[0]["message"]


def test_prod_stack_served_over_https_passes_and_its_server_is_seen(pack: PolicyPackProcess) -> None:
    """Prod with a certificate (HTTPS, HTTP redirecting) has no violation at all. (The example
    Pulumi.prod.yaml sets allowPlainHttp instead, which alb-https-only reports.)"""
    https = {
        "llmdeploy:certificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000",
        "llmdeploy:allowPlainHttp": "false",
    }
    run = run_program(REPO, "prod", config=https)
    config, source = stack_policy_config(PACK_DIR, "prod")
    result = pack.check(run, config, source)
    # The example pins no modelRevision (no commit of the gated model is checked here): advice only.
    blocking = [v for v in result.violations if v.policy != "model-revision-pinned"]
    assert blocking == [], "\n".join(f"{v.policy} {v.urn}: {v.message}" for v in blocking)
    assert {v.level for v in result.violations} <= {"advisory"}
    # Not for want of looking: vLLM in the launch template's user data is found, on API port 8000,
    # and with only the load balancer's group allowed there, engine-port-only-from-load-balancer passes.
    from llmpolicies.servers import inference_servers
    from pulumi_policy import PolicyResource
    from pulumi_policy.policy import PolicyCustomTimeouts, PolicyResourceOptions

    template = next(r for r in run.resources if r.name == "vllm-lt")
    # The view a stack policy has of it (what the pack's policies are given).
    options = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])
    as_policy_sees_it = PolicyResource(
        template.type, plain_struct(template.inputs), template.urn, template.name, options, None, None, [], {}
    )
    servers = inference_servers(as_policy_sees_it)
    assert [(s.engine.name, s.api_port) for s in servers] == [("vllm", 8000)], servers
    assert "vLLM (vllm/vllm-openai:" in servers[0].describe()


def test_mandatory_violation_exits_1_with_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(
        capsys, "ci", "--program", str(program_dir("ssh", "violates")), "--format", "json"
    )
    assert code == 1, err
    violations = json.loads(out)
    assert violations, "expected violations in the JSON output"
    assert all(set(item) == {"policy", "urn", "level", "message"} for item in violations), violations
    ssh = [item for item in violations if item["policy"] == "no-ssh-from-internet"]
    assert {item["level"] for item in ssh} == {"mandatory"}  # any stack but dev/staging/prod: all mandatory
    assert any(item["urn"].endswith("aws:ec2/securityGroup:SecurityGroup::inline") for item in ssh), ssh


def test_advisory_only_exits_0(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    config = tmp_path / "policy.json"
    config.write_text(json.dumps({"all": "advisory"}))
    code, out, _ = run_cli(
        capsys, "ci", "--program", str(program_dir("ssh", "violates")), "--policy-config", str(config)
    )
    assert code == 0, out
    assert "[advisory] no-ssh-from-internet" in out
    assert "0 mandatory and 3 advisory violations" in out


def test_text_output_names_policy_resource_and_fix(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "ci", "--program", str(program_dir("lb_idle", "violates")))
    assert code == 1
    assert "[mandatory] lb-idle-timeout-streaming" in out
    assert "urn:pulumi:ci::lb-idle-violates::aws:lb/loadBalancer:LoadBalancer::default-timeout" in out
    assert "set idle_timeout=300 or more" in out


def test_program_that_crashes_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "ci", "--program", str(program_dir("cli", "crashes")))
    assert code == 2
    assert "the program failed to run" in err and "undefined_name" in err, err
    # What it registered before it crashed is still checked (here: nothing that violates).
    assert "No policy violations." in out


def test_program_that_refuses_its_settings_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "ci", "--program", str(program_dir("cli", "refuses")))
    assert code == 1
    assert err.strip() == "cli-refuses:replicas: found 0; accepted: a whole number from 1 to 8", err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("content", "line"),
    [
        (
            '{"no-such-policy": "mandatory"}',
            "no-such-policy: found a policy this pack does not have; accepted: all,",
        ),
        (
            '{"tgi-shm-size": "strict"}',
            'tgi-shm-size: found "strict"; accepted: advisory, mandatory, remediate, disabled',
        ),
        (
            '{"tgi-shm-size": {"minimumGib": "one"}}',
            'tgi-shm-size.minimumGib: found "one"; accepted: a number',
        ),
        ('{"metrics-port-reachable": {"monitoringCidrs": "10.0.0.0/8"}}', "accepted: an array of strings"),
        (
            '{"lb-idle-timeout-streaming": {"minimumSecond": 300}}',
            "minimumSecond: found a property this policy does not have",
        ),
        ("[1, 2]", "found list; accepted: a JSON object keyed by policy name"),
        ("{not json", "not JSON"),
    ],
)
def test_bad_policy_config_says_what_and_exits_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: str, line: str
) -> None:
    config = tmp_path / "policy.json"
    config.write_text(content)
    code, _, err = run_cli(
        capsys, "ci", "--program", str(program_dir("ssh", "satisfies")), "--policy-config", str(config)
    )
    assert code == 2
    assert line in err, err
    assert err.startswith(f"error: {config}: "), err
    assert "Traceback" not in err


def test_canary_secret_never_printed_by_the_command(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI has no flag to inject config: feed the canary the way the CLI feeds a decrypted secret."""
    directory = program_dir("hf_token", "violates")
    key = f"{project_name(directory)}:hfToken"
    monkeypatch.setattr(
        plan_command,
        "execute_program",
        functools.partial(execute_program, config={key: CANARY}, secret_keys=[key]),
    )
    for fmt in ("text", "json"):
        code, out, err = run_cli(capsys, "ci", "--program", str(directory), "--format", fmt)
        assert code == 1, err
        assert "hf-token-secret" in out
        assert CANARY not in out + err, f"the canary leaked in {fmt} output"


def test_missing_pack_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run_cli(
        capsys, "ci", "--program", str(program_dir("ssh", "satisfies")), "--policy-pack", str(tmp_path)
    )
    assert code == 2
    assert "no PulumiPolicy.yaml" in err


# ---------------------------------------------------------------------------
# The driver's parts


def test_properties_go_to_the_pack_as_the_engine_marshals_them() -> None:
    inputs = struct_pb2.Struct()
    inputs.update(
        {
            "plain": "x",
            "secret": {rpc._special_sig_key: rpc._special_secret_sig, "value": "s3cret-value"},
            "output": {rpc._special_sig_key: rpc._special_output_value_sig, "value": "v", "secret": True},
            "unknown": {rpc._special_sig_key: rpc._special_output_value_sig},
            "ref": {
                rpc._special_sig_key: rpc._special_resource_sig,
                "urn": "urn:pulumi:s::p::t::n",
                "id": "",
            },
            "nested": {"__internal": 1, "kept": [1, {"__also": 2}]},
            "__provider": "pickled",
        }
    )
    sent = json_format.MessageToDict(engine_properties(inputs))
    secret = {rpc._special_sig_key: rpc._special_secret_sig}
    assert sent == {
        "plain": "x",
        "secret": {**secret, "value": "s3cret-value"},
        "output": {**secret, "value": "v"},
        "unknown": rpc.UNKNOWN,
        "ref": "urn:pulumi:s::p::t::n",
        "nested": {"kept": [1.0, {}]},
    }


def test_masker_masks_secrets_and_tokens() -> None:
    redact = Masker(["s3cret-value"])
    assert redact(f"a s3cret-value and {CANARY}.") == "a [secret] and [secret]."


@pytest.mark.parametrize("text", [CANARY, f"x {CANARY} y", "hf_" + "a" * 29, "hf_short", "nothf_" + "b" * 40])
def test_the_pack_and_the_masker_see_the_same_token_shape(text: str) -> None:
    """The pack cannot import llmdeploy, so it keeps its own pattern: this keeps the two equal."""
    assert bool(HF_TOKEN_PATTERN.search(text)) == bool(HF_TOKEN_SHAPE.search(text)), text


def test_reconcile_follows_the_cli(pack: PolicyPackProcess) -> None:
    given = parse_policy_config(
        '{"all": "advisory", "tgi-shm-size": {"enforcementLevel": "mandatory", "minimumGib": 2}}', "t"
    )
    result = reconcile_config(pack.info, given, "t")
    assert result["tgi-shm-size"] == PolicySetting("mandatory", {"minimumGib": 2})
    assert result["no-ssh-from-internet"].level == "advisory"
    assert result["asg-health-grace-period"].properties == {"minimumSeconds": 600}
    with pytest.raises(PolicyConfigError):
        reconcile_config(pack.info, parse_policy_config('{"tgi-shm-size": {"minimumGib": -1}}', "t"), "t")


def test_pack_log_reaches_the_report_redacted(pack: PolicyPackProcess) -> None:
    """What a pack logs to the engine address it was given is reported with the check, redacted."""
    channel = grpc.insecure_channel(pack.engine_address)
    engine_pb2_grpc.EngineStub(channel).Log(
        engine_pb2.LogRequest(severity=engine_pb2.WARNING, message=f"token {CANARY} seen")
    )
    channel.close()
    run = run_program(program_dir("ssh", "satisfies"), "ci")
    result = pack.check(run, {"all": PolicySetting("mandatory")}, "t")
    assert result.pack_log == ["warning: token [secret] seen"]
    assert pack.check(run, {"all": PolicySetting("mandatory")}, "t").pack_log == [], "a line is reported once"


def test_pack_started_like_the_language_host_reports_its_plugin_version(pack: PolicyPackProcess) -> None:
    assert pack.plugin_version() == "1.21.0"
