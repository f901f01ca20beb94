"""The staging stack (stacks/staging.py + components/tgi_server.py), run from the repository's own
program and Pulumi.staging.yaml under the mock monitor, with config overrides per test."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import pytest
from pulumi.runtime import mocks

from components.secret import secret_read_policy
from components.tgi_server import tgi_container_service
from llmdeploy.cli import main as llmdeploy_main
from llmdeploy.cli.mockrun import OfflineMocks, ProgramRefused, ProgramRun, run_program
from llmdeploy.cli.plan import FORMATS, plan_document, render
from llmdeploy.core.engines import TgiOptions
from llmdeploy.core.metrics import ENGINE_METRICS
from llmdeploy.core.userdata import fetch_secrets_script, start_script
from stacks.settings import DLAMI_PARAMETER
from tests.support import REPO, inputs, of_type, one, plaintext_strings, shellcheck

# "hf_" + 34 letters and digits: shaped like a real token, fed exactly like a decrypted config secret.
CANARY = "hf_" + "Cn8rY" * 6 + "w2K9"
assert len(CANARY) == 37
SECRET_ARN = "arn:aws:secretsmanager:us-east-1:000000000000:secret:llmdeploy/staging/hf-token-Xy7Q1z"
API_KEY_ARN = "arn:aws:secretsmanager:us-east-1:000000000000:secret:llmdeploy/staging/api-key-Xy7Q1z"
SSM_AMI = "ami-0fromssm00000001"
PUBLIC_IP = "198.51.100.7"
PRIVATE_IP = "10.40.3.21"
INSTANCE = "aws:ec2/instance:Instance"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"


class ProviderMocks(OfflineMocks):
    """Test double for the AWS provider: what AWS would compute (ARNs, addresses, the SSM value),
    which a preview cannot know, plus a record of every lookup the program made."""

    def __init__(self) -> None:
        super().__init__()
        self.invokes: list[tuple[str, dict[str, Any]]] = []

    def new_resource(self, args: mocks.MockResourceArgs) -> tuple[str | None, dict]:
        resource_id, state = super().new_resource(args)
        if args.typ == "aws:secretsmanager/secret:Secret":
            state = {
                **state,
                "arn": f"arn:aws:secretsmanager:us-east-1:000000000000:secret:{args.inputs['name']}-Xy7Q1z",
            }
        if args.typ == INSTANCE:
            resource_id = "i-0123456789abcdef0"
            state = {**state, "publicIp": PUBLIC_IP, "privateIp": PRIVATE_IP}
        return resource_id, state

    def call(self, args: mocks.MockCallArgs) -> tuple[dict, list[tuple[str, str]] | None]:
        self.invokes.append((args.token, dict(args.args)))
        answer, failures = super().call(args)
        if args.token == "aws:ssm/getParameter:getParameter":
            answer = {**answer, "value": SSM_AMI, "insecureValue": SSM_AMI}
        return answer, failures


# The repository's program with a test base config whose model needs no token (tests add one).
STAGING_BASE = Path(__file__).resolve().parent / "programs" / "staging"


def staging(token: bool = False, mock: mocks.Mocks | None = None, **config: str) -> ProgramRun:
    values = {f"llmdeploy:{key}": value for key, value in config.items()}
    secret_keys = []
    if token:
        values["llmdeploy:hfToken"] = CANARY
        secret_keys.append("llmdeploy:hfToken")
    return run_program(STAGING_BASE, "staging", config=values, secret_keys=secret_keys, mock=mock)


def refusal(token: bool = False, **config: str) -> str:
    with pytest.raises(ProgramRefused) as caught:
        staging(token=token, **config)
    return str(caught.value)


def user_data(run: ProgramRun) -> str:
    return str(inputs(one(run, INSTANCE))["userData"])


def docker_run_line(run: ProgramRun) -> str:
    lines = [line for line in user_data(run).splitlines() if line.startswith("exec docker run ")]
    assert len(lines) == 1, f"expected one docker run line in the user data, found {lines}"
    return lines[0].removeprefix("exec ")


# ---------------------------------------------------------------------------
# The instance


def test_staging_plans_one_gpu_instance_from_the_dlami_parameter() -> None:
    mock = ProviderMocks()
    run = staging(mock=mock)
    instance = inputs(one(run, INSTANCE))
    assert instance["instanceType"] == "g5.xlarge"
    lookups = [args for token, args in mock.invokes if token == "aws:ssm/getParameter:getParameter"]
    assert [args["name"] for args in lookups] == [DLAMI_PARAMETER], f"AMI lookups: {lookups}"
    assert instance["ami"] == SSM_AMI, "the instance must boot the AMI the SSM parameter names"
    assert "keyName" not in instance, "no key pair: shell access is SSM Session Manager"
    assert instance["associatePublicIpAddress"] is True
    assert instance["userDataReplaceOnChange"] is True


def test_an_explicit_ami_skips_the_lookup() -> None:
    mock = ProviderMocks()
    run = staging(mock=mock, amiId="ami-0123456789abcdef0")
    assert inputs(one(run, INSTANCE))["ami"] == "ami-0123456789abcdef0"
    assert [t for t, _ in mock.invokes if t == "aws:ssm/getParameter:getParameter"] == []


def test_imdsv2_is_required_with_hop_limit_two() -> None:
    metadata = inputs(one(staging(), INSTANCE))["metadataOptions"]
    assert metadata == {"httpEndpoint": "enabled", "httpTokens": "required", "httpPutResponseHopLimit": 2}


def test_root_volume_is_encrypted_gp3_sized_for_ami_image_and_weights() -> None:
    root = inputs(one(staging(), INSTANCE))["rootBlockDevice"]
    assert root["encrypted"] is True and root["volumeType"] == "gp3" and root["deleteOnTermination"] is True
    assert root["volumeSize"] == 75 + 20 + 23 + 10, (
        "DLAMI + TGI image + one A10G's worth (22888 MiB) of weights"
    )
    sized = inputs(one(staging(rootVolumeGib="300"), INSTANCE))["rootBlockDevice"]
    assert sized["volumeSize"] == 300
    quantized = inputs(one(staging(quantize="bitsandbytes-nf4"), INSTANCE))["rootBlockDevice"]
    assert quantized["volumeSize"] == 75 + 20 + 90 + 10, (
        "on-the-fly nf4 downloads 4x the weights (4 x 22.35 GiB)"
    )


# ---------------------------------------------------------------------------
# Security group


def ingress_rules(run: ProgramRun) -> list[dict[str, Any]]:
    return [inputs(rule) for rule in of_type(run, INGRESS) if rule.name.startswith("tgi-")]


def test_api_port_only_from_configured_cidrs_and_metrics_only_from_monitoring() -> None:
    run = staging(
        apiAllowedCidrs='["203.0.113.0/24", "198.51.100.0/25"]',
        monitoringCidrs='["10.40.0.0/16"]',
        monitoringSecurityGroupId="sg-0123456789abcdef0",
    )
    rules = {
        (r["fromPort"], r.get("cidrIpv4") or r.get("referencedSecurityGroupId")) for r in ingress_rules(run)
    }
    # The engine's port from apiAllowedCidrs alone; monitoring gets the collector's 9464, and TGI's own
    # metrics listener (9000) no rule at all: it is published on loopback, for the collector.
    assert rules == {
        (8080, "203.0.113.0/24"),
        (8080, "198.51.100.0/25"),
        (9464, "10.40.0.0/16"),
        (9464, "sg-0123456789abcdef0"),
    }
    for rule in ingress_rules(run):
        assert rule["fromPort"] == rule["toPort"] and rule["ipProtocol"] == "tcp", f"one port only: {rule}"


def test_no_ingress_at_all_without_configured_cidrs_and_never_ssh() -> None:
    run = staging(apiAllowedCidrs="[]", monitoringCidrs="[]")
    assert ingress_rules(run) == [], "nothing may reach the instance unless configured"
    everything = json.dumps([inputs(rule) for rule in of_type(run, INGRESS)])
    assert '"fromPort": 22' not in everything and "0.0.0.0/0" not in everything


def test_api_port_setting_moves_the_published_port_and_the_rule() -> None:
    run = staging(apiPort="8443")
    assert " -p 8443:80 " in docker_run_line(run)
    assert {r["fromPort"] for r in ingress_rules(run)} == {8443, 9464}


# ---------------------------------------------------------------------------
# Token, secret and IAM


def test_token_goes_to_secrets_manager_and_the_role_may_read_only_that_secret() -> None:
    run = staging(token=True, mock=ProviderMocks(), modelNeedsToken="true")
    secret = inputs(one(run, "aws:secretsmanager/secret:Secret", "hf-token"))
    assert secret["name"] == "llmdeploy/staging/hf-token"
    version = inputs(one(run, "aws:secretsmanager/secretVersion:SecretVersion", "hf-token-current"))
    assert version["secretString"] == "[secret]"
    policy = json.loads(
        inputs(one(run, "aws:iam/rolePolicy:RolePolicy", "tgi-instance-read-secrets"))["policy"]
    )
    assert policy == secret_read_policy([API_KEY_ARN, SECRET_ARN]), (
        f"the role's secret access is not scoped: {policy}"
    )
    attached = sorted(
        inputs(r)["policyArn"].rsplit("/", 1)[1]
        for r in of_type(run, "aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    )
    # No CloudWatch agent on staging: the collector's own statements instead of the agent's broad policy.
    assert attached == ["AmazonSSMManagedInstanceCore"]
    assert '--secret-id "$2"' in user_data(run)
    assert "fetch_secret HF_TOKEN llmdeploy/staging/hf-token" in user_data(run), "fetched by name"


def test_without_a_token_the_api_key_is_the_only_secret_the_instance_reads() -> None:
    run = staging(mock=ProviderMocks())
    assert [r.name for r in of_type(run, "aws:secretsmanager/secret:Secret")] == ["api-key"]
    policy = json.loads(
        inputs(one(run, "aws:iam/rolePolicy:RolePolicy", "tgi-instance-read-secrets"))["policy"]
    )
    assert policy == secret_read_policy([API_KEY_ARN])
    # TGI's launcher reads API_KEY (its --api-key's environment variable) from the env file.
    assert "--env-file" in docker_run_line(run)
    assert "fetch_secret API_KEY llmdeploy/staging/api-key" in user_data(run)
    assert "HF_TOKEN" not in user_data(run)


def test_canary_token_is_absent_from_every_plan_format_the_user_data_and_plaintext_inputs() -> None:
    run = staging(token=True, modelNeedsToken="true")
    assert CANARY not in user_data(run)
    document = plan_document(run)
    for fmt in FORMATS:
        assert CANARY not in render(document, fmt), f"the token leaked into the {fmt} plan"
    leaks = [text for text in plaintext_strings(run) if CANARY in text]
    assert leaks == [], f"the token leaked outside a secret: {leaks}"
    assert all(CANARY not in message for _, message in run.log)


def test_canary_token_is_absent_from_errors() -> None:
    # A secret token beside a bad setting, and the same token given as plain text.
    assert CANARY not in refusal(token=True, instanceType="t3.large")
    plaintext = refusal(hfToken=CANARY)
    assert CANARY not in plaintext and "[secret] not shown" in plaintext


# ---------------------------------------------------------------------------
# The docker run line and the rendered script


def test_the_exact_docker_run_line() -> None:
    assert docker_run_line(staging(token=True)) == (
        "docker run --gpus all --shm-size 1g -p 8080:80 -p 127.0.0.1:9000:9000 -v /opt/tgi/data:/data "
        "--env-file /run/llmdeploy-tgi/secrets.env --name llmdeploy-tgi --rm "
        "--log-driver awslogs --log-opt awslogs-group=/llmdeploy/staging/tgi --log-opt mode=non-blocking "
        "--log-opt max-buffer-size=4m "
        "ghcr.io/huggingface/text-generation-inference:3.3.7 --model-id Qwen/Qwen2.5-7B-Instruct "
        "--num-shard 1 --max-input-tokens 4096 --max-total-tokens 8192 --max-concurrent-requests 128 "
        "--prometheus-port 9000 --usage-stats off"
    )


def test_num_shard_is_the_gpu_count_and_options_reach_the_line() -> None:
    line = shlex.split(
        docker_run_line(
            staging(
                instanceType="g6e.12xlarge",
                shmSize="8g",
                quantize="awq",
                maxConcurrentRequests="64",
                otlpEndpoint="http://otel-collector.internal:4317",
            )
        )
    )

    def after(flag: str) -> str:
        return line[line.index(flag) + 1]

    assert after("--num-shard") == "4", "num-shard must be the instance's GPU count"
    assert after("--shm-size") == "8g"
    assert after("--quantize") == "awq"
    assert after("--max-concurrent-requests") == "64"
    assert after("--otlp-endpoint") == "http://otel-collector.internal:4317"


def test_user_data_and_its_scripts_pass_shellcheck(tmp_path: Path) -> None:
    shellcheck(user_data(staging(token=True)), tmp_path, "user-data.sh")
    service = tgi_container_service(
        image="ghcr.io/huggingface/text-generation-inference:3.3.7",
        options=TgiOptions(model_id="meta-llama/Llama-3.1-8B-Instruct", num_shard=1,
                           max_input_tokens=4096, max_total_tokens=8192),
        shm_size="1g",
        api_port=8080,
        hf_token_secret_name="llmdeploy/staging/hf-token",
    )  # fmt: skip
    shellcheck(start_script(service), tmp_path, "start.sh")
    shellcheck(fetch_secrets_script(service), tmp_path, "fetch-secrets.sh")


def test_unit_stops_after_tgis_drain_time_and_restarts_on_failure() -> None:
    script = user_data(staging())
    assert "Restart=on-failure" in script
    assert "ExecStop=/usr/bin/docker stop --time 100 llmdeploy-tgi" in script, "above TGI's 90 s drain"
    assert "TimeoutStopSec=130" in script


# ---------------------------------------------------------------------------
# Outputs


def outputs(run: ProgramRun) -> dict[str, Any]:
    return dict(plan_document(run)["outputs"])


def test_outputs_have_every_stacks_names_on_the_public_address() -> None:
    result = outputs(staging(mock=ProviderMocks()))
    assert "kv_cache_tokens" in result.pop("capacity")  # tests/test_capacity_stacks.py checks its figures
    assert result == {
        "endpoint": f"http://{PUBLIC_IP}:8080/v1",
        "model": "Qwen/Qwen2.5-7B-Instruct",
        "engine": "tgi",
        "health_url": f"http://{PUBLIC_IP}:8080/health",
        "metrics_url": f"http://{PUBLIC_IP}:9464/metrics",
        "instance_id": "i-0123456789abcdef0",
    }


def test_a_private_instance_goes_in_a_private_subnet_and_answers_on_its_private_address() -> None:
    run = staging(mock=ProviderMocks(), publicAddress="false", natGateway="true")
    assert inputs(one(run, INSTANCE))["associatePublicIpAddress"] is False
    assert outputs(run)["endpoint"] == f"http://{PRIVATE_IP}:8080/v1"


# ---------------------------------------------------------------------------
# Settings refused before any resource is declared: one line each


@pytest.mark.parametrize(
    ("config", "line"),
    [
        (
            {"instanceType": "m5.xlarge"},
            "llmdeploy:instanceType: found 'm5.xlarge'; accepted: a GPU instance type from the catalogue "
            "(nearest: g5.xlarge, g6.xlarge, g5.2xlarge)",
        ),
        (
            {"modelNeedsToken": "true"},
            "llmdeploy:hfToken: found nothing, while llmdeploy:modelNeedsToken is true; accepted: the "
            "Hugging Face token as a secret: pulumi config set --secret hfToken hf_...",
        ),
        (
            {"hfToken": CANARY},
            "llmdeploy:hfToken: found a plaintext value ([secret] not shown); accepted: a secret, set with "
            "`pulumi config set --secret hfToken ...`",
        ),
        (
            {"image": "ghcr.io/huggingface/text-generation-inference:latest"},
            "llmdeploy:image: found 'ghcr.io/huggingface/text-generation-inference:latest'; accepted: an "
            "image pinned by a version tag or a digest (not `latest`, not untagged)",
        ),
        (
            {"monitoringCidrs": '["0.0.0.0/0"]'},
            "llmdeploy:monitoringCidrs: found ['0.0.0.0/0'] (3,702,258,688 public IPv4 addresses); "
            "accepted: the monitoring networks only, never the internet (more than a /8 of public IPv4 space, or a /16 "
            "of public IPv6 space): the metrics port is never public (it re-exposes every engine series, for monitoring only)",
        ),
        (
            {"shmSize": "256m"},
            "llmdeploy:shmSize: found '256m'; accepted: a Docker size of at least 1g, such as 1g or 8g",
        ),
        (
            {"maxInputTokens": "9000"},
            "llmdeploy:maxInputTokens: found 9000 with llmdeploy:maxTotalTokens 8192; accepted: fewer "
            "tokens than llmdeploy:maxTotalTokens (the prompt plus one generated token)",
        ),
        (
            {"vpcId": "vpc-0123456789abcdef0", "privateSubnetIds": '["subnet-0123456789abcdef0"]'},
            "llmdeploy:publicSubnetIds: found nothing, while llmdeploy:vpcId, llmdeploy:privateSubnetIds "
            "are set; accepted: vpcId, publicSubnetIds and privateSubnetIds all together (your own "
            "network) or none of them (llmdeploy creates one)",
        ),
    ],
)
def test_bad_settings_stop_the_program_with_one_line(config: dict[str, str], line: str) -> None:
    assert refusal(**config) == line


# ---------------------------------------------------------------------------
# The command


def test_committed_example_plans_a_gated_model_with_its_token_as_a_secret() -> None:
    # Pulumi.staging.yaml holds a `secure:` placeholder: the plan masks it and never decrypts it.
    run = run_program(REPO, "staging", mock=ProviderMocks())
    instance = inputs(one(run, INSTANCE))
    assert instance["instanceType"] == "g5.2xlarge"
    assert "--model-id meta-llama/Llama-3.1-8B-Instruct" in instance["userData"]
    assert "fetch_secret HF_TOKEN llmdeploy/staging/hf-token" in instance["userData"]
    version = inputs(one(run, "aws:secretsmanager/secretVersion:SecretVersion", "hf-token-current"))
    assert version["secretString"] == "[secret]"
    policy = json.loads(
        inputs(one(run, "aws:iam/rolePolicy:RolePolicy", "tgi-instance-read-secrets"))["policy"]
    )
    assert policy == secret_read_policy([API_KEY_ARN, SECRET_ARN])


def test_llmdeploy_plan_staging_json_shows_the_stack(capsys: pytest.CaptureFixture[str]) -> None:
    assert llmdeploy_main(["plan", "staging", "--program", str(REPO), "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    types = {resource["type"] for resource in document["resources"]}
    assert {
        "llmdeploy:components:Network",
        "llmdeploy:components:TgiServer",
        "llmdeploy:components:InstanceRole",
        "aws:ec2/vpc:Vpc",
        "aws:ec2/securityGroup:SecurityGroup",
        "aws:iam/instanceProfile:InstanceProfile",
        INSTANCE,
    } <= types
    instance = next(r for r in document["resources"] if r["type"] == INSTANCE)
    assert (
        "docker run --gpus all --shm-size 1g -p 8080:80 -p 127.0.0.1:9000:9000"
        in instance["inputs"]["userData"]
    )
    assert set(document["outputs"]) == {
        "endpoint",
        "model",
        "engine",
        "health_url",
        "metrics_url",
        "instance_id",
        "capacity",
        # The committed example stops the instance off-hours: the month with and without it.
        "cost",
    }
    assert document["outputs"]["engine"] == "tgi"


# ---------------------------------------------------------------------------
# The OpenTelemetry Collector (llmdeploy/core/collector.py, the same functions as prod's)

WORKSPACE = "arn:aws:aps:us-east-1:123456789012:workspace/ws-0123abcd-4567-89ef-0123-456789abcdef"
LOG_GROUP_ARN = "arn:aws:logs:us-east-1:000000000000:log-group:/llmdeploy/staging/tgi-metrics"


def engine_log_statement(engine: str = "tgi") -> dict[str, Any]:
    """The last statement of the role's inline policy: the engine's log driver on its group alone."""
    arn = f"arn:aws:logs:us-east-1:000000000000:log-group:/llmdeploy/staging/{engine}"
    return {
        "Effect": "Allow",
        "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": [arn, f"{arn}:log-stream:*"],
    }


def collector_config_of(run: ProgramRun) -> dict[str, Any]:
    """The configuration the user data writes to /etc/otelcol-contrib/config.yaml (JSON is YAML)."""
    script = user_data(run)
    start = script.index("cat > /etc/otelcol-contrib/config.yaml <<'LLMDEPLOY_EOF'\n")
    body = script[start:].split("\n", 1)[1]
    return dict(json.loads(body[: body.index("\nLLMDEPLOY_EOF\n")]))


def collector_policy(run: ProgramRun) -> list[dict[str, Any]]:
    return list(
        json.loads(inputs(one(run, "aws:iam/rolePolicy:RolePolicy", "tgi-instance-collector"))["policy"])[
            "Statement"
        ]
    )


@pytest.mark.parametrize(
    ("engine", "target", "job"), [("tgi", "127.0.0.1:9000", "tgi"), ("vllm", "127.0.0.1:8000", "vllm")]
)
def test_the_collector_scrapes_the_engine_on_loopback_and_sends_cloudwatch_emf(
    engine: str, target: str, job: str
) -> None:
    run = staging(mock=ProviderMocks(), engine=engine)
    config = collector_config_of(run)
    (scrape,) = config["receivers"]["prometheus"]["config"]["scrape_configs"]
    assert scrape["job_name"] == job and scrape["static_configs"] == [
        {"targets": [target], "labels": {"Deployment": f"llmdeploy-staging-{engine}"}}
    ]
    assert config["exporters"]["prometheus"]["endpoint"] == "0.0.0.0:9464"
    emf = config["exporters"]["awsemf"]
    # prod's naming: the engine's namespace, the stack's log group.
    assert emf["namespace"] == f"llmdeploy/{engine}"
    assert emf["log_group_name"] == f"/llmdeploy/staging/{engine}-metrics"
    assert emf["metric_declarations"][0]["dimensions"] == [["Deployment"]]
    assert config["service"]["pipelines"] == {
        "metrics": {
            "receivers": ["prometheus"],
            "processors": ["batch"],
            "exporters": ["prometheus", "awsemf"],
        },
        "metrics/cloudwatch-histograms": {
            "receivers": ["prometheus"],
            "processors": ["filter/latency-histograms", "batch"],
            "exporters": ["otlp_http/cloudwatch"],
        },
    }
    # The latency histograms, whole, to CloudWatch's regional OTLP endpoint; no statistic sets by EMF.
    families = ENGINE_METRICS[engine].latency_families
    assert config["processors"]["filter/latency-histograms"]["metrics"]["metric"] == [
        " and ".join(f'name != "{family}"' for family in families)
    ]
    assert not any(family in json.dumps(emf) for family in families)
    assert config["exporters"]["otlp_http/cloudwatch"] == {
        "metrics_endpoint": "https://monitoring.${env:AWS_REGION}.${env:LLMDEPLOY_AWS_DOMAIN}/v1/metrics",
        "auth": {"authenticator": "sigv4auth/cloudwatch"},
    }
    assert config["extensions"]["sigv4auth/cloudwatch"] == {
        "region": "${env:AWS_REGION}",
        "service": "monitoring",
    }
    assert "/latest/meta-data/services/domain" in user_data(run)
    group = inputs(one(run, "aws:cloudwatch/logGroup:LogGroup", "tgi-metrics-logs"))
    assert group["name"] == emf["log_group_name"] and group["retentionInDays"] == 30
    assert "systemctl restart otelcol-contrib.service" in user_data(run)


PUT_METRIC_DATA = {"Effect": "Allow", "Action": ["cloudwatch:PutMetricData"], "Resource": "*"}


def test_the_role_gets_the_emf_log_actions_on_its_log_group_alone() -> None:
    assert collector_policy(staging(mock=ProviderMocks())) == [
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": [LOG_GROUP_ARN, f"{LOG_GROUP_ARN}:log-stream:*"],
        },
        # The latency histograms over OTLP (PutMetricData takes no resource).
        PUT_METRIC_DATA,
        engine_log_statement(),
    ]


def test_remote_write_to_a_workspace_adds_aps_remote_write_on_it() -> None:
    run = staging(mock=ProviderMocks(), prometheusWorkspaceArn=WORKSPACE)
    config = collector_config_of(run)
    assert config["exporters"]["prometheusremotewrite"]["auth"] == {"authenticator": "sigv4auth"}
    assert config["service"]["pipelines"]["metrics"]["exporters"] == [
        "prometheus",
        "prometheusremotewrite",
        "awsemf",
    ]
    assert collector_policy(run)[1:] == [
        PUT_METRIC_DATA,
        {"Effect": "Allow", "Action": "aps:RemoteWrite", "Resource": WORKSPACE},
        engine_log_statement(),
    ]


def test_otlp_headers_from_a_secret_the_role_may_read_and_traces_through_the_collector() -> None:
    run = staging(
        mock=ProviderMocks(),
        engine="vllm",
        otlpEndpoint="https://otlp.example.com:4317",
        otlpHeadersSecretName="team/otlp-headers",
    )
    config = collector_config_of(run)
    assert config["exporters"]["otlp_grpc"] == {
        "endpoint": "https://otlp.example.com:4317",
        "headers": "${env:LLMDEPLOY_OTLP_HEADERS}",
    }
    assert config["receivers"]["otlp"] == {"protocols": {"grpc": {"endpoint": "172.17.0.1:4317"}}}
    # vLLM sends its traces to the collector through Docker's bridge; the endpoint gets them from there.
    assert " --otlp-traces-endpoint grpc://172.17.0.1:4317\n" in user_data(run)
    policy = json.loads(
        inputs(one(run, "aws:iam/rolePolicy:RolePolicy", "tgi-instance-read-secrets"))["policy"]
    )
    assert "arn:aws:secretsmanager:us-east-1:000000000000:secret:team/otlp-headers-??????" in json.dumps(
        policy
    )
    # Exporting to an OTLP endpoint needs no AWS permission: CloudWatch's statements and the engine log's.
    assert collector_policy(run)[1:] == [PUT_METRIC_DATA, engine_log_statement("vllm")]


def test_x_ray_gets_exactly_its_write_actions_and_is_refused_for_tgi() -> None:
    run = staging(mock=ProviderMocks(), engine="vllm", tracesToXray="true")
    assert collector_config_of(run)["service"]["pipelines"]["traces"]["exporters"] == ["awsxray"]
    assert collector_policy(run)[1:] == [
        PUT_METRIC_DATA,
        {"Effect": "Allow", "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], "Resource": "*"},
        engine_log_statement("vllm"),
    ]
    assert refusal(tracesToXray="true") == (
        "llmdeploy:tracesToXray: found true with engine tgi; accepted: engine vllm (the only engine whose "
        "traces flag llmdeploy has verified), or false"
    )


def test_the_proxy_no_longer_serves_metrics_and_the_engine_port_stays_on_loopback() -> None:
    run = staging(engine="vllm", monitoringCidrs='["10.40.0.0/16"]')
    script = user_data(run)
    assert "listen 9000;" not in script and "location = /metrics" not in script
    assert " -p 127.0.0.1:8000:8000 " in script
    assert {(r["fromPort"], r.get("cidrIpv4")) for r in ingress_rules(run)} >= {(9464, "10.40.0.0/16")}
    assert 9000 not in {r["fromPort"] for r in ingress_rules(run)}
    assert 8000 not in {r["fromPort"] for r in ingress_rules(run)}


# ---------------------------------------------------------------------------
# The engine's own logs: Docker's awslogs driver into the stack's log group


@pytest.mark.parametrize("engine", ["tgi", "vllm", "sglang"])
def test_the_engines_output_goes_to_its_log_group_kept_thirty_days(engine: str) -> None:
    run = staging(mock=ProviderMocks(), engine=engine, token=True)
    group = inputs(one(run, "aws:cloudwatch/logGroup:LogGroup", "tgi-engine-logs"))
    assert group["name"] == f"/llmdeploy/staging/{engine}" and group["retentionInDays"] == 30
    (engine_line,) = [
        line
        for line in user_data(run).splitlines()
        if line.startswith("exec docker run ") and f"llmdeploy-{engine}" in line
    ]
    argv = shlex.split(engine_line)
    options = [argv[index + 1] for index, word in enumerate(argv) if word == "--log-opt"]
    assert argv[argv.index("--log-driver") + 1] == "awslogs"
    assert options == [
        f"awslogs-group=/llmdeploy/staging/{engine}",
        "mode=non-blocking",
        "max-buffer-size=4m",
    ]
    assert collector_policy(run)[-1] == engine_log_statement(engine)
    # The instance starts once the group exists: the driver refuses to start the engine without it.
    instance = one(run, "aws:ec2/instance:Instance")
    assert any(dependency.endswith("LogGroup::tgi-engine-logs") for dependency in instance.dependencies)
    # The proxy beside vLLM and SGLang keeps Docker's default driver: its lines are not the engine's.
    assert sum("--log-driver" in line for line in user_data(run).splitlines()) == 1
