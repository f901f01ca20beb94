"""User data for an instance of the prod fleet (vLLM by default; SGLang or TGI): pure functions,
tested directly (and through shellcheck).

Built on the shared renderer (`llmdeploy/core/userdata.py`): the engine container is a
`ContainerService` (secrets, the API key among them, fetched by name at every start into a
root-only tmpfs env file, a systemd unit whose stop timeout is above the engine's drain). On
top of it this module adds what an autoscaled fleet needs (shown for vLLM; each engine's
series come from `llmdeploy/core/metrics.py`, its ports and paths from the catalogue):

- the CloudWatch agent, scraping vLLM's `/metrics` through its Prometheus
  support into CloudWatch (EMF): queue depth for target tracking, KV-cache
  usage, running requests and token counters for alarms and the dashboard;
- the latency publisher (`llmdeploy/core/instance/latency_emf.py`) for the
  histograms the agent drops (time to first token and the other latencies);
- the OpenTelemetry Collector (`llmdeploy/core/collector.py`), re-exposing every
  vLLM series on its own port for Prometheus, so that monitoring never needs the
  API port (where vLLM answers `/invocations` without the key).

The script is known at preview: built from settings and names (the secrets'
names, the Auto Scaling group's name), never from ids or secret values.
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

from llmdeploy.core import metrics
from llmdeploy.core.collector import (
    DOCKER_BRIDGE_OTLP_LISTENER,
    CloudWatchEmf,
    CollectorArgs,
    RemoteWrite,
    collector_steps,
)
from llmdeploy.core.engines import (
    VLLM,
    Engine,
    VllmOptions,
    api_key_command,
    vllm_arguments,
    vllm_drains,
    vllm_environment,
)
from llmdeploy.core.instance.latency_emf import DEFAULT_FAMILIES as DEFAULT_LATENCY_FAMILIES
from llmdeploy.core.lifecycle import LaunchHook, completion_steps
from llmdeploy.core.metrics import ENGINE_METRICS, EngineMetricNames
from llmdeploy.core.userdata import (
    HEREDOC_DELIMITER,
    USER_DATA_LIMIT_BYTES,
    AwsLogs,
    ContainerService,
    DockerRun,
    SecretEnv,
    render_user_data,
    shell_join,
    write_file,
)

SERVICE_NAME = "llmdeploy-vllm"
LATENCY_SERVICE_NAME = "llmdeploy-vllm-latency"
HF_CACHE_DIR = "/opt/llmdeploy/huggingface"
# vLLM's compile cache survives a container restart (vLLM only).
COMPILE_CACHE_DIR = "/opt/llmdeploy/vllm-cache"
COMPILE_CACHE_MOUNT = "/root/.cache/vllm"
LATENCY_SCRIPT_PATH = "/opt/llmdeploy/latency_emf.py"
CWAGENT_DIR = "/opt/aws/amazon-cloudwatch-agent"
CWAGENT_CTL = f"{CWAGENT_DIR}/bin/amazon-cloudwatch-agent-ctl"
CWAGENT_CONFIG_PATH = f"{CWAGENT_DIR}/etc/llmdeploy-vllm.json"
PROMETHEUS_CONFIG_PATH = f"{CWAGENT_DIR}/etc/llmdeploy-prometheus.yaml"
# AWS's package for Debian-family AMIs; Amazon Linux has it in its own repository.
CWAGENT_DEB_URL = (
    "https://amazoncloudwatch-agent.s3.amazonaws.com/ubuntu/amd64/latest/amazon-cloudwatch-agent.deb"
)
PROMETHEUS_JOB = "vllm"
# The agent's EMF listener (`logs.metrics_collected.emf`), loopback only.
EMF_LISTENER = "127.0.0.1:25888"

# The container's keep-alive must outlast the load balancer's idle timeout: a
# target that closes first turns the balancer's next reuse into a 502.
KEEP_ALIVE_MARGIN_SECONDS = 5
# TGI sends an SSE keep-alive every 15 s; vLLM's is chosen the same unless the idle timeout is shorter.
SSE_KEEP_ALIVE_CAP_SECONDS = 15

# What the CloudWatch agent carries from vLLM's `/metrics` into CloudWatch:
# autoscaling signals and token counters. Counters arrive as
# the increase since the previous scrape. `vllm:gpu_cache_usage_perc` was
# removed in 0.12: `vllm:kv_cache_usage_perc` replaces it.
SCRAPED_METRICS: Mapping[str, str] = metrics.VLLM_METRICS.scraped


def service_name(engine: Engine) -> str:
    return f"llmdeploy-{engine.name}"


def latency_service_name(engine: Engine) -> str:
    return f"{service_name(engine)}-latency"


def cwagent_config_path(engine: Engine) -> str:
    return f"{CWAGENT_DIR}/etc/{service_name(engine)}.json"


@dataclass(frozen=True)
class MetricsPublishing:
    """Where the instance publishes vLLM's metrics in CloudWatch."""

    namespace: str
    log_group: str
    # CloudWatch dimensions every metric carries, e.g. {"AutoScalingGroupName": "llmdeploy-prod-vllm"}:
    # averaging over them gives the per-instance value that target tracking needs.
    dimensions: Mapping[str, str]
    scrape_interval_seconds: int = 60
    # The collector also remote-writes every series to this Amazon Managed Prometheus workspace.
    prometheus_workspace_arn: str | None = None
    # Traces through the collector (None, False: the engine sends its own traces, if any):
    # forwarded to this OTLP endpoint with headers from this secret, and/or to AWS X-Ray.
    otlp_endpoint: str | None = None
    otlp_headers_secret: str | None = None
    traces_to_xray: bool = False
    # Whose metrics: the port and path come from the engine, the series from ENGINE_METRICS.
    engine: Engine = VLLM
    # CloudWatch through the collector's awsemf exporter (an instance without the CloudWatch agent:
    # staging's); False: the agent and the latency publisher carry them (`monitoring_steps`).
    cloudwatch_via_collector: bool = False

    @property
    def names(self) -> EngineMetricNames:
        return ENGINE_METRICS[self.engine.name]

    @property
    def metrics_target(self) -> str:
        if self.engine.metrics_port is None or self.engine.metrics_path is None:
            raise ValueError(f"{self.engine.label} publishes no metrics")
        return f"127.0.0.1:{self.engine.metrics_port}"


