"""User data for a vLLM serving instance: pure functions, tested directly (and through shellcheck).

The script is known at preview: it is built from settings and names (the
secrets' names, the Auto Scaling group's name), never from resource ids or
secret values, so reviewers and policies read it in the plan. It

1. fetches the API key and the Hugging Face token from Secrets Manager by name
   into a root-only env file that `docker run --env-file` reads (the values
   never appear in user data, on a command line or in the unit);
2. installs a systemd unit running the pinned `vllm/vllm-openai` image, with a
   stop timeout above vLLM's drain (`--shutdown-timeout`), so a scale-in or an
   instance refresh lets in-flight streams finish;
3. configures the CloudWatch agent to scrape `/metrics` (Prometheus support,
   into CloudWatch through EMF) for queue-depth autoscaling, alarms and the
   dashboard, and starts the latency publisher for the histograms the agent
   cannot carry (see `llmdeploy/instance/latency_emf.py`).
"""

from __future__ import annotations

import base64
import gzip
import json
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from llmdeploy.engines import VLLM, VllmOptions, vllm_arguments, vllm_drains, vllm_environment

CONTAINER_NAME = "vllm"
UNIT_NAME = "llmdeploy-vllm"
LATENCY_UNIT_NAME = "llmdeploy-vllm-latency"
ENV_FILE = "/etc/llmdeploy/vllm.env"
HF_CACHE_DIR = "/opt/llmdeploy/huggingface"
COMPILE_CACHE_DIR = "/opt/llmdeploy/vllm-cache"
COMPILE_CACHE_MOUNT = "/root/.cache/vllm"
LATENCY_SCRIPT_PATH = "/opt/llmdeploy/latency_emf.py"
CWAGENT_DIR = "/opt/aws/amazon-cloudwatch-agent"
CWAGENT_CONFIG_PATH = f"{CWAGENT_DIR}/etc/llmdeploy-vllm.json"
PROMETHEUS_CONFIG_PATH = f"{CWAGENT_DIR}/etc/llmdeploy-prometheus.yaml"
PROMETHEUS_JOB = "vllm"
# The agent's EMF listener (`logs.metrics_collected.emf`), loopback only.
EMF_LISTENER = "127.0.0.1:25888"

# Where the container's keep-alive must sit above the load balancer's idle
# timeout: a target that closes first turns the balancer's next reuse into a 502.
KEEP_ALIVE_MARGIN_SECONDS = 5
# Docker stops the container `--time` seconds after SIGTERM; systemd waits a
# little longer for `docker stop` itself. Both sit above vLLM's drain.
CONTAINER_STOP_MARGIN_SECONDS = 30
UNIT_STOP_MARGIN_SECONDS = 60

# What the CloudWatch agent carries from vLLM's `/metrics` into CloudWatch
# (ENGINE_FACTS: autoscaling signals and token counters). Counters arrive as
# the increase since the previous scrape. `vllm:gpu_cache_usage_perc` was
# removed in 0.12: `vllm:kv_cache_usage_perc` replaces it.
SCRAPED_METRICS: Mapping[str, str] = {
    "vllm:num_requests_waiting": "Count",
    "vllm:num_requests_running": "Count",
    "vllm:kv_cache_usage_perc": "None",  # a fraction, 0 to 1
    "vllm:prompt_tokens_total": "Count",
    "vllm:generation_tokens_total": "Count",
    "vllm:request_success_total": "Count",
    "vllm:num_preemptions_total": "Count",
}
QUEUE_DEPTH_METRIC = "vllm:num_requests_waiting"


@dataclass(frozen=True)
class MetricsPublishing:
    """Where the instance publishes vLLM's metrics in CloudWatch."""

    namespace: str
    log_group: str
    # CloudWatch dimensions every metric carries, e.g. {"AutoScalingGroupName": "llmdeploy-prod-vllm"}:
    # averaging over them gives the per-instance value that target tracking needs.
    dimensions: Mapping[str, str]
    scrape_interval_seconds: int = 60


