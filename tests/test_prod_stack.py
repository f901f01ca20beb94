"""The prod stack (stacks/prod.py and its components) under the mock monitor: the repository's
program with Pulumi.prod.yaml (or a token-free test base) and config overrides per test."""

from __future__ import annotations

import base64
import email
import functools
import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
from pulumi.runtime import mocks

from components.access_logs import access_log_policy
from components.secret import secret_read_policy
from llmdeploy.cli import engine
from llmdeploy.cli import main as llmdeploy_main
from llmdeploy.cli.mockrun import OfflineMocks, ProgramRefused, ProgramRun, run_program
from llmdeploy.cli.plan import FORMATS, plan_document, render
from llmdeploy.core.boot_time import health_check_grace_seconds, weight_bytes_from_name
from llmdeploy.core.capacity import CapacityRequest, assess_capacity, weight_bytes
from llmdeploy.core.gpus import gpu_instance_type
from llmdeploy.core.models import resolve_model
from stacks.resolve import resolve
from stacks.settings import DLAMI_PARAMETER, ProdSettings, SettingsError, load_settings
from tests.support import REPO, inputs, of_type, one, plaintext_strings, shellcheck

# Shaped like real secrets, fed exactly like decrypted config secrets.
CANARY_TOKEN = "hf_" + "Pq7Zt" * 6 + "x3M8"
CANARY_API_KEY = "sk-llmdeploy-canary-" + "9fQ2" * 8
SSM_AMI = "ami-0fromssm00000001"
LT_VERSION = 7
ALB_DNS = "api-alb-1234567890.us-east-1.elb.amazonaws.com"
ALB_SUFFIX = "app/api-alb-5e1f/0123456789abcdef"
TG_SUFFIX = "targetgroup/api-tg-77aa/fedcba9876543210"
TG_ARN = f"arn:aws:elasticloadbalancing:us-east-1:000000000000:{TG_SUFFIX}"
CERT = "arn:aws:acm:us-east-1:123456789012:certificate/0f1e2d3c-4b5a-6978-8899-aabbccddeeff"

ASG = "aws:autoscaling/group:Group"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
LISTENER = "aws:lb/listener:Listener"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS_RULE = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
ENGINE_LOG_GROUP_ARN = "arn:aws:logs:us-east-1:000000000000:log-group:/llmdeploy/prod/vllm"
# Docker's awslogs driver on the engine's log group alone: streams and writes, no CreateLogGroup.
# What the collector sends CloudWatch: EMF records on the metrics log group, histograms over OTLP.
METRICS_LOG_GROUP_ARN = "arn:aws:logs:us-east-1:000000000000:log-group:/llmdeploy/prod/vllm-metrics"
CLOUDWATCH_STATEMENTS = [
    {
        "Effect": "Allow",
        "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": [METRICS_LOG_GROUP_ARN, f"{METRICS_LOG_GROUP_ARN}:log-stream:*"],
    },
    {"Effect": "Allow", "Action": ["cloudwatch:PutMetricData"], "Resource": "*"},
]
ENGINE_LOG_STATEMENT = {
    "Effect": "Allow",
    "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
    "Resource": [ENGINE_LOG_GROUP_ARN, f"{ENGINE_LOG_GROUP_ARN}:log-stream:*"],
}
POLICY = "aws:autoscaling/policy:Policy"

PROD_BASE = Path(__file__).resolve().parent / "programs" / "prod"


def secret_arn(name: str) -> str:
    return f"arn:aws:secretsmanager:us-east-1:000000000000:secret:{name}-Ab12Cd"


class ProviderMocks(OfflineMocks):
    """Test double for the AWS provider: what AWS would compute (ids, ARNs, the ALB's name, the
    launch template's version, the SSM value), which a preview cannot know; lookups are recorded."""

    def __init__(self) -> None:
        super().__init__()
        self.invokes: list[tuple[str, dict[str, Any]]] = []

    def new_resource(self, args: mocks.MockResourceArgs) -> tuple[str | None, dict]:
        resource_id, state = super().new_resource(args)
        if args.typ == "aws:secretsmanager/secret:Secret":
            state = {**state, "arn": secret_arn(args.inputs["name"])}
        elif args.typ in ("aws:ec2/subnet:Subnet", SECURITY_GROUP):
            resource_id = f"{'subnet' if 'subnet' in args.typ else 'sg'}-{args.name}"
        elif args.typ == LAUNCH_TEMPLATE:
            resource_id = "lt-0123456789abcdef0"
            state = {**state, "latestVersion": LT_VERSION}
        elif args.typ == "aws:lb/loadBalancer:LoadBalancer":
            state = {**state, "dnsName": ALB_DNS, "arnSuffix": ALB_SUFFIX}
        elif args.typ == "aws:lb/targetGroup:TargetGroup":
            state = {**state, "arn": TG_ARN, "arnSuffix": TG_SUFFIX}
        elif args.typ == "aws:iam/instanceProfile:InstanceProfile":
            state = {**state, "arn": "arn:aws:iam::000000000000:instance-profile/vllm-instance-profile"}
        return resource_id, state

    def call(self, args: mocks.MockCallArgs) -> tuple[dict, list[tuple[str, str]] | None]:
        self.invokes.append((args.token, dict(args.args)))
        answer, failures = super().call(args)
        if args.token == "aws:ssm/getParameter:getParameter":
            answer = {**answer, "value": SSM_AMI, "insecureValue": SSM_AMI}
        return answer, failures


def prod(
    program: Path = PROD_BASE,
    *,
    token: bool = False,
    api_key: bool = True,
    mock: mocks.Mocks | None = None,
    **config: str,
) -> ProgramRun:
    values = {f"llmdeploy:{key}": value for key, value in config.items()}
    secret_keys = []
    if token:
        values["llmdeploy:hfToken"] = CANARY_TOKEN
        secret_keys.append("llmdeploy:hfToken")
    if api_key:
        values["llmdeploy:apiKey"] = CANARY_API_KEY
        secret_keys.append("llmdeploy:apiKey")
    if mock is None and program == PROD_BASE:
        return _run_of_the_committed_program(tuple(sorted(values.items())), tuple(secret_keys))
    return run_program(program, "prod", config=values, secret_keys=secret_keys, mock=mock or ProviderMocks())


@functools.cache
def _run_of_the_committed_program(
    values: tuple[tuple[str, str], ...], secret_keys: tuple[str, ...]
) -> ProgramRun:
    """One run per configuration of the committed program, shared by the tests that ask for it (a
    run is a program in its own process: about 1.5 s); tests only read a run."""
    return run_program(
        PROD_BASE, "prod", config=dict(values), secret_keys=list(secret_keys), mock=ProviderMocks()
    )


def refusal(**config: str) -> str:
    with pytest.raises(ProgramRefused) as caught:
        prod(**config)
    return str(caught.value)


def user_data(run: ProgramRun) -> str:
    return base64.b64decode(str(inputs(one(run, LAUNCH_TEMPLATE))["userData"])).decode()


def docker_run_line(run: ProgramRun) -> list[str]:
    lines = [line for line in user_data(run).splitlines() if line.startswith("exec docker run ")]
    assert len(lines) == 1, f"expected one docker run line in the user data, found {lines}"
    return shlex.split(lines[0].removeprefix("exec "))


