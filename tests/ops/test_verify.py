"""Verify against moto's server (instance state, target health) and a real OpenAI-compatible server
(llama-cpp-python serving a tiny generated GGUF model)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llmdeploy.cli import main
from llmdeploy.cli.ops.verify import (
    ENDPOINT_OUTPUT,
    HEALTH_URL_OUTPUT,
    INSTANCE_ID_OUTPUT,
    MODEL_OUTPUT,
    TARGET_GROUP_OUTPUT,
    looks_like_prometheus,
    public_metrics_url,
)
from tests.conftest import llmdeploy_cli, plan_of
from tests.fixtures.http_test_doubles import PROMETHEUS_TEXT, MetricsExposingProxyTestDouble
from tests.fixtures.llama_server import MODEL_ALIAS, LlamaServer
from tests.fixtures.moto_server import ALLOW_ALL, MotoServer, deny, use_credentials
from tests.fixtures.servers import closed_port

CHECKS = ("instance", "targets", "models", "chat", "stream", "health", "metrics-private")


def run_verify(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any], str]:
    """`llmdeploy verify ... --format json`: exit code, checks by name, stderr."""
    code = main(["verify", *args, "--format", "json", "--timeout", "30"])
    captured = capsys.readouterr()
    document = json.loads(captured.out) if captured.out else {"checks": []}
    return code, {check["name"]: check for check in document["checks"]}, captured.err


def statuses(checks: dict[str, Any]) -> dict[str, str]:
    return {name: checks[name]["status"] for name in CHECKS if name in checks}


def explain(checks: dict[str, Any]) -> str:
    return "\n".join(f"{c['name']}: {c['status']} {c['detail']} | {c['remedy']}" for c in checks.values())


def endpoint_args(program: Path, llama: LlamaServer, kind: str, **extra: str) -> list[str]:
    args = [
        kind,
        "--program",
        str(program),
        "--endpoint",
        llama.endpoint,
        "--model",
        llama.model,
        # llama-cpp-python's server has no /health: /v1/models answers 200 when it serves.
        "--health-url",
        f"{llama.base_url}/v1/models",
        "--region",
        "us-east-1",
    ]
    for name, value in extra.items():
        args += [f"--{name.replace('_', '-')}", value]
    return args


def running_instance(moto: MotoServer) -> str:
    ec2 = moto.client("ec2")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    instance = ec2.run_instances(ImageId=image, InstanceType="g5.xlarge", MinCount=1, MaxCount=1)
    return str(instance["Instances"][0]["InstanceId"])


def target_group(moto: MotoServer, instance_ids: list[str]) -> str:
    ec2 = moto.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    elbv2 = moto.client("elbv2")
    arn = elbv2.create_target_group(
        Name="llmdeploy-vllm", Protocol="HTTP", Port=8000, VpcId=vpc, TargetType="instance"
    )["TargetGroups"][0]["TargetGroupArn"]
    elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": i, "Port": 8000} for i in instance_ids])
    return str(arn)


# ---------------------------------------------------------------------------
# A stack that serves


def test_staging_stack_that_serves_passes(
    aws_env: MotoServer, llama_server: LlamaServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    instance = running_instance(aws_env)
    code, checks, _ = run_verify(
        capsys, *endpoint_args(tmp_path, llama_server, "staging", instance_id=instance)
    )
    assert statuses(checks) == {
        "instance": "pass",
        "targets": "skip",
        "models": "pass",
        "chat": "pass",
        "stream": "pass",
        "health": "pass",
        "metrics-private": "skip",
    }, explain(checks)
    assert code == 0
    assert checks["instance"]["detail"] == f"instance {instance} is running (g5.xlarge in us-east-1a)"
    assert checks["models"]["detail"] == "llmdeploy-tiny listed (1 model)"
    time_to_first_token = checks["stream"]["figures"]["time_to_first_token_seconds"]
    assert 0 < time_to_first_token <= checks["stream"]["figures"]["seconds"]
    assert checks["chat"]["figures"]["completion_tokens"] >= 1


def test_prod_stack_that_serves_passes(
    aws_env: MotoServer, llama_server: LlamaServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    arn = target_group(aws_env, [running_instance(aws_env), running_instance(aws_env)])
    code, checks, _ = run_verify(capsys, *endpoint_args(tmp_path, llama_server, "prod", target_group_arn=arn))
    assert statuses(checks) == {
        "instance": "skip",
        "targets": "pass",
        "models": "pass",
        "chat": "pass",
        "stream": "pass",
        "health": "pass",
        "metrics-private": "pass",
    }, explain(checks)
    assert code == 0
    assert checks["targets"]["detail"] == "2 of 2 targets healthy"
    assert checks["metrics-private"]["detail"] == f"GET {llama_server.base_url}/metrics answered HTTP 404"


def test_text_report(
    aws_env: MotoServer, llama_server: LlamaServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["verify", *endpoint_args(tmp_path, llama_server, "staging")])
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith(f"Verify of stack staging (staging): llmdeploy-tiny at {llama_server.endpoint}\n")
    assert "stream           PASS    first token after " in out
    assert out.endswith("No check failed; 3 of 7 skipped.\n"), out


# ---------------------------------------------------------------------------
# Failures


def test_endpoint_down(aws_env: MotoServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    down = f"http://127.0.0.1:{closed_port()}"
    code, checks, _ = run_verify(
        capsys,
        "staging",
        "--program",
        str(tmp_path),
        "--endpoint",
        f"{down}/v1",
        "--model",
        "m",
        "--health-url",
        f"{down}/health",
    )
    assert code == 1
    assert statuses(checks) == {
        "instance": "skip",
        "targets": "skip",
        "models": "fail",
        "chat": "skip",
        "stream": "skip",
        "health": "fail",
        "metrics-private": "skip",
    }, explain(checks)
    models = checks["models"]
    assert models["detail"].startswith(f"GET /models: cannot connect to {down}/v1 ("), models
    assert "security group" in checks["models"]["remedy"]
    assert checks["health"]["detail"].startswith(f"GET {down}/health: cannot connect (")


@pytest.fixture
def exposing_proxy(llama_server: LlamaServer) -> Iterator[MetricsExposingProxyTestDouble]:
    proxy = MetricsExposingProxyTestDouble(llama_server.base_url)
    yield proxy
    proxy.stop()


def test_metrics_exposed_through_the_public_endpoint_fails_in_prod(
    aws_env: MotoServer,
    exposing_proxy: MetricsExposingProxyTestDouble,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, checks, _ = run_verify(
        capsys,
        "prod",
        "--program",
        str(tmp_path),
        "--endpoint",
        exposing_proxy.endpoint,
        "--model",
        MODEL_ALIAS,
    )
    assert code == 1
    assert statuses(checks) == {
        "instance": "skip",
        "targets": "skip",
        "models": "pass",
        "chat": "pass",
        "stream": "pass",
        "health": "skip",
        "metrics-private": "fail",
    }, explain(checks)
    detail = checks["metrics-private"]["detail"]
    assert detail.startswith(
        f"GET {exposing_proxy.base_url}/metrics answered 200 with Prometheus metrics (# HELP vllm:"
    )
    assert detail.endswith("metrics are public")
    assert "listener" in checks["metrics-private"]["remedy"]


def test_metrics_are_checked_in_prod_only(
    aws_env: MotoServer,
    exposing_proxy: MetricsExposingProxyTestDouble,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, checks, _ = run_verify(
        capsys,
        "staging",
        "--program",
        str(tmp_path),
        "--endpoint",
        exposing_proxy.endpoint,
        "--model",
        MODEL_ALIAS,
    )
    assert (code, checks["metrics-private"]["status"]) == (0, "skip"), explain(checks)


def test_health_url_not_found(
    aws_env: MotoServer, llama_server: LlamaServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = endpoint_args(tmp_path, llama_server, "staging")
    args[args.index("--health-url") + 1] = f"{llama_server.base_url}/health"
    code, checks, _ = run_verify(capsys, *args)
    assert code == 1
    assert checks["health"]["status"] == "fail"
    assert checks["health"]["detail"] == f"GET {llama_server.base_url}/health answered HTTP 404"


def test_model_not_served(
    aws_env: MotoServer, llama_server: LlamaServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = endpoint_args(tmp_path, llama_server, "staging")
    args[args.index("--model") + 1] = "meta-llama/Llama-3.1-8B-Instruct"
    code, checks, _ = run_verify(capsys, *args)
    assert code == 1
    assert statuses(checks)["models"] == "fail" and statuses(checks)["chat"] == "skip", explain(checks)
    assert checks["models"]["detail"] == (
        "meta-llama/Llama-3.1-8B-Instruct is not served; the endpoint lists llmdeploy-tiny"
    )


def test_stopped_staging_instance(
    aws_env: MotoServer, llama_server: LlamaServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    instance = running_instance(aws_env)
    aws_env.client("ec2").stop_instances(InstanceIds=[instance])
    code, checks, _ = run_verify(
        capsys, *endpoint_args(tmp_path, llama_server, "staging", instance_id=instance)
    )
    assert code == 1
    assert checks["instance"]["status"] == "fail"
    assert checks["instance"]["detail"] == f"instance {instance} is stopped (g5.xlarge in us-east-1a)"
    assert checks["instance"]["remedy"] == (
        f"start it: aws ec2 start-instances --instance-ids {instance} --region us-east-1"
    )


def test_prod_target_not_in_service(
    aws_env: MotoServer, llama_server: LlamaServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    healthy, stopped = running_instance(aws_env), running_instance(aws_env)
    arn = target_group(aws_env, [healthy, stopped])
    aws_env.client("ec2").stop_instances(InstanceIds=[stopped])
    code, checks, _ = run_verify(capsys, *endpoint_args(tmp_path, llama_server, "prod", target_group_arn=arn))
    assert code == 1
    assert checks["targets"]["status"] == "fail"
    assert checks["targets"]["detail"] == f"1 of 2 targets healthy: {stopped} unused (Target.InvalidState)"


def test_missing_target_group(
    aws_env: MotoServer, llama_server: LlamaServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/gone/0123456789abcdef"
    code, checks, _ = run_verify(capsys, *endpoint_args(tmp_path, llama_server, "prod", target_group_arn=arn))
    assert code == 1
    assert checks["targets"]["detail"] == (
        f"not found: target group {arn} in us-east-1 "
        "(TargetGroupNotFound from elasticloadbalancing:DescribeTargetHealth)"
    )


def test_access_denied_on_target_health(
    aws_env: MotoServer,
    llama_server: LlamaServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    arn = target_group(aws_env, [running_instance(aws_env)])
    viewer = aws_env.create_user("viewer", [ALLOW_ALL, deny("elasticloadbalancing:DescribeTargetHealth")])
    use_credentials(monkeypatch, viewer)
    with aws_env.iam_enforced():
        code, checks, _ = run_verify(
            capsys, *endpoint_args(tmp_path, llama_server, "prod", target_group_arn=arn)
        )
    assert code == 1
    assert checks["targets"]["detail"].startswith(
        "access denied: the credentials in use may not call elasticloadbalancing:DescribeTargetHealth "
        f"on target group {arn}"
    ), checks["targets"]
    assert checks["models"]["status"] == "pass"


def test_api_key_is_sent_but_never_printed(
    aws_env: MotoServer,
    exposing_proxy: MetricsExposingProxyTestDouble,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    canary: str,
) -> None:
    monkeypatch.setenv("LLMDEPLOY_API_KEY", canary)
    args = ["--program", str(tmp_path), "--endpoint", exposing_proxy.endpoint, "--model", MODEL_ALIAS]
    finished = llmdeploy_cli("verify", "staging", *args, cwd=tmp_path)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert canary not in finished.stdout + finished.stderr
    assert exposing_proxy.authorizations, "no request reached the endpoint"
    assert set(exposing_proxy.authorizations) == {f"Bearer {canary}"}


# ---------------------------------------------------------------------------
# Where the outputs come from


def outputs_of(llama: LlamaServer) -> dict[str, Any]:
    return {
        "endpoint": llama.endpoint,
        "model": llama.model,
        "engine": "tgi",
        "health_url": f"{llama.base_url}/v1/models",
        "metrics_url": "[secret]",
    }


def test_outputs_file(
    aws_env: MotoServer, llama_server: LlamaServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps(outputs_of(llama_server)))
    code, checks, _ = run_verify(capsys, "staging", "--program", str(tmp_path), "--outputs", str(outputs))
    assert code == 0, explain(checks)
    assert checks["health"]["status"] == "pass"


@pytest.fixture
def pulumi_cli_test_double(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """No Pulumi CLI can be installed here: a `pulumi` on PATH that prints outputs and logs its arguments.

    Writes `outputs.json` beside it as `pulumi stack output --json` would print it.
    """
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "pulumi"
    script.write_text(
        f"#!{sys.executable}\n"
        "import pathlib, sys\n"
        "here = pathlib.Path(__file__).parent\n"
        "(here / 'argv.txt').write_text(' '.join(sys.argv[1:]))\n"
        "outputs = here / 'outputs.json'\n"
        "if not outputs.exists():\n"
        "    print('error: no stack named \"prod\" found', file=sys.stderr); sys.exit(255)\n"
        "print(outputs.read_text())\n"
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    yield bin_dir


def test_outputs_from_the_pulumi_cli(
    aws_env: MotoServer,
    llama_server: LlamaServer,
    pulumi_cli_test_double: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (pulumi_cli_test_double / "outputs.json").write_text(json.dumps(outputs_of(llama_server)))
    code, checks, err = run_verify(capsys, "staging", "--program", str(tmp_path))
    assert code == 0, explain(checks) + err
    assert (pulumi_cli_test_double / "argv.txt").read_text() == "stack output --json --stack staging"


def test_pulumi_cli_failure_is_reported(
    aws_env: MotoServer, pulumi_cli_test_double: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, checks, err = run_verify(capsys, "prod", "--program", str(tmp_path))
    assert (code, checks) == (1, {})
    assert err.startswith(
        'error: `pulumi stack output --json --stack prod` failed (exit 255): error: no stack named "prod" found'
    ), err
    assert "--outputs FILE" in err


def test_no_cli_no_file_no_endpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    code, _, err = run_verify(capsys, "prod", "--program", str(tmp_path))
    assert code == 1
    assert err.splitlines()[0] == (
        "error: no stack outputs: the Pulumi CLI is not installed here and no --outputs FILE was given"
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "error: {path}: not JSON (Expecting value at line 1)"),
        ("[1, 2]", "error: {path}: found a JSON list; accepted: an object of stack outputs"),
        (
            '{"model": "m"}',
            "error: endpoint: found None; accepted: the OpenAI base URL, http(s)://host[:port]/v1",
        ),
        ('{"endpoint": "http://h/v1"}', "error: model: found nothing; accepted: the served model name"),
    ],
)
def test_bad_outputs_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    path = tmp_path / "outputs.json"
    path.write_text(content)
    code, _, err = run_verify(capsys, "prod", "--program", str(tmp_path), "--outputs", str(path))
    assert code == 1
    assert err.splitlines()[0] == message.format(path=path)


def test_kind_comes_from_the_stack_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: llmdeploy\nruntime: python\n")
    (tmp_path / "Pulumi.gpu-eu.yaml").write_text("config:\n  llmdeploy:kind: dev\n")
    # A dev stack by its config: no instance or target check, and the endpoint is what fails.
    code, checks, _ = run_verify(
        capsys,
        "gpu-eu",
        "--program",
        str(tmp_path),
        "--endpoint",
        f"http://127.0.0.1:{closed_port()}/v1",
        "--model",
        "m",
    )
    assert code == 1
    assert (checks["instance"]["detail"], checks["models"]["status"]) == ("dev stack: see targets", "fail")
    code, _, err = run_verify(
        capsys, "gpu-us", "--program", str(tmp_path / "nowhere"), "--endpoint", "http://h/v1"
    )
    assert code == 1
    assert "pass --kind (dev, staging, prod)" in err


def test_dev_stack_that_serves_passes(
    llama_server: LlamaServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """dev: Ollama's OpenAI endpoint, with no key and no metrics; llama.cpp's server stands in for it
    (the same OpenAI API; Ollama itself needs a Docker engine). No AWS is asked anything."""
    monkeypatch.delenv("LLMDEPLOY_API_KEY", raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "no-aws-is-called")
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{closed_port()}")
    code, checks, _ = run_verify(capsys, *endpoint_args(tmp_path, llama_server, "dev"))
    assert statuses(checks) == {
        "instance": "skip",
        "targets": "skip",
        "models": "pass",
        "chat": "pass",
        "stream": "pass",
        "health": "pass",
        "metrics-private": "skip",
    }, explain(checks)
    assert code == 0


# ---------------------------------------------------------------------------
# Pure parts


def test_prometheus_text_is_recognised() -> None:
    assert looks_like_prometheus(PROMETHEUS_TEXT)
    assert looks_like_prometheus("tgi_queue_size 0\n")
    assert not looks_like_prometheus("<!doctype html><html><body>Not here</body></html>")
    assert not looks_like_prometheus('{"detail":"Not Found"}')


def test_metrics_url_is_on_the_public_origin() -> None:
    assert public_metrics_url("https://llm.example.com/v1") == "https://llm.example.com/metrics"
    assert public_metrics_url("http://10.0.0.5:8000/v1") == "http://10.0.0.5:8000/metrics"


@pytest.mark.parametrize(
    ("stack", "aws_output"), [("staging", INSTANCE_ID_OUTPUT), ("prod", TARGET_GROUP_OUTPUT)]
)
def test_the_stacks_export_what_verify_reads(stack: str, aws_output: str) -> None:
    outputs = plan_of(stack)["outputs"]
    wanted = {ENDPOINT_OUTPUT, MODEL_OUTPUT, HEALTH_URL_OUTPUT, aws_output}
    assert wanted <= set(outputs), f"the {stack} stack's outputs lack {sorted(wanted - set(outputs))}"