@dataclass(frozen=True)
class VllmUserDataArgs:
    image: str
    options: VllmOptions
    api_key_secret_name: str
    hf_token_secret_name: str | None
    metrics: MetricsPublishing
    extra_environment: Mapping[str, str] = field(default_factory=dict)


def keep_alive_seconds(idle_timeout_seconds: int) -> int:
    """uvicorn keep-alive for a target behind a balancer with this idle timeout."""
    return idle_timeout_seconds + KEEP_ALIVE_MARGIN_SECONDS


def container_stop_seconds(drain_seconds: int) -> int:
    return drain_seconds + CONTAINER_STOP_MARGIN_SECONDS


def unit_stop_seconds(drain_seconds: int) -> int:
    return drain_seconds + UNIT_STOP_MARGIN_SECONDS


def shell_join(argv: Sequence[str]) -> str:
    return " ".join(shlex.quote(arg) for arg in argv)


def docker_run_argv(args: VllmUserDataArgs) -> list[str]:
    """The `docker run` command line, engine flags from `vllm_arguments`."""
    environment = {**vllm_environment(args.options), **args.extra_environment}
    argv = [
        "/usr/bin/docker", "run", "--rm",
        "--name", CONTAINER_NAME,
        "--runtime", "nvidia",
        "--gpus", "all",
        # vLLM's docs: tensor-parallel workers share memory through /dev/shm;
        # Docker's default 64 MB ends in `ncclSystemError`.
        "--ipc=host",
        "-p", f"{VLLM.container_port}:{VLLM.container_port}",
        "-v", f"{HF_CACHE_DIR}:{VLLM.cache_mount}",
        "-v", f"{COMPILE_CACHE_DIR}:{COMPILE_CACHE_MOUNT}",
        # HF_TOKEN and VLLM_API_KEY: written at boot, mode 600, never on a command line.
        "--env-file", ENV_FILE,
    ]  # fmt: skip
    for key, value in sorted(environment.items()):
        argv += ["-e", f"{key}={value}"]
    # docker stop's default is 10 s: far shorter than a drain.
    argv += ["--stop-timeout", str(container_stop_seconds(args.options.shutdown_timeout))]
    argv += [args.image, *vllm_arguments(args.options)]
    return argv


def systemd_quote(argv: Sequence[str]) -> str:
    """A command line for ExecStart=: shell-style quoting, with systemd's `%` and `$` escaped."""
    return shell_join(argv).replace("%", "%%").replace("$", "$$")


def vllm_unit(args: VllmUserDataArgs) -> str:
    drain = args.options.shutdown_timeout
    return "\n".join(
        [
            "[Unit]",
            f"Description=vLLM OpenAI-compatible server ({args.options.served_model_name})",
            "After=docker.service network-online.target",
            "Requires=docker.service",
            "Wants=network-online.target",
            "",
            "[Service]",
            "Type=simple",
            f"ExecStartPre=-/usr/bin/docker rm --force {CONTAINER_NAME}",
            f"ExecStart={systemd_quote(docker_run_argv(args))}",
            # SIGTERM, then vLLM stops taking requests and drains for up to
            # --shutdown-timeout seconds before docker kills it.
            f"ExecStop=/usr/bin/docker stop --time {container_stop_seconds(drain)} {CONTAINER_NAME}",
            f"TimeoutStopSec={unit_stop_seconds(drain)}",
            # docker run pulls a multi-gigabyte image on first start.
            "TimeoutStartSec=infinity",
            "Restart=on-failure",
            "RestartSec=15",
            "",
            "[Install]",
            "WantedBy=multi-user.target",
            "",
        ]
    )


def prometheus_scrape_config(metrics: MetricsPublishing) -> dict[str, Any]:
    """The agent's Prometheus scrape configuration (written as JSON, which is YAML)."""
    return {
        "global": {"scrape_interval": f"{metrics.scrape_interval_seconds}s", "scrape_timeout": "10s"},
        "scrape_configs": [
            {
                "job_name": PROMETHEUS_JOB,
                "metrics_path": VLLM.metrics_path,
                "static_configs": [
                    {
                        "targets": [f"127.0.0.1:{VLLM.metrics_port}"],
                        # Static labels become the CloudWatch dimensions below.
                        "labels": dict(metrics.dimensions),
                    }
                ],
            }
        ],
    }