def after(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


def named(run: ProgramRun, type_: str, name: str) -> dict[str, Any]:
    return inputs(one(run, type_, name))


def outputs(run: ProgramRun) -> dict[str, Any]:
    return dict(plan_document(run)["outputs"])


@pytest.fixture
def registrations(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Resource options as the engine receives them (ignoreChanges, deleteBeforeReplace): the
    recorded plan keeps inputs only, so this wraps the real monitor's RegisterResource."""
    seen: dict[str, Any] = {}
    original = engine.MonitorService.RegisterResource

    def spy(self: engine.MonitorService, request: Any, context: Any) -> Any:
        seen[request.name] = request
        return original(self, request, context)

    monkeypatch.setattr(engine.MonitorService, "RegisterResource", spy)
    # The spy sees only runs that happen: none of the shared runs made before it.
    _run_of_the_committed_program.cache_clear()
    return seen


# ---------------------------------------------------------------------------
# 1. Network: the ALB in public subnets, instances in private subnets (NAT or endpoints)


def test_alb_in_public_subnets_instances_in_private_subnets_across_two_zones() -> None:
    run = prod()
    alb = named(run, "aws:lb/loadBalancer:LoadBalancer", "api-alb")
    asg = named(run, ASG, "vllm-asg")
    assert alb["subnets"] == ["subnet-network-public-us-east-1a", "subnet-network-public-us-east-1b"]
    assert asg["vpcZoneIdentifiers"] == [
        "subnet-network-private-us-east-1a",
        "subnet-network-private-us-east-1b",
    ], "instances must sit in private subnets in two zones"
    assert alb["internal"] is False
    # The default prod network gives private subnets a way out for Docker Hub and the HF hub.
    assert len(of_type(run, "aws:ec2/natGateway:NatGateway")) == 1


def test_vpc_endpoints_when_asked() -> None:
    run = prod(vpcEndpoints="true")
    services = {
        str(inputs(r)["serviceName"]).rsplit(".", 1)[-1]
        for r in of_type(run, "aws:ec2/vpcEndpoint:VpcEndpoint")
    }
    assert {"secretsmanager", "dkr", "api", "s3", "ssm", "logs", "monitoring"} <= services


# ---------------------------------------------------------------------------
# 2. Launch template, instance role and user data


def test_launch_template_boots_the_dlami_from_ssm_with_imdsv2_and_an_encrypted_gp3_root() -> None:
    mock = ProviderMocks()
    run = prod(mock=mock)
    template = named(run, LAUNCH_TEMPLATE, "vllm-lt")
    lookups = [args["name"] for token, args in mock.invokes if token == "aws:ssm/getParameter:getParameter"]
    assert lookups == [DLAMI_PARAMETER]
    assert template["imageId"] == SSM_AMI
    assert template["instanceType"] == "g5.xlarge"
    assert template["metadataOptions"] == {
        "httpEndpoint": "enabled",
        "httpTokens": "required",
        "httpPutResponseHopLimit": 2,
    }
    (root,) = template["blockDeviceMappings"]
    assert root["deviceName"] == "/dev/xvda", "the AL2023 DLAMI's root device"
    assert root["ebs"] == {
        "volumeSize": 75 + 25 + 23 + 10,
        "volumeType": "gp3",
        "encrypted": "true",
        "deleteOnTermination": "true",
    }, "DLAMI + vLLM image + one A10G's worth of weights + headroom"
    assert template["iamInstanceProfile"] == {
        "arn": "arn:aws:iam::000000000000:instance-profile/vllm-instance-profile"
    }
    assert "keyName" not in template, "no key pair: shell access is SSM Session Manager"


def test_an_explicit_ami_skips_the_lookup_and_the_ssm_ami_is_not_followed(
    registrations: dict[str, Any],
) -> None:
    mock = ProviderMocks()
    run = prod(mock=mock, amiId="ami-0123456789abcdef0", rootDeviceName="/dev/sda1")
    template = named(run, LAUNCH_TEMPLATE, "vllm-lt")
    assert template["imageId"] == "ami-0123456789abcdef0"
    assert template["blockDeviceMappings"][0]["deviceName"] == "/dev/sda1"
    assert [t for t, _ in mock.invokes if t == "aws:ssm/getParameter:getParameter"] == []
    assert list(registrations["vllm-lt"].ignoreChanges) == []
    prod()
    assert list(registrations["vllm-lt"].ignoreChanges) == ["imageId"], (
        "an AMI from the SSM parameter must not roll the fleet on every DLAMI release"
    )


def test_instance_role_reads_exactly_the_two_secrets() -> None:
    run = prod(token=True, modelNeedsToken="true")
    names = sorted(inputs(r)["name"] for r in of_type(run, "aws:secretsmanager/secret:Secret"))
    assert names == ["llmdeploy/prod/hf-token", "llmdeploy/prod/vllm-api-key"]
    for version in of_type(run, "aws:secretsmanager/secretVersion:SecretVersion"):
        assert inputs(version)["secretString"] == "[secret]", version.urn
    policy = json.loads(named(run, "aws:iam/rolePolicy:RolePolicy", "vllm-instance-read-secrets")["policy"])
    assert policy == secret_read_policy([secret_arn(name) for name in names])
    attached = sorted(
        inputs(r)["policyArn"].rsplit("/", 1)[1]
        for r in of_type(run, "aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    )
    # No CloudWatch agent: the collector's statements are exact (`vllm-instance-collector`).
    assert attached == ["AmazonSSMManagedInstanceCore"]
    # Without a token the role reads the API key only.
    alone = json.loads(named(prod(), "aws:iam/rolePolicy:RolePolicy", "vllm-instance-read-secrets")["policy"])
    assert alone == secret_read_policy([secret_arn("llmdeploy/prod/vllm-api-key")])


def test_the_exact_docker_run_line() -> None:
    assert shlex.join(docker_run_line(prod(token=True, modelNeedsToken="true"))) == (
        "docker run --gpus all --ipc=host -p 8000:8000 "
        "-v /opt/llmdeploy/huggingface:/root/.cache/huggingface "
        "-v /opt/llmdeploy/vllm-cache:/root/.cache/vllm "
        "--env-file /run/llmdeploy-vllm/secrets.env -e DO_NOT_TRACK=1 "
        "-e VLLM_HTTP_TIMEOUT_KEEP_ALIVE=305 -e VLLM_NO_USAGE_STATS=1 "
        "--name llmdeploy-vllm --rm --log-driver awslogs --log-opt awslogs-group=/llmdeploy/prod/vllm "
        "--log-opt mode=non-blocking --log-opt max-buffer-size=4m vllm/vllm-openai:v0.30.0 "
        "Qwen/Qwen2.5-7B-Instruct --served-model-name qwen2.5-7b-instruct --port 8000 "
        "--tensor-parallel-size 1 --max-model-len 8192 --gpu-memory-utilization 0.9 --max-num-seqs 128 "
        "--generation-config vllm --shutdown-timeout 120 --sse-keep-alive-interval 15"
    )


def test_settings_reach_the_engine_flags() -> None:
    argv = docker_run_line(
        prod(
            instanceType="g6e.12xlarge",
            servedModelName="qwen-7b",
            maxModelLen="32768",
            gpuMemoryUtilization="0.92",
            maxNumSeqs="256",
            generationConfig="auto",
            shutdownTimeout="300",
            idleTimeoutSeconds="900",
            otlpEndpoint="grpc://otel-collector.internal:4317",
        )
    )
    assert after(argv, "--tensor-parallel-size") == "4", "every GPU of the instance"
    assert after(argv, "--served-model-name") == "qwen-7b"
    assert after(argv, "--max-model-len") == "32768"
    assert after(argv, "--gpu-memory-utilization") == "0.92"
    assert after(argv, "--max-num-seqs") == "256"
    assert after(argv, "--generation-config") == "auto"
    assert after(argv, "--shutdown-timeout") == "300"
    assert after(argv, "--otlp-traces-endpoint") == "grpc://otel-collector.internal:4317"
    assert "VLLM_HTTP_TIMEOUT_KEEP_ALIVE=905" in argv, "keep-alive above the ALB idle timeout"
    assert "OTEL_SERVICE_NAME=vllm" in argv


def test_an_image_pinned_by_tag_and_digest_keeps_its_version_flags() -> None:
    image = "vllm/vllm-openai:v0.30.0@sha256:" + "ab" * 32
    argv = docker_run_line(prod(image=image))
    assert image in argv and after(argv, "--shutdown-timeout") == "120"


def test_secrets_are_fetched_by_name_and_the_unit_outlasts_the_drain() -> None:
    script = user_data(prod(token=True, modelNeedsToken="true", shutdownTimeout="300"))
    assert "fetch_secret VLLM_API_KEY llmdeploy/prod/vllm-api-key" in script
    assert "fetch_secret HF_TOKEN llmdeploy/prod/hf-token" in script
    assert "ExecStop=/usr/bin/docker stop --time 310 llmdeploy-vllm" in script
    assert "TimeoutStopSec=340" in script and "Restart=on-failure" in script


def test_user_data_sends_this_groups_metrics_to_cloudwatch_through_the_collector() -> None:
    script = user_data(prod())
    assert '"AutoScalingGroupName": "llmdeploy-prod-vllm"' in script
    assert (
        '"namespace": "llmdeploy/vllm"' in script
        and '"log_group_name": "/llmdeploy/prod/vllm-metrics"' in script
    )
    assert json.dumps("^vllm:num_requests_waiting\\z") in script
    assert json.dumps("^vllm:kv_cache_usage_perc\\z") in script
    assert "gpu_cache_usage_perc" not in script, "removed in vLLM 0.12"
    # The latency histograms go whole over OTLP; no CloudWatch agent, no publisher of our own.
    assert '"otlp_http/cloudwatch"' in script and "latency" in script
    assert "amazon-cloudwatch-agent" not in script and "latency_emf" not in script


def test_user_data_passes_shellcheck(tmp_path: Path) -> None:
    shellcheck(user_data(prod(token=True, modelNeedsToken="true")), tmp_path, "user-data.sh")
    shellcheck(user_data(prod(otlpEndpoint="grpc://otel:4317")), tmp_path, "user-data-otlp.sh")


# ---------------------------------------------------------------------------
# 3. Auto Scaling group


def test_group_capacity_health_checks_and_rolling_refresh(registrations: dict[str, Any]) -> None:
    run = prod(minSize="2", desiredCapacity="3", maxSize="6")
    asg = named(run, ASG, "vllm-asg")
    assert (asg["minSize"], asg["desiredCapacity"], asg["maxSize"]) == (2, 3, 6)
    assert asg["name"] == "llmdeploy-prod-vllm"
    assert asg["healthCheckType"] == "ELB"
    assert asg["targetGroupArns"] == [TG_ARN]
    assert asg["instanceRefresh"] == {
        "strategy": "Rolling",
        "preferences": {
            "minHealthyPercentage": 100,
            "maxHealthyPercentage": 200,
            "instanceWarmup": str(asg["healthCheckGracePeriod"]),
        },
    }
    assert asg["launchTemplate"] == {"id": "lt-0123456789abcdef0", "version": str(LT_VERSION)}, (
        "the template's latest_version, never $Latest: a refresh does not start with $Latest"
    )
    assert "$Latest" not in json.dumps(asg)
    request = registrations["vllm-asg"]
    assert list(request.ignoreChanges) == ["desiredCapacity"], "the autoscaler owns desired capacity"
    assert request.deleteBeforeReplace, "a fixed name cannot exist twice"


def test_grace_period_derived_from_the_model_never_under_600_and_overridable() -> None:
    small = named(prod(), ASG, "vllm-asg")["healthCheckGracePeriod"]
    large = named(
        prod(model="meta-llama/Llama-3.1-70B-Instruct", instanceType="p4d.24xlarge"), ASG, "vllm-asg"
    )["healthCheckGracePeriod"]
    assert 600 <= small < large, (small, large)
    assert named(prod(healthCheckGraceSeconds="1800"), ASG, "vllm-asg")["healthCheckGracePeriod"] == 1800
    assert (
        named(prod(healthCheckGraceSeconds="1800", model="acme/private-model"), ASG, "vllm-asg")[
            "healthCheckGracePeriod"
        ]
        == 1800
    )
    assert refusal(healthCheckGraceSeconds="300") == (
        "llmdeploy:healthCheckGraceSeconds: found '300'; accepted: a number of at least 600"
    )


def test_grace_period_from_the_planners_weights_and_from_the_name_only_for_unknown_models() -> None:
    g5 = gpu_instance_type("g5.xlarge")
    assert g5 is not None
    phi = "microsoft/Phi-3-mini-4k-instruct"  # 3.8B parameters; its name states no size
    grace = named(prod(model=phi, maxModelLen="4096"), ASG, "vllm-asg")["healthCheckGracePeriod"]
    assert grace == health_check_grace_seconds(weight_bytes(resolve_model(phi)), g5) == 840
    assert grace < health_check_grace_seconds(weight_bytes_from_name(phi, g5, 0.9), g5), (
        "the name-based guess budgets all the GPU memory for a name without a size"
    )
    # A model the planner cannot size (offline, not bundled): the name's guess is the fallback.
    unknown = named(prod(model="acme/private-8B"), ASG, "vllm-asg")["healthCheckGracePeriod"]
    assert unknown == health_check_grace_seconds(weight_bytes_from_name("acme/private-8B", g5, 0.9), g5)
    assert unknown == health_check_grace_seconds(16 * 10**9, g5)


def test_warm_pool_when_asked_with_user_data_that_runs_at_every_boot() -> None:
    run = prod(warmPool="true", warmPoolMinSize="1")
    asg = named(run, ASG, "vllm-asg")
    assert asg["warmPool"] == {
        "poolState": "Stopped",
        "minSize": 1,
        "instanceReusePolicy": {"reuseOnScaleIn": True},
    }
    assert "mixedInstancesPolicy" not in asg
    # Warm instances are stopped as soon as they launch: the bootstrap must finish on a later boot.
    parts = email.message_from_string(user_data(run)).get_payload()
    assert "[scripts-user, always]" in parts[0].get_payload()
    assert "exec docker run --gpus all" in parts[1].get_payload()
    assert not user_data(prod()).startswith("Content-Type"), "plain script without a warm pool"


def test_spot_through_a_mixed_instances_policy_with_an_on_demand_base() -> None:
    asg = named(
        prod(useSpot="true", onDemandBaseCapacity="1", spotInstanceTypes='["g6.xlarge"]'), ASG, "vllm-asg"
    )
    assert "launchTemplate" not in asg and "warmPool" not in asg
    assert asg["capacityRebalance"] is True
    policy = asg["mixedInstancesPolicy"]
    assert policy["instancesDistribution"] == {
        "onDemandBaseCapacity": 1,
        "onDemandPercentageAboveBaseCapacity": 0,
        "spotAllocationStrategy": "price-capacity-optimized",
    }
    template = policy["launchTemplate"]
    assert template["launchTemplateSpecification"] == {
        "launchTemplateId": "lt-0123456789abcdef0",
        "version": str(LT_VERSION),
    }
    assert [o["instanceType"] for o in template["overrides"]] == ["g5.xlarge", "g6.xlarge"]


# ---------------------------------------------------------------------------
# 4. Load balancer


def test_https_with_a_certificate_and_http_redirected() -> None:
    run = prod(certificateArn=CERT, allowPlainHttp="false")
    https = named(run, LISTENER, "api-https")
    assert (https["port"], https["protocol"], https["certificateArn"]) == (443, "HTTPS", CERT)
    assert https["sslPolicy"].startswith("ELBSecurityPolicy-TLS13")
    redirect = named(run, LISTENER, "api-http-redirect")
    assert (redirect["port"], redirect["protocol"]) == (80, "HTTP")
    assert redirect["defaultActions"] == [
        {"type": "redirect", "redirect": {"protocol": "HTTPS", "port": "443", "statusCode": "HTTP_301"}}
    ]
    forward_listener = one(run, "aws:lb/listenerRule:ListenerRule").property_dependencies["listenerArn"]
    assert forward_listener == [one(run, LISTENER, "api-https").urn], "rules sit on the HTTPS listener"
    assert len(of_type(run, LISTENER)) == 2


def test_plain_http_only_when_allowed_and_no_certificate() -> None:
    run = prod()
    (listener,) = [inputs(r) for r in of_type(run, LISTENER)]
    assert (listener["port"], listener["protocol"]) == (80, "HTTP")
    assert "certificateArn" not in listener


def test_only_v1_and_health_are_forwarded_everything_else_is_404() -> None:
    run = prod(certificateArn=CERT)
    https = named(run, LISTENER, "api-https")
    assert https["defaultActions"] == [
        {
            "type": "fixed-response",
            "fixedResponse": {"contentType": "text/plain", "messageBody": "Not Found", "statusCode": "404"},
        }
    ], "/metrics and every other path must answer 404 at the load balancer"
    rule = named(run, "aws:lb/listenerRule:ListenerRule", "api-forward")
    assert rule["conditions"] == [{"pathPattern": {"values": ["/v1/*", "/health"]}}]
    assert rule["actions"] == [{"type": "forward", "targetGroupArn": TG_ARN}]


def test_alb_streaming_timeout_and_header_hygiene() -> None:
    alb = named(prod(), "aws:lb/loadBalancer:LoadBalancer", "api-alb")
    assert alb["idleTimeout"] == 300 and alb["dropInvalidHeaderFields"] is True
    assert (
        named(prod(idleTimeoutSeconds="1200"), "aws:lb/loadBalancer:LoadBalancer", "api-alb")["idleTimeout"]
        == 1200
    )


def test_internet_facing_alb_is_protected_and_logs_to_its_own_bucket() -> None:
    run = prod()
    alb = named(run, "aws:lb/loadBalancer:LoadBalancer", "api-alb")
    assert alb["internal"] is False and alb["enableDeletionProtection"] is True
    assert alb["accessLogs"] == {"bucket": "[computed]", "prefix": "alb", "enabled": True}
    bucket = one(run, "aws:s3/bucket:Bucket", "api-access-logs-bucket")
    assert (
        bucket.urn
        in one(run, "aws:lb/loadBalancer:LoadBalancer", "api-alb").property_dependencies["accessLogs"]
    ), "the ALB logs to the bucket the stack creates"
    encryption = named(
        run,
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "api-access-logs-encryption",
    )
    assert encryption["rules"][0]["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "AES256"}
    blocked = named(
        run, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "api-access-logs-public-access"
    )
    assert all(
        blocked[key] is True for key in ("blockPublicAcls", "blockPublicPolicy", "restrictPublicBuckets")
    )


def test_access_log_policy_lets_only_elb_delivery_write_under_the_prefix() -> None:
    document = json.loads(
        access_log_policy("arn:aws:s3:::logs", "alb", "123456789012", "arn:aws:iam::127311923021:root")
    )
    writers = [s for s in document["Statement"] if s["Effect"] == "Allow"]
    assert {json.dumps(s["Principal"], sort_keys=True) for s in writers} == {
        '{"AWS": "arn:aws:iam::127311923021:root"}',
        '{"Service": "logdelivery.elasticloadbalancing.amazonaws.com"}',
    }
    assert {s["Resource"] for s in writers} == {"arn:aws:s3:::logs/alb/AWSLogs/123456789012/*"}
    assert all(s["Action"] == "s3:PutObject" for s in writers)
    deny = [s for s in document["Statement"] if s["Effect"] == "Deny"]
    assert deny and deny[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_target_group_on_8000_health_checked_and_draining_at_least_the_engine() -> None:
    group = named(prod(shutdownTimeout="300"), "aws:lb/targetGroup:TargetGroup", "api-tg")
    assert (group["port"], group["protocol"], group["targetType"]) == (8000, "HTTP", "instance")
    assert group["healthCheck"]["path"] == "/health" and group["healthCheck"]["matcher"] == "200"
    assert group["deregistrationDelay"] == 300, "in-flight streams get the whole drain"
    assert group["deregistrationDelay"] >= 120


def group_rules(run: ProgramRun, type_: str, group: str) -> list[dict[str, Any]]:
    """The separate rule resources (components/security_group.py) of the group named `group`."""
    assert "ingress" not in named(run, SECURITY_GROUP, group), "rules are separate resources, never inline"
    return [inputs(r) for r in of_type(run, type_) if r.name.startswith(f"{group}-")]


def test_alb_security_group_admits_only_configured_clients() -> None:
    run = prod(certificateArn=CERT, apiAllowedCidrs='["0.0.0.0/0"]')
    ingress = group_rules(run, INGRESS_RULE, "api-sg")
    assert sorted((r["fromPort"], r["cidrIpv4"]) for r in ingress) == [(80, "0.0.0.0/0"), (443, "0.0.0.0/0")]
    (egress,) = group_rules(run, EGRESS_RULE, "api-sg")
    assert (egress["fromPort"], egress["toPort"], egress["cidrIpv4"]) == (8000, 8000, "10.40.0.0/16")


# ---------------------------------------------------------------------------
# 5. Autoscaling policy


def test_target_tracking_on_queue_depth_per_instance() -> None:
    policy = named(prod(targetQueueDepthPerInstance="3"), POLICY, "vllm-scaling")
    assert policy["policyType"] == "TargetTrackingScaling"
    assert policy["autoscalingGroupName"] == "llmdeploy-prod-vllm"
    assert policy["targetTrackingConfiguration"] == {
        "targetValue": 3,
        "customizedMetricSpecification": {
            "namespace": "llmdeploy/vllm",
            "metricName": "vllm:num_requests_waiting",
            "metricDimensions": [{"name": "AutoScalingGroupName", "value": "llmdeploy-prod-vllm"}],
            "statistic": "Average",
        },
    }


def test_alb_request_count_per_target_as_the_alternative() -> None:
    policy = named(prod(scalingMetric="alb_requests", targetRequestsPerInstance="40"), POLICY, "vllm-scaling")
    assert policy["targetTrackingConfiguration"] == {
        "targetValue": 40,
        "predefinedMetricSpecification": {
            "predefinedMetricType": "ALBRequestCountPerTarget",
            "resourceLabel": f"{ALB_SUFFIX}/{TG_SUFFIX}",
        },
    }


# ---------------------------------------------------------------------------
# 6. Observability and the instances' exposure


def test_instances_take_the_api_from_the_alb_only_and_metrics_from_monitoring_only() -> None:
    run = prod(
        monitoringCidrs='["10.40.0.0/16", "10.50.0.0/16"]', monitoringSecurityGroupId="sg-0123456789abcdef0"
    )
    ingress = group_rules(run, INGRESS_RULE, "vllm-sg")
    sources = sorted(
        (rule["fromPort"], rule.get("cidrIpv4") or rule["referencedSecurityGroupId"]) for rule in ingress
    )
    # vLLM's own port (8000) from the load balancer alone: it answers /invocations without the key.
    # Monitoring scrapes the collector's re-exposition on 9464.
    assert sources == [
        (8000, "sg-api-sg"),
        (9464, "10.40.0.0/16"),
        (9464, "10.50.0.0/16"),
        (9464, "sg-0123456789abcdef0"),
    ]
    assert "0.0.0.0/0" not in json.dumps(ingress) and '"fromPort": 22' not in json.dumps(ingress)


def test_a_prometheus_workspace_gets_remote_write_and_exactly_that_permission() -> None:
    workspace = "arn:aws:aps:us-east-1:123456789012:workspace/ws-0123abcd-4567-89ef-0123-456789abcdef"
    run = prod(prometheusWorkspaceArn=workspace)
    policy = json.loads(named(run, "aws:iam/rolePolicy:RolePolicy", "vllm-instance-collector")["policy"])
    assert policy["Statement"] == [
        *CLOUDWATCH_STATEMENTS,
        {"Effect": "Allow", "Action": "aps:RemoteWrite", "Resource": workspace},
        ENGINE_LOG_STATEMENT,
    ]
    script = user_data(run)
    assert '"prometheusremotewrite": {' in script
    assert (
        "https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-0123abcd-4567-89ef-0123-456789abcdef/api/v1/remote_write"
        in script
    )
    # Without a workspace, the inline policy holds CloudWatch's statements and the engine log driver's.
    alone = json.loads(named(prod(), "aws:iam/rolePolicy:RolePolicy", "vllm-instance-collector")["policy"])
    assert alone["Statement"] == [*CLOUDWATCH_STATEMENTS, ENGINE_LOG_STATEMENT]


def test_otlp_headers_from_a_secret_and_x_ray_in_the_plan() -> None:
    run = prod(
        otlpEndpoint="https://otel.example.com:4317",
        otlpHeadersSecretName="team/otlp-headers",
        tracesToXray="true",
    )
    # The collector's policy: X-Ray's two write actions, nothing else (beside CloudWatch's and the
    # engine's log driver).
    collector = json.loads(named(run, "aws:iam/rolePolicy:RolePolicy", "vllm-instance-collector")["policy"])
    assert collector["Statement"] == [
        *CLOUDWATCH_STATEMENTS,
        {"Effect": "Allow", "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], "Resource": "*"},
        ENGINE_LOG_STATEMENT,
    ]
    # The headers secret is read by this role, by its ARN in this account and region, and no other.
    secrets = json.loads(named(run, "aws:iam/rolePolicy:RolePolicy", "vllm-instance-read-secrets")["policy"])
    resources = json.dumps(secrets)
    assert re.search(r"arn:aws:secretsmanager:[a-z0-9-]+:\d{12}:secret:team/otlp-headers-\?{6}", resources)
    script = user_data(run)
    assert "fetch_secret LLMDEPLOY_OTLP_HEADERS team/otlp-headers" in script
    assert '"headers": "${env:LLMDEPLOY_OTLP_HEADERS}"' in script
    assert '"awsxray": {}' in script
    # vLLM sends its traces to the collector through Docker's bridge, not to the endpoint itself.
    assert "--otlp-traces-endpoint grpc://172.17.0.1:4317" in script
    assert "--otlp-traces-endpoint https://otel.example.com" not in script
    # No header value anywhere in the plan (the secret is not the stack's: it holds none).
    assert "Bearer" not in json.dumps(plan_document(run))


def test_otlp_headers_need_an_endpoint_and_x_ray_needs_vllm() -> None:
    with pytest.raises(
        Exception, match=r"llmdeploy:otlpHeadersSecretName: found 'team/h' without otlpEndpoint"
    ):
        prod(otlpHeadersSecretName="team/h")
    with pytest.raises(Exception, match=r"llmdeploy:tracesToXray: found true with engine sglang"):
        prod(tracesToXray="true", engine="sglang")


def test_no_monitoring_configured_means_only_the_alb() -> None:
    ingress = group_rules(prod(monitoringCidrs="[]"), INGRESS_RULE, "vllm-sg")
    assert [rule.get("referencedSecurityGroupId") for rule in ingress] == ["sg-api-sg"]


def test_instances_carry_prometheus_ec2_discovery_tags() -> None:
    run = prod()
    tags = {t["key"]: (t["value"], t["propagateAtLaunch"]) for t in named(run, ASG, "vllm-asg")["tags"]}
    assert tags["llmdeploy:prometheus-scrape"] == ("true", True)
    assert tags["prometheus.io/port"] == ("9464", True)
    assert tags["prometheus.io/path"] == ("/metrics", True)
    instance_tags = named(run, LAUNCH_TEMPLATE, "vllm-lt")["tagSpecifications"][0]
    assert instance_tags["resourceType"] == "instance"
    assert instance_tags["tags"]["llmdeploy:prometheus-scrape"] == "true"


def test_alarms_on_5xx_unhealthy_hosts_p99_and_queue_depth() -> None:
    run = prod(alarmTopicArns='["arn:aws:sns:us-east-1:123456789012:oncall"]', alarmP99ResponseSeconds="45")
    alarms = {inputs(a)["name"].removeprefix("llmdeploy-prod-vllm-"): inputs(a) for a in of_type(run, ALARM)}
    assert set(alarms) == {"alb-5xx", "target-5xx", "unhealthy-hosts", "p99-response-time", "queue-depth"}
    assert alarms["alb-5xx"]["metricName"] == "HTTPCode_ELB_5XX_Count"
    assert alarms["alb-5xx"]["dimensions"] == {"LoadBalancer": ALB_SUFFIX}
    assert alarms["target-5xx"]["metricName"] == "HTTPCode_Target_5XX_Count"
    unhealthy = alarms["unhealthy-hosts"]
    assert unhealthy["metricName"] == "UnHealthyHostCount"
    assert unhealthy["dimensions"] == {"LoadBalancer": ALB_SUFFIX, "TargetGroup": TG_SUFFIX}
    grace = named(run, ASG, "vllm-asg")["healthCheckGracePeriod"]
    assert unhealthy["evaluationPeriods"] * unhealthy["period"] > grace, "a loading instance must not page"
    p99 = alarms["p99-response-time"]
    assert (p99["metricName"], p99["extendedStatistic"], p99["threshold"]) == (
        "TargetResponseTime",
        "p99",
        45,
    )
    queue = alarms["queue-depth"]
    assert (queue["namespace"], queue["metricName"]) == ("llmdeploy/vllm", "vllm:num_requests_waiting")
    assert queue["dimensions"] == {"AutoScalingGroupName": "llmdeploy-prod-vllm"}
    for name, alarm in alarms.items():
        assert alarm["alarmActions"] == ["arn:aws:sns:us-east-1:123456789012:oncall"], name


def test_dashboard_shows_ttft_queue_kv_cache_and_tokens_per_second() -> None:
    run = prod()
    dashboard = named(run, "aws:cloudwatch/dashboard:Dashboard", "observability-dashboard")
    assert dashboard["dashboardName"] == "llmdeploy-prod-vllm"
    body = json.loads(dashboard["dashboardBody"])
    graphs = [w for w in body["widgets"] if w["type"] == "metric"]
    titles = {w["properties"]["title"]: w["properties"] for w in graphs}
    text = json.dumps(body)
    [latency] = [w["properties"]["markdown"] for w in body["widgets"] if w["type"] == "text"]
    assert (
        'histogram_quantile(0.99, sum(rate(vllm:time_to_first_token_seconds{AutoScalingGroupName="llmdeploy-prod-vllm"}[5m])))'
        in latency
    )
    assert "vllm:num_requests_waiting" in json.dumps(titles["Queue depth per instance"])
    assert "vllm:kv_cache_usage_perc" in json.dumps(titles["KV-cache usage (fraction of blocks)"])
    tokens = json.dumps(titles["Tokens per second (fleet)"])
    assert "vllm:generation_tokens_total" in tokens and "PERIOD(generated)" in tokens
    assert "gpu_cache_usage_perc" not in text, "removed in vLLM 0.12"
    assert all(w["properties"]["region"] == "us-east-1" for w in graphs)
    log_group = named(run, "aws:cloudwatch/logGroup:LogGroup", "observability-metrics-logs")
    assert log_group["name"] == "/llmdeploy/prod/vllm-metrics" and log_group["retentionInDays"] == 30


# ---------------------------------------------------------------------------
# 7. Outputs


def test_outputs_with_https() -> None:
    result = outputs(prod(certificateArn=CERT))
    assert set(result.pop("capacity")) >= {"kv_cache_tokens", "concurrent_sequences", "cost_per_hour_usd"}
    assert result == {
        "endpoint": f"https://{ALB_DNS}/v1",
        # The served name, derived from the model when unset (what clients send).
        "model": "qwen2.5-7b-instruct",
        "engine": "vllm",
        "health_url": f"https://{ALB_DNS}/health",
        "metrics_url": "http://<instance private IP>:9464/metrics",
        "asg_name": "llmdeploy-prod-vllm",
        "target_group_arn": TG_ARN,
    }


def test_outputs_with_plain_http_and_a_served_name() -> None:
    result = outputs(prod(servedModelName="qwen-7b"))
    assert result["endpoint"] == f"http://{ALB_DNS}/v1"
    assert result["health_url"] == f"http://{ALB_DNS}/health"
    assert result["model"] == "qwen-7b", "clients send the served name"


# ---------------------------------------------------------------------------
# 7b. Capacity (the planner, llmdeploy.core.capacity): what cannot serve is a settings error, the plan
# shows KV tokens, concurrent sequences and the cost per hour at minSize and maxSize

LLAMA_8B = "meta-llama/Llama-3.1-8B-Instruct"
LLAMA_70B = "meta-llama/Llama-3.1-70B-Instruct"
# The longest multiple of 256 with which one Llama-3.1-8B sequence fits one A10G at vLLM 0.9/128.
LLAMA_8B_ON_A10G = 21248


def prod_program_without(tmp_path: Path, key: str) -> Path:
    """The test base program with `key` left out: a run's config can add keys, not remove them."""
    program = tmp_path / "prod-program"
    program.mkdir()
    for name in ("Pulumi.yaml", "__main__.py"):
        (program / name).symlink_to(REPO / name)
    lines = (PROD_BASE / "Pulumi.prod.yaml").read_text().splitlines(keepends=True)
    kept = [line for line in lines if not line.strip().startswith(f"llmdeploy:{key}:")]
    assert len(kept) == len(lines) - 1, f"the test base sets llmdeploy:{key} once"
    (program / "Pulumi.prod.yaml").write_text("".join(kept))
    return program


def test_prod_exports_its_capacity_and_the_cost_at_min_and_max_size() -> None:
    capacity = outputs(prod())["capacity"]
    expected = assess_capacity(
        CapacityRequest(
            model="Qwen/Qwen2.5-7B-Instruct",
            instance_type="g5.xlarge",
            engine="vllm",
            max_model_len=8192,
            gpu_memory_utilization=0.9,
            max_num_seqs=128,
            min_size=2,
            max_size=4,
        )
    ).output()
    decisions = capacity.pop("cold_start_decisions")
    assert capacity == json.loads(json.dumps(expected)), "the plan must show the planner's figures"
    assert decisions["health_check_grace_seconds"] == named(prod(), ASG, "vllm-asg")["healthCheckGracePeriod"]
    assert (capacity["engine"], capacity["max_model_len"], capacity["max_model_len_source"]) == (
        "vllm",
        8192,
        "set",
    )
    assert capacity["concurrent_sequences"] == capacity["kv_cache_tokens"] // 8192 >= 1
    # minSize 2 and maxSize 4 g5.xlarge at $1.006/h.
    assert capacity["cost_per_hour_usd"] == {
        "min": 2.012,
        "max": 4.024,
        "instances": [2, 4],
        "region": "us-east-1",
    }
    smaller = outputs(prod(minSize="1", maxSize="6", gpuMemoryUtilization="0.8"))["capacity"]
    assert smaller["cost_per_hour_usd"] == {
        "min": 1.006,
        "max": 6.036,
        "instances": [1, 6],
        "region": "us-east-1",
    }
    assert smaller["kv_cache_tokens"] < capacity["kv_cache_tokens"], "the utilization the engine gets"


def test_prod_refuses_a_max_model_len_the_kv_cache_cannot_hold() -> None:
    line = refusal(model=LLAMA_8B, maxModelLen="131072")
    assert line.startswith(
        f"llmdeploy:maxModelLen: found 131072; accepted: at most {LLAMA_8B_ON_A10G} tokens on g5.xlarge "
        "(Llama-3.1-8B-Instruct on 1 x A10G: one 131072-token sequence needs 16.00 GiB of KV cache per "
        "GPU, 2.61 GiB is left after 14.99 GiB of weights), or an instance type that fits: g6e.xlarge "
        "(1 x L40S 45776 MiB, $1.861/h, "
    ), line
    # The settings' shape is fine: the resolve step refuses it, with the same one line.
    config = minimal_prod_config(model=LLAMA_8B, maxModelLen="131072", apiKey=CANARY_API_KEY)
    settings = load_settings("prod", config, {"llmdeploy:apiKey"})
    with pytest.raises(SettingsError) as caught:
        resolve(settings, "llmdeploy")
    assert caught.value.problems == [line], "one line, as every settings problem"


def test_prod_refuses_a_model_whose_weights_overflow_the_gpus() -> None:
    line = refusal(model=LLAMA_70B)
    assert line.startswith(
        "llmdeploy:instanceType: found 'g5.xlarge'; accepted: an instance type whose GPUs hold "
        "Llama-3.1-70B-Instruct's 131.45 GiB of weights per GPU and one 8192-token sequence "
        "(1 x A10G leave 17.39 GiB per GPU): g6e.12xlarge (4 x L40S 45776 MiB, $10.4926/h, "
    ), line
    assert "\n" not in line


def test_an_unset_max_model_len_is_chosen_to_fit_and_is_what_vllm_runs_with(tmp_path: Path) -> None:
    program = prod_program_without(tmp_path, "maxModelLen")
    run = prod(program, model=LLAMA_8B)
    capacity = outputs(run)["capacity"]
    assert (capacity["max_model_len"], capacity["max_model_len_source"]) == (
        LLAMA_8B_ON_A10G,
        "chosen to fit",
    )
    assert after(docker_run_line(run), "--max-model-len") == str(LLAMA_8B_ON_A10G)
    assert capacity["kv_cache_tokens"] >= LLAMA_8B_ON_A10G, "one sequence of the chosen length fits"
    planner = assess_capacity(
        CapacityRequest(
            model=LLAMA_8B, instance_type="g5.xlarge", gpu_memory_utilization=0.9, max_num_seqs=128
        )
    )
    assert planner.max_model_len == LLAMA_8B_ON_A10G and planner.max_model_len_chosen
    # A model whose own context fits gets its own (Qwen2.5-7B: 32768).
    qwen = prod(program)
    assert after(docker_run_line(qwen), "--max-model-len") == "32768"
    assert outputs(qwen)["capacity"]["max_model_len"] == 32768


def test_an_unset_max_model_len_needs_a_model_the_planner_can_size(tmp_path: Path) -> None:
    with pytest.raises(ProgramRefused) as caught:
        prod(prod_program_without(tmp_path, "maxModelLen"), model="acme/private-model")
    line = str(caught.value)
    assert line.startswith(
        "llmdeploy:maxModelLen: found nothing, and the capacity planner cannot size 'acme/private-model' "
        "to choose it (acme/private-model: not bundled, not cached, and the hub is off limits (offline); "
    ), line
    assert line.endswith("; accepted: a length in tokens, e.g. `pulumi config set maxModelLen 8192`")
    assert "\n" not in line
    # Set, it is a warning and an unknown capacity (as staging): the planner cannot check it.
    run = prod(model="acme/private-model")
    assert outputs(run)["capacity"]["unknown"].startswith("llmdeploy:model: found 'acme/private-model'")
    assert any(
        level == "warning" and message.startswith("capacity not estimated, so not checked:")
        for level, message in run.log
    ), run.log


def test_every_spot_instance_type_is_checked_with_the_groups_flags(tmp_path: Path) -> None:
    # One launch template, so one --max-model-len for every Spot pool. Both types have 8 x 80 GiB,
    # but vLLM profiles 8192 batched tokens on the H100 and 2048 on the A100: at a low utilization
    # the p5 holds fewer KV tokens than the p4de.
    group = {
        "model": LLAMA_70B,
        "instanceType": "p4de.24xlarge",
        "gpuMemoryUtilization": "0.3",
        "useSpot": "true",
        "spotInstanceTypes": '["p5.48xlarge"]',
    }
    assert outputs(prod(**{**group, "useSpot": "false", "maxModelLen": "86016"}))["capacity"]["verdict"] == (
        "fits: 1 concurrent sequence of 86016 tokens"
    )
    line = refusal(**group, maxModelLen="86016")
    assert line.startswith(
        "llmdeploy:maxModelLen: found 86016; accepted: at most 77568 tokens on p5.48xlarge "
        "(Llama-3.1-70B-Instruct on 8 x H100: one 86016-token sequence needs 3.28 GiB of KV cache per GPU, "
    ), line
    # Unset, the length is the longest that every type of the group fits.
    program = prod_program_without(tmp_path, "maxModelLen")
    alone = outputs(prod(program, **{**group, "useSpot": "false"}))["capacity"]
    assert alone["max_model_len"] == 86016
    run = prod(program, **group)
    capacity = outputs(run)["capacity"]
    assert (capacity["max_model_len"], capacity["max_model_len_source"]) == (77568, "chosen to fit")
    assert capacity["instance_type"] == "p4de.24xlarge"
    assert after(docker_run_line(run), "--max-model-len") == "77568"


# ---------------------------------------------------------------------------
# 8. Secrets never in plaintext


def test_canaries_are_absent_from_every_plan_format_user_data_and_plaintext_inputs() -> None:
    run = prod(token=True, modelNeedsToken="true")
    script = user_data(run)
    document = plan_document(run)
    for canary in (CANARY_TOKEN, CANARY_API_KEY):
        assert canary not in script, "a secret value reached the user data"
        for fmt in FORMATS:
            assert canary not in render(document, fmt), f"a secret leaked into the {fmt} plan"
        leaks = [text for text in plaintext_strings(run) if canary in text]
        assert leaks == [], f"a secret leaked outside a secret: {leaks}"
        assert all(canary not in message for _, message in run.log)


def test_canaries_are_absent_from_errors() -> None:
    with pytest.raises(ProgramRefused) as caught:
        prod(token=True, instanceType="m5.xlarge", maxSize="0")
    assert CANARY_TOKEN not in str(caught.value) and CANARY_API_KEY not in str(caught.value)
    with pytest.raises(SettingsError) as refused:
        load_settings("prod", minimal_prod_config(apiKey=CANARY_API_KEY, hfToken=CANARY_TOKEN, maxSize="0"))
    assert CANARY_API_KEY not in str(refused.value) and CANARY_TOKEN not in str(refused.value)


# ---------------------------------------------------------------------------
# Settings refused before any resource is declared: one line each


@pytest.mark.parametrize(
    ("config", "line"),
    [
        (
            {"allowPlainHttp": "false"},
            "llmdeploy:certificateArn: found nothing, and allowPlainHttp is false; accepted: an ACM "
            "certificate ARN for HTTPS, or allowPlainHttp true to serve plain HTTP (API key and prompts "
            "in clear text)",
        ),
        (
            {"certificateArn": "arn:aws:iam::123456789012:server-certificate/x"},
            "llmdeploy:certificateArn: found 'arn:aws:iam::123456789012:server-certificate/x'; accepted: "
            "an ACM certificate ARN such as arn:aws:acm:us-east-1:123456789012:certificate/...",
        ),
        (
            {"idleTimeoutSeconds": "60"},
            "llmdeploy:idleTimeoutSeconds: found '60'; accepted: a number of at least 300",
        ),
        (
            {"minSize": "3", "maxSize": "2"},
            "llmdeploy:minSize: found minSize=3, desiredCapacity=3, maxSize=2; accepted: minSize <= "
            "desiredCapacity <= maxSize",
        ),
        (
            {"desiredCapacity": "5"},
            "llmdeploy:desiredCapacity: found minSize=2, desiredCapacity=5, maxSize=4; accepted: minSize "
            "<= desiredCapacity <= maxSize",
        ),
        (
            {"minSize": "0"},
            "llmdeploy:minSize: found '0'; accepted: a number greater than 0",
        ),
        (
            {"gpuMemoryUtilization": "0.99"},
            "llmdeploy:gpuMemoryUtilization: found '0.99'; accepted: a number of at most 0.95",
        ),
        (
            {"useSpot": "true", "warmPool": "true"},
            "llmdeploy:warmPool: found true with useSpot true; accepted: one of them: EC2 Auto Scaling "
            "does not combine a warm pool with a mixed instances (Spot) policy",
        ),
        (
            {"useSpot": "true", "spotInstanceTypes": '["g5.12xlarge"]'},
            "llmdeploy:spotInstanceTypes: found 'g5.12xlarge' (4 x 22 GiB); accepted: types with the "
            "GPU count of g5.xlarge (1) and at least 22 GiB per GPU: the tensor-parallel size is fixed "
            "per launch template",
        ),
        (
            {"scalingMetric": "cpu"},
            "llmdeploy:scalingMetric: found 'cpu'; accepted: one of 'queue_depth' or 'alb_requests'",
        ),
        (
            {"apiAllowedCidrs": "[]"},
            "llmdeploy:apiAllowedCidrs: found []; accepted: at least one CIDR that may reach the load "
            "balancer (0.0.0.0/0 for a public API, which the API key then guards)",
        ),
        (
            {"monitoringCidrs": '["10.40.0.0/16", "0.0.0.0/0"]'},
            "llmdeploy:monitoringCidrs: found ['10.40.0.0/16', '0.0.0.0/0'] (3,702,258,688 public IPv4 "
            "addresses); "
            "accepted: the monitoring networks only, never the internet (more than a /8 of public IPv4 space, or a /16 "
            "of public IPv6 space): the metrics port is never public (it re-exposes every engine series, for monitoring only)",
        ),
        (
            # The internet split in halves is still the internet: measured by address space.
            {"monitoringCidrs": '["0.0.0.0/1", "128.0.0.0/1"]'},
            "llmdeploy:monitoringCidrs: found ['0.0.0.0/1', '128.0.0.0/1'] (3,702,258,688 public IPv4 "
            "addresses); "
            "accepted: the monitoring networks only, never the internet (more than a /8 of public IPv4 space, or a /16 "
            "of public IPv6 space): the metrics port is never public (it re-exposes every engine series, for monitoring only)",
        ),
        (
            {"natGateway": "false"},
            "llmdeploy:natGateway: found false with vpcEndpoints false; accepted: natGateway true (Docker "
            "Hub, the Hugging Face hub), or vpcEndpoints true with the image in ECR and weights the "
            "instances can reach",
        ),
        (
            {"image": "vllm/vllm-openai:v0.17.1"},
            "llmdeploy:image: found 'vllm/vllm-openai:v0.17.1'; accepted: vLLM 0.18 or later: earlier "
            "releases abort in-flight requests on SIGTERM (no --shutdown-timeout), so every scale-in or "
            "refresh would cut streams",
        ),
        (
            {"image": "vllm/vllm-openai:latest"},
            "llmdeploy:image: found 'vllm/vllm-openai:latest'; accepted: an image pinned by a version tag "
            "or a digest (not `latest`, not untagged)",
        ),
        (
            {"maxModelLen": "0"},
            "llmdeploy:maxModelLen: found '0'; accepted: a number greater than 0",
        ),
        (
            {"shutdownTimeout": "7200"},
            "llmdeploy:shutdownTimeout: found '7200'; accepted: a number of at most 3600",
        ),
        (
            {"prometheusWorkspaceArn": "ws-1234"},
            "llmdeploy:prometheusWorkspaceArn: found 'ws-1234'; accepted: an Amazon Managed Prometheus "
            "workspace ARN such as arn:aws:aps:us-east-1:123456789012:workspace/ws-0123abcd-4567-89ef-0123-"
            "456789abcdef",
        ),
        (
            {"alarmTopicArns": '["oncall"]'},
            "llmdeploy:alarmTopicArns.0: found 'oncall'; accepted: an SNS topic ARN such as "
            "arn:aws:sns:us-east-1:123456789012:oncall",
        ),
    ],
)
def test_bad_settings_stop_the_program_with_one_line(config: dict[str, str], line: str) -> None:
    assert refusal(**config) == line


def minimal_prod_config(**extra: str) -> dict[str, str]:
    config = {
        "model": "Qwen/Qwen2.5-7B-Instruct",
        "instanceType": "g5.xlarge",
        "maxModelLen": "8192",
        "allowPlainHttp": "true",
        "apiAllowedCidrs": '["203.0.113.0/24"]',
        **extra,
    }
    return {f"llmdeploy:{key}": value for key, value in config.items()}


def test_an_api_key_is_required_and_must_be_a_secret() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings("prod", minimal_prod_config())
    assert caught.value.problems == [
        "llmdeploy:apiKey: found nothing; accepted: a value (required): API key clients send as "
        "`Authorization: Bearer ...` (vLLM VLLM_API_KEY; guards /v1/*), as a secret: `pulumi config "
        "set --secret apiKey ...`. Required: the endpoint is on the internet."
    ]
    with pytest.raises(SettingsError) as caught:
        load_settings("prod", minimal_prod_config(apiKey=CANARY_API_KEY))
    (line,) = caught.value.problems
    assert line == (
        "llmdeploy:apiKey: found a plaintext value ([secret] not shown); accepted: a secret, set with "
        "`pulumi config set --secret apiKey ...`"
    )
    settings = load_settings("prod", minimal_prod_config(apiKey=CANARY_API_KEY), {"llmdeploy:apiKey"})
    assert isinstance(settings, ProdSettings) and CANARY_API_KEY not in repr(settings)


# ---------------------------------------------------------------------------
# The committed example and the command


def test_committed_example_plans_cleanly() -> None:
    # Pulumi.prod.yaml holds `secure:` placeholders: the plan masks them and never decrypts them.
    run = run_program(REPO, "prod", mock=ProviderMocks())
    template = named(run, LAUNCH_TEMPLATE, "vllm-lt")
    assert template["instanceType"] == "g5.2xlarge"
    script = base64.b64decode(template["userData"]).decode()
    assert "vllm/vllm-openai:v0.30.0 meta-llama/Llama-3.1-8B-Instruct --served-model-name" in script
    assert "fetch_secret HF_TOKEN llmdeploy/prod/hf-token" in script
    assert outputs(run)["model"] == "llama-3.1-8b-instruct"


def test_every_key_the_example_documents_is_a_prod_setting() -> None:
    text = (REPO / "Pulumi.prod.yaml").read_text()
    documented = set(re.findall(r"^\s*#?\s*llmdeploy:(\w+):", text, flags=re.MULTILINE))
    known = {info.alias or name for name, info in ProdSettings.model_fields.items()}
    assert documented - known == set(), "Pulumi.prod.yaml documents keys the settings do not accept"
    assert len(documented) > 40


def test_llmdeploy_plan_prod_json_shows_the_stack(capsys: pytest.CaptureFixture[str]) -> None:
    assert llmdeploy_main(["plan", "prod", "--program", str(REPO), "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    types = {resource["type"] for resource in document["resources"]}
    assert {
        "llmdeploy:components:Network",
        "llmdeploy:components:ManagedSecret",
        "llmdeploy:components:InstanceRole",
        "llmdeploy:components:ServingLoadBalancer",
        "llmdeploy:components:VllmCluster",
        "llmdeploy:components:ServingObservability",
        LAUNCH_TEMPLATE,
        ASG,
        POLICY,
        LISTENER,
        "aws:lb/listenerRule:ListenerRule",
        "aws:lb/targetGroup:TargetGroup",
        ALARM,
        "aws:cloudwatch/dashboard:Dashboard",
    } <= types
    assert set(document["outputs"]) == {
        "endpoint",
        "model",
        "engine",
        "health_url",
        "metrics_url",
        "asg_name",
        "target_group_arn",
        "capacity",
    }
    assert document["outputs"]["engine"] == "vllm"
    # The committed example: Llama-3.1-8B at 8192 tokens on one A10G, 2 to 4 g5.2xlarge.
    capacity = document["outputs"]["capacity"]
    assert capacity["max_model_len"] == 8192 and capacity["concurrent_sequences"] >= 1
    assert capacity["cost_per_hour_usd"] == {
        "min": 2.424,
        "max": 4.848,
        "instances": [2, 4],
        "region": "us-east-1",
    }


# ---------------------------------------------------------------------------
# The engine's own logs: Docker's awslogs driver into the stack's log group


def test_the_engines_output_goes_to_its_log_group_kept_thirty_days() -> None:
    run = prod(token=True, modelNeedsToken="true")
    group = named(run, "aws:cloudwatch/logGroup:LogGroup", "engine-logs")
    assert group["name"] == "/llmdeploy/prod/vllm" and group["retentionInDays"] == 30
    argv = docker_run_line(run)
    options = [argv[index + 1] for index, word in enumerate(argv) if word == "--log-opt"]
    assert after(argv, "--log-driver") == "awslogs"
    # No region (the instance's own), no stream (the container's id), no create-group (the stack's).
    assert options == ["awslogs-group=/llmdeploy/prod/vllm", "mode=non-blocking", "max-buffer-size=4m"]
    # The cluster waits for the group, as for the role's policies: the driver refuses to start the
    # engine without it.
    cluster = one(run, "llmdeploy:components:VllmCluster")
    assert any(dependency.endswith("LogGroup::engine-logs") for dependency in cluster.dependencies)
    # No secret among the options.
    assert CANARY_TOKEN not in " ".join(argv) and CANARY_API_KEY not in " ".join(argv)


@pytest.mark.parametrize("engine", ["vllm", "sglang", "tgi"])
def test_the_policy_packs_reader_sees_the_image_and_the_engines_arguments_past_the_log_options(
    engine: str,
) -> None:
    from llmpolicies.userdata import read_user_data

    run = prod(engine=engine)
    argv = docker_run_line(run)
    (docker_run,) = read_user_data(user_data(run), base64_encoded=False).docker_runs
    image_at = argv.index(str(docker_run.image.text if docker_run.image else None))
    assert argv[image_at - 1] == "max-buffer-size=4m", "the image follows the last log option"
    assert [word.text for word in docker_run.command] == argv[image_at + 1 :]
