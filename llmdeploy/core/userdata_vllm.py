"""User data for an instance of the prod fleet (vLLM by default; SGLang or TGI): pure functions,
tested directly (and through shellcheck).

Built on the shared renderer (`llmdeploy/core/userdata.py`): the engine container is a
`ContainerService` (secrets, the API key among them, fetched by name at every start into a
root-only tmpfs env file, a systemd unit whose stop timeout is above the engine's drain). On
top of it this module adds what an autoscaled fleet needs (shown for vLLM; each engine's
series come from `llmdeploy/core/metrics.py`, its ports and paths from the catalogue):

- the OpenTelemetry Collector (`llmdeploy/core/collector.py`), scraping vLLM's `/metrics` on
  loopback. It sends CloudWatch the queue depth for target tracking, KV-cache usage, running
  requests and token counters (EMF, for alarms and the dashboard) and the latency histograms whole
  (OTLP: time to first token and the other latencies, whose percentiles are PromQL in CloudWatch);
  it re-exposes every series on its own port for Prometheus, so that monitoring never needs the
  API port (where vLLM answers `/invocations` without the key).

The script is known at preview: built from settings and names (the secrets'
names, the Auto Scaling group's name), never from ids or secret values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from llmdeploy.core.collector import (
    DOCKER_BRIDGE_OTLP_LISTENER,
    CloudWatchEmf,
    CloudWatchHistograms,
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
from llmdeploy.core.lifecycle import LaunchHook, completion_steps
from llmdeploy.core.metrics import ENGINE_METRICS, EngineMetricNames
from llmdeploy.core.userdata import (
    USER_DATA_LIMIT_BYTES,
    AwsLogs,
    ContainerService,
    DockerRun,
    SecretEnv,
    render_user_data,
)

SERVICE_NAME = "llmdeploy-vllm"
HF_CACHE_DIR = "/opt/llmdeploy/huggingface"
# vLLM's compile cache survives a container restart (vLLM only).
COMPILE_CACHE_DIR = "/opt/llmdeploy/vllm-cache"
COMPILE_CACHE_MOUNT = "/root/.cache/vllm"

# The container's keep-alive must outlast the load balancer's idle timeout: a
# target that closes first turns the balancer's next reuse into a 502.
KEEP_ALIVE_MARGIN_SECONDS = 5
# TGI sends an SSE keep-alive every 15 s; vLLM's is chosen the same unless the idle timeout is shorter.
SSE_KEEP_ALIVE_CAP_SECONDS = 15


def service_name(engine: Engine) -> str:
    return f"llmdeploy-{engine.name}"


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


def collector_args(metrics: MetricsPublishing) -> CollectorArgs:
    """The collector on a serving instance: the engine's scrape, labelled with the dimensions, to
    CloudWatch (gauges and counters as EMF, latency histograms over OTLP) and to monitoring."""
    assert metrics.engine.metrics_path is not None
    cloudwatch = CloudWatchEmf(
        namespace=metrics.namespace,
        log_group=metrics.log_group,
        dimensions=tuple(sorted(metrics.dimensions)),
        metric_units=metrics.names.scraped,
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
        cloudwatch=cloudwatch,
        cloudwatch_histograms=CloudWatchHistograms(metrics.names.latency_families),
    )


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
    steps = collector_steps(collector_args(args.metrics))
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