def cloudwatch_agent_config(metrics: MetricsPublishing) -> dict[str, Any]:
    """CloudWatch agent configuration: Prometheus scrape into EMF, plus the EMF listener."""
    return {
        "logs": {
            "metrics_collected": {
                "prometheus": {
                    "log_group_name": metrics.log_group,
                    "prometheus_config_path": PROMETHEUS_CONFIG_PATH,
                    "emf_processor": {
                        "metric_declaration_dedup": True,
                        "metric_namespace": metrics.namespace,
                        "metric_unit": dict(SCRAPED_METRICS),
                        "metric_declaration": [
                            {
                                "source_labels": ["job"],
                                "label_matcher": f"^{PROMETHEUS_JOB}$",
                                "dimensions": [sorted(metrics.dimensions)],
                                "metric_selectors": [f"^{name}$" for name in SCRAPED_METRICS],
                            }
                        ],
                    },
                },
                # For latency_emf.py: histograms do not survive the Prometheus path.
                "emf": {},
            },
            "force_flush_interval": 15,
        }
    }


def latency_script() -> str:
    return resources.files("llmdeploy").joinpath("instance/latency_emf.py").read_text()


def latency_unit(metrics: MetricsPublishing) -> str:
    argv = [
        "/usr/bin/python3",
        LATENCY_SCRIPT_PATH,
        "--metrics-url",
        f"http://127.0.0.1:{VLLM.metrics_port}{VLLM.metrics_path}",
        "--namespace",
        metrics.namespace,
        "--log-group",
        metrics.log_group,
        "--agent",
        EMF_LISTENER,
        "--interval",
        str(metrics.scrape_interval_seconds),
    ]
    for name, value in sorted(metrics.dimensions.items()):
        argv += ["--dimension", f"{name}={value}"]
    return "\n".join(
        [
            "[Unit]",
            "Description=vLLM latency percentiles to CloudWatch (llmdeploy)",
            "After=amazon-cloudwatch-agent.service",
            "",
            "[Service]",
            f"ExecStart={systemd_quote(argv)}",
            "Restart=always",
            "RestartSec=30",
            "",
            "[Install]",
            "WantedBy=multi-user.target",
            "",
        ]
    )


def _heredoc(path: str, content: str, mode: str, delimiter: str = "LLMDEPLOY_EOF") -> list[str]:
    if any(line == delimiter for line in content.splitlines()):
        raise ValueError(f"{path}: content contains the heredoc delimiter {delimiter}")
    body = content if content.endswith("\n") else content + "\n"
    return [
        f"install -d -m 755 {shlex.quote(path.rsplit('/', 1)[0])}",
        f"cat > {shlex.quote(path)} <<'{delimiter}'",
        body + delimiter,
        f"chmod {mode} {shlex.quote(path)}",
    ]


def _secret_lines(args: VllmUserDataArgs) -> list[str]:
    secrets = [("VLLM_API_KEY", args.api_key_secret_name)]
    if args.hf_token_secret_name:
        secrets.append(("HF_TOKEN", args.hf_token_secret_name))
    lines = [
        "# Secrets by name from Secrets Manager into a root-only env file; values never echoed.",
        "imds_token=$(curl -fsS -X PUT http://169.254.169.254/latest/api/token "
        "-H 'X-aws-ec2-metadata-token-ttl-seconds: 300')",
        'region=$(curl -fsS -H "X-aws-ec2-metadata-token: ${imds_token}" '
        "http://169.254.169.254/latest/meta-data/placement/region)",
        f"install -d -m 700 {shlex.quote(ENV_FILE.rsplit('/', 1)[0])}",
        "umask 077",
        f": > {shlex.quote(ENV_FILE)}",
    ]
    for variable, name in secrets:
        lines += [
            f'secret_value=$(aws secretsmanager get-secret-value --region "${{region}}" '
            f"--secret-id {shlex.quote(name)} --query SecretString --output text)",
            f"printf '%s=%s\\n' {variable} \"${{secret_value}}\" >> {shlex.quote(ENV_FILE)}",
        ]
    lines += ["unset secret_value", f"chmod 600 {shlex.quote(ENV_FILE)}", "umask 022"]
    return lines


