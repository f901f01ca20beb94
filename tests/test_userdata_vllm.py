"""The vLLM instance user data as a pure function: exact command line, units, agent config, shellcheck."""

from __future__ import annotations

import email
import json
from dataclasses import replace
from pathlib import Path

import pytest

from llmdeploy.core.collector import COLLECTOR_CONFIG_PATH, collector_config
from llmdeploy.core.engines import VLLM, VllmOptions
from llmdeploy.core.userdata import (
    USER_DATA_LIMIT_BYTES,
    fetch_secrets_script,
    service_docker_argv,
    start_script,
    systemd_unit,
)
from llmdeploy.core.userdata_vllm import (
    MetricsPublishing,
    VllmUserDataArgs,
    collector_args,
    keep_alive_seconds,
    render_vllm_user_data,
    vllm_container_service,
)
from tests.support import shellcheck


def options(**overrides: object) -> VllmOptions:
    base = VllmOptions(
        model="meta-llama/Llama-3.1-8B-Instruct",
        served_model_name="llama-3.1-8b",
        tensor_parallel_size=4,
        max_model_len=16384,
        gpu_memory_utilization=0.9,
        max_num_seqs=64,
        http_keep_alive_seconds=keep_alive_seconds(300),
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


def user_data_args(**overrides: object) -> VllmUserDataArgs:
    base = VllmUserDataArgs(
        image=f"vllm/vllm-openai:{VLLM.default_tag}",
        options=options(),
        api_key_secret_name="llmdeploy/prod/vllm-api-key",
        hf_token_secret_name="llmdeploy/prod/hf-token",
        metrics=MetricsPublishing(
            namespace="llmdeploy/vllm",
            log_group="/llmdeploy/prod/vllm-metrics",
            dimensions={"AutoScalingGroupName": "llmdeploy-prod-vllm"},
        ),
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


def docker_run_argv(args: VllmUserDataArgs) -> list[str]:
    return service_docker_argv(vllm_container_service(args))


def test_docker_run_line_is_exactly_the_production_one() -> None:
    assert docker_run_argv(user_data_args()) == [
        "docker", "run", "--gpus", "all", "--ipc=host",
        "-p", "8000:8000",
        "-v", "/opt/llmdeploy/huggingface:/root/.cache/huggingface",
        "-v", "/opt/llmdeploy/vllm-cache:/root/.cache/vllm",
        # HF_TOKEN and VLLM_API_KEY, fetched by name at every start into tmpfs (mode 600).
        "--env-file", "/run/llmdeploy-vllm/secrets.env",
        "-e", "DO_NOT_TRACK=1",
        "-e", "VLLM_HTTP_TIMEOUT_KEEP_ALIVE=305",
        "-e", "VLLM_NO_USAGE_STATS=1",
        "--name", "llmdeploy-vllm", "--rm",
        f"vllm/vllm-openai:{VLLM.default_tag}",
        "meta-llama/Llama-3.1-8B-Instruct",
        "--served-model-name", "llama-3.1-8b",
        "--port", "8000",
        "--tensor-parallel-size", "4",
        "--max-model-len", "16384",
        "--gpu-memory-utilization", "0.9",
        "--max-num-seqs", "64",
        "--generation-config", "vllm",
        "--shutdown-timeout", "120",
    ]  # fmt: skip


def test_tracing_adds_the_endpoint_and_a_service_name() -> None:
    argv = docker_run_argv(user_data_args(options=options(otlp_traces_endpoint="grpc://otel.internal:4317")))
    assert argv[-2:] == ["--otlp-traces-endpoint", "grpc://otel.internal:4317"]
    assert "OTEL_SERVICE_NAME=vllm" in argv
    assert "--otlp-traces-endpoint" not in docker_run_argv(user_data_args())


def test_generation_config_auto_only_when_asked() -> None:
    argv = docker_run_argv(user_data_args(options=options(generation_config="auto")))
    assert argv[argv.index("--generation-config") + 1] == "auto"


def test_keep_alive_outlasts_the_load_balancer_idle_timeout() -> None:
    for idle in (60, 300, 4000):
        assert keep_alive_seconds(idle) > idle


def test_stop_timeouts_sit_above_the_drain() -> None:
    args = user_data_args(options=options(shutdown_timeout=300))
    service = vllm_container_service(args)
    argv = docker_run_argv(args)
    assert argv[argv.index("--shutdown-timeout") + 1] == "300"
    assert service.systemd_stop_seconds > service.docker_stop_seconds > 300
    unit = systemd_unit(service)
    assert f"ExecStop=/usr/bin/docker stop --time {service.docker_stop_seconds} llmdeploy-vllm" in unit
    assert f"TimeoutStopSec={service.systemd_stop_seconds}" in unit
    assert "Restart=on-failure" in unit


def test_vllm_before_the_drain_flag_is_refused() -> None:
    with pytest.raises(ValueError, match=r"before 0\.18 aborts in-flight requests"):
        render_vllm_user_data(user_data_args(options=options(image_tag="v0.17.1")))


def test_secrets_are_fetched_by_name_into_a_root_only_env_file() -> None:
    script = render_vllm_user_data(user_data_args())
    assert "fetch_secret VLLM_API_KEY llmdeploy/prod/vllm-api-key" in script
    assert "fetch_secret HF_TOKEN llmdeploy/prod/hf-token" in script
    assert "ExecStartPre=/usr/local/libexec/llmdeploy/llmdeploy-vllm-fetch-secrets" in script
    assert "set -x" not in script and "--api-key" not in script
    no_token = render_vllm_user_data(user_data_args(hf_token_secret_name=None))
    assert "HF_TOKEN" not in no_token and "hf-token" not in no_token
    assert "fetch_secret VLLM_API_KEY" in no_token


def test_the_collector_sends_the_autoscaling_signals_and_the_latency_histograms() -> None:
    config = collector_config(collector_args(user_data_args().metrics))
    (job,) = config["receivers"]["prometheus"]["config"]["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    assert job["static_configs"] == [
        {"targets": ["127.0.0.1:8000"], "labels": {"AutoScalingGroupName": "llmdeploy-prod-vllm"}}
    ]
    emf = config["exporters"]["awsemf"]
    assert emf["namespace"] == "llmdeploy/vllm"
    (declaration,) = emf["metric_declarations"]
    assert declaration["dimensions"] == [["AutoScalingGroupName"]]
    selectors = declaration["metric_name_selectors"]
    for signal in ("vllm:num_requests_waiting", "vllm:num_requests_running", "vllm:kv_cache_usage_perc"):
        assert f"^{signal}\\z" in selectors
    assert "^vllm:generation_tokens_total\\z" in selectors
    assert not any("gpu_cache_usage_perc" in s for s in selectors), "removed in vLLM 0.12"
    # The four latency histograms, whole, to CloudWatch over OTLP; none as an EMF statistic set.
    condition = config["processors"]["filter/latency-histograms"]["metrics"]["metric"][0]
    for family in ("time_to_first_token", "inter_token_latency", "e2e_request_latency", "request_queue_time"):
        assert f'name != "vllm:{family}_seconds"' in condition
        assert not any(family in s for s in selectors)


def _heredoc(script: str, opening: str) -> str:
    start = script.index(opening) + len(opening) + 1
    return script[start : script.index("\nLLMDEPLOY_EOF", start)]


def test_user_data_writes_the_configs_it_describes() -> None:
    args = user_data_args()
    script = render_vllm_user_data(args)
    written = json.loads(_heredoc(script, f"cat > {COLLECTOR_CONFIG_PATH} <<'LLMDEPLOY_EOF'"))
    assert written == collector_config(collector_args(args.metrics))
    assert "systemctl start --no-block llmdeploy-vllm.service" in script
    assert "systemctl restart otelcol-contrib.service" in script
    assert "amazon-cloudwatch-agent" not in script


def test_user_data_is_deterministic_and_within_the_ec2_limit() -> None:
    args = user_data_args(options=options(otlp_traces_endpoint="grpc://otel.observability.internal:4317"))
    script = render_vllm_user_data(args)
    assert script == render_vllm_user_data(args)
    assert len(script.encode()) < USER_DATA_LIMIT_BYTES, len(script.encode())


def test_every_boot_wraps_the_same_script_in_cloud_init_mime() -> None:
    plain = render_vllm_user_data(user_data_args())
    wrapped = render_vllm_user_data(user_data_args(every_boot=True))
    message = email.message_from_string(wrapped)
    assert message.get_content_type() == "multipart/mixed"
    config, script = message.get_payload()
    assert config.get_content_type() == "text/cloud-config"
    assert config.get_payload() == "#cloud-config\ncloud_final_modules:\n- [scripts-user, always]\n"
    assert script.get_content_type() == "text/x-shellscript"
    assert script.get_payload() == plain, "the every-boot script must be the first-boot script"
    assert len(wrapped.encode()) < USER_DATA_LIMIT_BYTES


@pytest.mark.parametrize(
    "args",
    [
        user_data_args(),
        user_data_args(hf_token_secret_name=None),
        user_data_args(options=options(otlp_traces_endpoint="grpc://otel:4317", generation_config="auto")),
    ],
    ids=["token", "no-token", "tracing"],
)
def test_user_data_passes_shellcheck(args: VllmUserDataArgs, tmp_path: Path) -> None:
    script = render_vllm_user_data(args)
    assert script.startswith("#!/bin/bash\n") and "set -euo pipefail" in script
    shellcheck(script, tmp_path, "user-data.sh")
    service = vllm_container_service(args)
    shellcheck(fetch_secrets_script(service), tmp_path, "fetch-secrets.sh")
    shellcheck(start_script(service), tmp_path, "start.sh")