@dataclass(frozen=True)
class VllmUserDataArgs:
    image: str
    options: VllmOptions
    api_key_secret_name: str
    hf_token_secret_name: str | None
    metrics: MetricsPublishing
    extra_environment: Mapping[str, str] = field(default_factory=dict)
    # Run the script at every boot, not only the first: an instance launched into a
    # warm pool is stopped as soon as it launches, without waiting for user data, and
    # cloud-init does not re-run an interrupted script ("Use lifecycle hooks with a
    # warm pool", EC2 Auto Scaling guide). The script is idempotent.
    every_boot: bool = False
    # The launch lifecycle hook the instance completes once vLLM answers /health (None: no hook).
    launch_hook: LaunchHook | None = None


def keep_alive_seconds(idle_timeout_seconds: int) -> int:
    """uvicorn keep-alive for a target behind a balancer with this idle timeout."""
    return idle_timeout_seconds + KEEP_ALIVE_MARGIN_SECONDS


def sse_keep_alive_seconds(idle_timeout_seconds: int) -> int:
    """How often a silent stream sends an SSE comment: well inside the balancer's idle timeout.

    Half the idle timeout, at most TGI's own 15 s, at least 1 s: a stream waiting in the
    queue or in a long prefill would otherwise be cut by the balancer (HTTP 504 to the client).
    """
    return max(1, min(SSE_KEEP_ALIVE_CAP_SECONDS, idle_timeout_seconds // 2))


@dataclass(frozen=True)
class FleetUserDataArgs:
    """An instance of the fleet: the engine's container, its API key, and its metrics' way out."""

    engine: Engine
    image: str
    # The engine's own arguments (the API key is wired in here, by `api_key_command`).
    arguments: Sequence[str]
    # Plain environment (never a secret).
    environment: Mapping[str, str]
    # Seconds the engine drains after SIGTERM (the unit's stop timeout follows it).
    drain_seconds: int
    description: str
    api_key_secret_name: str
    hf_token_secret_name: str | None
    metrics: MetricsPublishing
    # The CloudWatch Logs group the engine container's output goes to; None: it stays on the host.
    engine_log_group: str | None = None
    every_boot: bool = False
    launch_hook: LaunchHook | None = None


def fleet_volumes(engine: Engine) -> list[tuple[str, str]]:
    """The Hugging Face cache on the host; vLLM's compile cache too."""
    volumes = [(HF_CACHE_DIR, engine.cache_mount)]
    if engine is VLLM:
        volumes.append((COMPILE_CACHE_DIR, COMPILE_CACHE_MOUNT))
    return volumes


def server_metrics_port(engine: Engine) -> int | None:
    """The engine's own metrics listener when it is not on the API port (TGI's 9000), else None."""
    if engine.metrics_port is None or engine.metrics_port == engine.container_port:
        return None
    return engine.metrics_port


def fleet_ports(engine: Engine) -> list[tuple[int, int]]:
    """The API port, and the engine's own metrics listener (published for monitoring too)."""
    ports = [(engine.container_port, engine.container_port)]
    metrics_port = server_metrics_port(engine)
    if metrics_port is not None:
        ports.append((metrics_port, metrics_port))
    return ports


def fleet_container_service(args: FleetUserDataArgs) -> ContainerService:
    """The engine as a systemd-run container, its API key read from Secrets Manager at every start."""
    engine = args.engine
    arguments, key_variable = api_key_command(engine, args.arguments)
    secrets = [SecretEnv(variable=key_variable, secret_name=args.api_key_secret_name)]
    if args.hf_token_secret_name and engine.token_env:
        secrets.append(SecretEnv(variable=engine.token_env, secret_name=args.hf_token_secret_name))
    volumes = fleet_volumes(engine)
    return ContainerService(
        name=service_name(engine),
        description=args.description,
        run=DockerRun(
            image=args.image,
            arguments=arguments,
            # `--gpus all` alone, as TGI on the same AMI: the NVIDIA Container Toolkit serves
            # `--gpus` through Docker's own GPU support, while `--runtime nvidia` needs a runtime
            # registered in /etc/docker/daemon.json, which the DLAMI release notes do not promise
            # (NVIDIA Container Toolkit user guide, "Adding the NVIDIA Runtime"; it is needed only
            # to select GPUs through NVIDIA_VISIBLE_DEVICES). `--ipc=host`: tensor-parallel workers
            # share memory through /dev/shm, and Docker's 64 MB ends in ncclSystemError.
            gpus="all",
            ipc_host=engine.wants_host_ipc,
            # Without host IPC, the shared memory the engine's docs ask for (TGI: 1g).
            shm_size=None
            if engine.wants_host_ipc or not engine.min_shm_bytes
            else docker_size(engine.min_shm_bytes),
            ports=fleet_ports(engine),
            volumes=volumes,
            environment=dict(args.environment),
            logs=AwsLogs(group=args.engine_log_group) if args.engine_log_group else None,
        ),
        drain_seconds=args.drain_seconds,
        secrets=secrets,
        host_directories=[host for host, _ in volumes],
    )


def docker_size(size_bytes: int) -> str:
    """`--shm-size` in Docker's units: whole GiB as `Ng`, else bytes."""
    gib = 1024**3
    return f"{size_bytes // gib}g" if size_bytes % gib == 0 else str(size_bytes)


def vllm_fleet_args(args: VllmUserDataArgs) -> FleetUserDataArgs:
    return FleetUserDataArgs(
        engine=VLLM,
        image=args.image,
        arguments=vllm_arguments(args.options),
        environment={**vllm_environment(args.options), **args.extra_environment},
        # vLLM drains for --shutdown-timeout seconds after SIGTERM.
        drain_seconds=args.options.shutdown_timeout,
        description=f"vLLM serving {args.options.model} as {args.options.served_model_name}",
        api_key_secret_name=args.api_key_secret_name,
        hf_token_secret_name=args.hf_token_secret_name,
        metrics=args.metrics,
        every_boot=args.every_boot,
        launch_hook=args.launch_hook,
    )


def vllm_container_service(args: VllmUserDataArgs) -> ContainerService:
    """vLLM as a systemd-run container; engine flags from `vllm_arguments`."""
    return fleet_container_service(vllm_fleet_args(args))


def prometheus_scrape_config(metrics: MetricsPublishing) -> dict[str, Any]:
    """The agent's Prometheus scrape configuration (written as JSON, which is YAML)."""
    return {
        "global": {"scrape_interval": f"{metrics.scrape_interval_seconds}s", "scrape_timeout": "10s"},
        "scrape_configs": [
            {
                "job_name": metrics.engine.name,
                "metrics_path": metrics.engine.metrics_path,
                "static_configs": [
                    {
                        "targets": [metrics.metrics_target],
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
                        "metric_unit": metrics.names.scraped,
                        "metric_declaration": [
                            {
                                "source_labels": ["job"],
                                "label_matcher": f"^{metrics.engine.name}$",
                                "dimensions": [sorted(metrics.dimensions)],
                                "metric_selectors": [f"^{name}$" for name in metrics.names.scraped],
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
    return resources.files("llmdeploy.core").joinpath("instance/latency_emf.py").read_text()


def latency_command(metrics: MetricsPublishing) -> list[str]:
    argv = [
        "/usr/bin/python3",
        LATENCY_SCRIPT_PATH,
        "--metrics-url",
        f"http://{metrics.metrics_target}{metrics.engine.metrics_path}",
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
    # The publisher's own defaults are vLLM's histograms; another engine names its own.
    if metrics.names.latency_families != DEFAULT_LATENCY_FAMILIES:
        for family in metrics.names.latency_families:
            argv += ["--family", family]
    if any(ch in arg for arg in argv for ch in "%$\\"):
        # systemd expands these in ExecStart=; names from settings never need them.
        raise ValueError(f"latency publisher arguments must not contain %, $ or \\: {argv}")
    return argv


def latency_unit(metrics: MetricsPublishing) -> str:
    return "\n".join(
        [
            "[Unit]",
            f"Description={metrics.engine.label} latency percentiles to CloudWatch (llmdeploy)",
            "After=amazon-cloudwatch-agent.service",
            "",
            "[Service]",
            f"ExecStart={shell_join(latency_command(metrics))}",
            "Restart=always",
            "RestartSec=30",
            "",
            "[Install]",
            "WantedBy=multi-user.target",
            "",
        ]
    )


def _compressed_file(path: str, content: str, mode: str) -> list[str]:
    """A file shipped gzip+base64: user data is capped at 16 KiB, and this one is a program."""
    # mtime=0: the same source gives the same bytes, so the launch template only
    # changes when the program does.
    packed = base64.b64encode(gzip.compress(content.encode(), compresslevel=9, mtime=0)).decode()
    quoted = shlex.quote(path)
    return [
        f"base64 -d > {quoted}.gz <<'{HEREDOC_DELIMITER}'",
        *[packed[i : i + 76] for i in range(0, len(packed), 76)],
        HEREDOC_DELIMITER,
        f"gunzip -f {quoted}.gz",
        f"chmod {mode} {quoted}",
    ]


def collector_args(metrics: MetricsPublishing) -> CollectorArgs:
    """The collector scrapes what the CloudWatch agent scrapes, with the same labels; without the agent,
    it sends the agent's series, and the latency histograms, to CloudWatch itself."""
    assert metrics.engine.metrics_path is not None
    cloudwatch = CloudWatchEmf(
        namespace=metrics.namespace,
        log_group=metrics.log_group,
        dimensions=tuple(sorted(metrics.dimensions)),
        metric_units=metrics.names.scraped,
        histograms=metrics.names.latency_families,
    )
    return CollectorArgs(
        job=metrics.engine.name,
        scrape_target=metrics.metrics_target,
        metrics_path=metrics.engine.metrics_path,
        scrape_interval_seconds=metrics.scrape_interval_seconds,
        labels=dict(metrics.dimensions),
        remote_write=RemoteWrite(metrics.prometheus_workspace_arn)
        if metrics.prometheus_workspace_arn
        else None,
        otlp_endpoint=metrics.otlp_endpoint,
        otlp_headers_secret=metrics.otlp_headers_secret,
        traces_to_xray=metrics.traces_to_xray,
        otlp_listener=DOCKER_BRIDGE_OTLP_LISTENER,
        cloudwatch=cloudwatch if metrics.cloudwatch_via_collector else None,
    )


def monitoring_steps(metrics: MetricsPublishing) -> list[str]:
    """Shell lines: the CloudWatch agent, the latency publisher, and the collector for Prometheus."""
    return [
        "# The CloudWatch agent: Amazon Linux has it in its repository; elsewhere AWS's package.",
        f"if [ ! -x {CWAGENT_CTL} ]; then",
        "  if command -v dnf >/dev/null 2>&1; then",
        "    dnf install -y amazon-cloudwatch-agent",
        "  else",
        f"    curl -fsSL --retry 5 -o /tmp/amazon-cloudwatch-agent.deb {CWAGENT_DEB_URL}",
        "    dpkg -i -E /tmp/amazon-cloudwatch-agent.deb",
        "  fi",
        "fi",
        *write_file(PROMETHEUS_CONFIG_PATH, json.dumps(prometheus_scrape_config(metrics), indent=1), "0644"),
        *write_file(
            cwagent_config_path(metrics.engine),
            json.dumps(cloudwatch_agent_config(metrics), indent=1),
            "0644",
        ),
        f"{CWAGENT_CTL} -a fetch-config -m ec2 -s -c file:{cwagent_config_path(metrics.engine)}",
        "",
        f"# {LATENCY_SCRIPT_PATH} is llmdeploy/core/instance/latency_emf.py, compressed.",
        f"install -d -m 0755 {shlex.quote(LATENCY_SCRIPT_PATH.rsplit('/', 1)[0])}",
        *_compressed_file(LATENCY_SCRIPT_PATH, latency_script(), "0755"),
        *write_file(
            f"/etc/systemd/system/{latency_service_name(metrics.engine)}.service",
            latency_unit(metrics),
            "0644",
        ),
        "systemctl daemon-reload",
        f"systemctl enable {latency_service_name(metrics.engine)}.service",
        f"systemctl start --no-block {latency_service_name(metrics.engine)}.service",
        "",
        *collector_steps(collector_args(metrics)),
    ]


MIME_BOUNDARY = "==LLMDEPLOY-USER-DATA=="
# cloud-init's user-scripts module on every boot (AWS: "run user data at every
# restart"). Overriding the final modules keeps only this one.
EVERY_BOOT_CLOUD_CONFIG = "#cloud-config\ncloud_final_modules:\n- [scripts-user, always]\n"


def every_boot_user_data(script: str) -> str:
    """The script wrapped in a cloud-init MIME multipart document that runs it at every boot."""
    if MIME_BOUNDARY in script:
        raise ValueError(f"the script contains the MIME boundary {MIME_BOUNDARY}")

    def part(content_type: str, filename: str, body: str) -> list[str]:
        return [
            f"--{MIME_BOUNDARY}",
            f'Content-Type: {content_type}; charset="us-ascii"',
            "MIME-Version: 1.0",
            "Content-Transfer-Encoding: 7bit",
            f'Content-Disposition: attachment; filename="{filename}"',
            "",
            body.rstrip("\n"),
            "",
        ]

    return "\n".join(
        [
            f'Content-Type: multipart/mixed; boundary="{MIME_BOUNDARY}"',
            "MIME-Version: 1.0",
            "",
            *part("text/cloud-config", "cloud-config.txt", EVERY_BOOT_CLOUD_CONFIG),
            *part("text/x-shellscript", "user-data.sh", script),
            f"--{MIME_BOUNDARY}--",
            "",
        ]
    )


def render_vllm_user_data(args: VllmUserDataArgs) -> str:
    """vLLM's user data, deterministic for the same arguments."""
    if not vllm_drains(args.options.image_tag):
        raise ValueError(
            f"{args.image}: vLLM before 0.18 aborts in-flight requests on SIGTERM; "
            "a rolling Auto Scaling group needs --shutdown-timeout"
        )
    return render_fleet_user_data(vllm_fleet_args(args))


def render_fleet_user_data(args: FleetUserDataArgs) -> str:
    """The whole user data of a fleet instance, deterministic for the same arguments."""
    if args.metrics.engine is not args.engine:
        raise ValueError(f"metrics of {args.metrics.engine.label} for an instance of {args.engine.label}")
    steps = monitoring_steps(args.metrics)
    if args.launch_hook is not None:
        steps += ["", *completion_steps(args.launch_hook)]
    script = render_user_data(fleet_container_service(args), extra_steps=steps)
    if not args.every_boot:
        return script
    wrapped = every_boot_user_data(script)
    if len(wrapped.encode()) > USER_DATA_LIMIT_BYTES:
        raise ValueError(
            f"user data is {len(wrapped.encode())} bytes; EC2 accepts at most {USER_DATA_LIMIT_BYTES}"
        )
    return wrapped