def _compressed_file(path: str, content: str, mode: str) -> list[str]:
    """A file shipped gzip+base64: user data is capped at 16 KiB, and this one is a program."""
    # mtime=0: the same source gives the same bytes, so the launch template only
    # changes when the program does.
    packed = base64.b64encode(gzip.compress(content.encode(), compresslevel=9, mtime=0)).decode()
    wrapped = [packed[i : i + 76] for i in range(0, len(packed), 76)]
    return [
        f"install -d -m 755 {shlex.quote(path.rsplit('/', 1)[0])}",
        f"base64 -d <<'LLMDEPLOY_EOF' | gunzip > {shlex.quote(path)}",
        *wrapped,
        "LLMDEPLOY_EOF",
        f"chmod {mode} {shlex.quote(path)}",
    ]


def _cloudwatch_agent_lines(metrics: MetricsPublishing) -> list[str]:
    ctl = f"{CWAGENT_DIR}/bin/amazon-cloudwatch-agent-ctl"
    return [
        "# The CloudWatch agent: from the distribution's repository where it has one (Amazon Linux),",
        "# else AWS's package for Ubuntu from the region's bucket.",
        f"if [ ! -x {ctl} ]; then",
        "  if command -v dnf >/dev/null 2>&1; then",
        "    dnf install -y amazon-cloudwatch-agent",
        "  else",
        '    curl -fsSL -o /tmp/amazon-cloudwatch-agent.deb "https://amazoncloudwatch-agent-${region}'
        '.s3.${region}.amazonaws.com/ubuntu/amd64/latest/amazon-cloudwatch-agent.deb"',
        "    dpkg -i -E /tmp/amazon-cloudwatch-agent.deb",
        "  fi",
        "fi",
        *_heredoc(PROMETHEUS_CONFIG_PATH, json.dumps(prometheus_scrape_config(metrics), indent=1), "644"),
        *_heredoc(CWAGENT_CONFIG_PATH, json.dumps(cloudwatch_agent_config(metrics), indent=1), "644"),
        f"{ctl} -a fetch-config -m ec2 -s -c file:{CWAGENT_CONFIG_PATH}",
    ]


def render_vllm_user_data(args: VllmUserDataArgs) -> str:
    """The whole boot script, deterministic for the same arguments."""
    if not vllm_drains(args.options.image_tag):
        raise ValueError(
            f"{args.image}: vLLM before 0.18 aborts in-flight requests on SIGTERM; "
            "a rolling ASG needs --shutdown-timeout"
        )
    lines = [
        "#!/bin/bash",
        "# llmdeploy: vLLM behind an ALB. Rendered by llmdeploy/userdata_vllm.py; edit that, not this.",
        "set -euo pipefail",
        "",
        *_secret_lines(args),
        "",
        f"install -d -m 755 {HF_CACHE_DIR} {COMPILE_CACHE_DIR}",
        *_heredoc(f"/etc/systemd/system/{UNIT_NAME}.service", vllm_unit(args), "644"),
        "",
        *_cloudwatch_agent_lines(args.metrics),
        "",
        f"# {LATENCY_SCRIPT_PATH} is llmdeploy/instance/latency_emf.py.",
        *_compressed_file(LATENCY_SCRIPT_PATH, latency_script(), "755"),
        *_heredoc(f"/etc/systemd/system/{LATENCY_UNIT_NAME}.service", latency_unit(args.metrics), "644"),
        "",
        "systemctl daemon-reload",
        f"systemctl enable --now {UNIT_NAME}.service {LATENCY_UNIT_NAME}.service",
        "",
    ]
    return "\n".join(lines)
