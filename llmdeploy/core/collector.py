"""The OpenTelemetry Collector on a serving instance: its configuration and install steps, pure.

Why a collector: vLLM serves `/metrics` on its API port, where `/invocations` and `/tokenize`
answer without the API key (measured on vLLM 0.30.0). Monitoring that scrapes the API port can
run inference. The collector scrapes the engine on loopback and re-exposes every series, histograms
included, in Prometheus format on its own port: monitoring reaches that port, the load balancer
alone reaches the engine's.

Build: the contrib distribution (`otelcol-contrib`), pinned, installed from its release's RPM or
DEB package the way opentelemetry.io's "Install the Collector on Linux" does; the package brings
the `otelcol-contrib` systemd unit, which reads /etc/otelcol-contrib/config.yaml.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from llmdeploy.core.userdata import IMDS, SecretEnv, fetch_secrets_to_env_file, write_file

COLLECTOR_VERSION = "0.146.1"
COLLECTOR_PACKAGE = "otelcol-contrib"
COLLECTOR_SERVICE = "otelcol-contrib.service"
COLLECTOR_CONFIG_PATH = "/etc/otelcol-contrib/config.yaml"
COLLECTOR_RELEASES = "https://github.com/open-telemetry/opentelemetry-collector-releases/releases/download"
# The Prometheus exporter's port registered with OpenTelemetry (the SDKs' default too).
PROMETHEUS_EXPORT_PORT = 9464
PROMETHEUS_EXPORT_PATH = "/metrics"
# OTLP over gRPC (its registered port), from processes on the instance only.
OTLP_PORT = 4317
OTLP_GRPC_LISTENER = f"127.0.0.1:{OTLP_PORT}"
# The engine's container reaches the host through Docker's default bridge gateway, not loopback:
# the receiver listens there when the engine's traces go through the collector. The address is
# host-local (the VPC routes nothing to it) and the security groups open no OTLP port.
DOCKER_BRIDGE_OTLP_LISTENER = f"172.17.0.1:{OTLP_PORT}"
ENGINE_TRACES_VIA_COLLECTOR = f"grpc://{DOCKER_BRIDGE_OTLP_LISTENER}"
# The OTLP exporter's headers: the whole value is one environment reference, which the collector's
# env provider parses as YAML (a JSON object is YAML), so the secret's header names stay secret too.
OTLP_HEADERS_VARIABLE = "LLMDEPLOY_OTLP_HEADERS"
OTLP_HEADERS_REFERENCE = "${env:" + OTLP_HEADERS_VARIABLE + "}"
# CloudWatch's OTLP metrics endpoint is regional: the instance's region and its partition's domain
# come from IMDSv2 at boot (`cloudwatch_region_steps`), into the collector's environment.
REGION_VARIABLE = "AWS_REGION"
DOMAIN_VARIABLE = "LLMDEPLOY_AWS_DOMAIN"
REGION_REFERENCE = "${env:" + REGION_VARIABLE + "}"
DOMAIN_REFERENCE = "${env:" + DOMAIN_VARIABLE + "}"
# The only `$`s the generator writes itself; user-given values never carry one.
GENERATED_ENV_REFERENCES = frozenset({OTLP_HEADERS_REFERENCE, REGION_REFERENCE, DOMAIN_REFERENCE})
# Read by systemd (as root) before the collector starts as its own user: tmpfs, mode 600.
COLLECTOR_SECRETS_ENV_FILE = "/run/llmdeploy-otelcol/secrets.env"
COLLECTOR_FETCH_SECRETS_PATH = "/usr/local/libexec/llmdeploy/otelcol-contrib-fetch-secrets"
COLLECTOR_DROP_IN_PATH = "/etc/systemd/system/otelcol-contrib.service.d/llmdeploy.conf"
# Written at boot with the instance's region (`cloudwatch_region_steps`), beside the drop-in above.
COLLECTOR_REGION_DROP_IN_PATH = "/etc/systemd/system/otelcol-contrib.service.d/llmdeploy-region.conf"
# X-Ray's write actions: the awsxray exporter calls PutTraceSegments, and PutTelemetryRecords for
# its own telemetry; it samples nothing itself, so no GetSampling* (AWSXrayWriteOnlyAccess has them
# for SDKs that sample).
XRAY_ACTIONS = ("xray:PutTraceSegments", "xray:PutTelemetryRecords")
# arn:aws:aps:us-east-1:123456789012:workspace/ws-0123abcd-... (Amazon Managed Service for Prometheus).
_WORKSPACE_ARN = re.compile(
    r"arn:(?P<partition>aws[a-z-]*):aps:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):workspace/(?P<id>ws-[A-Za-z0-9-]+)"
)


@dataclass(frozen=True)
class RemoteWrite:
    """Prometheus remote write to an Amazon Managed Service for Prometheus workspace, signed with SigV4."""

    workspace_arn: str

    @property
    def _parts(self) -> re.Match[str]:
        match = _WORKSPACE_ARN.fullmatch(self.workspace_arn)
        if match is None:
            raise ValueError(
                f"{self.workspace_arn!r} is not a workspace ARN such as "
                "arn:aws:aps:us-east-1:123456789012:workspace/ws-0123abcd-4567-89ef-0123-456789abcdef"
            )
        return match

    @property
    def region(self) -> str:
        return self._parts["region"]

    @property
    def url(self) -> str:
        """The workspace's remote write endpoint (AMP user guide, "Ingest Prometheus metrics")."""
        return f"https://aps-workspaces.{self.region}.amazonaws.com/workspaces/{self._parts['id']}/api/v1/remote_write"


# What the awsemf exporter calls on a log group that exists (the stack creates it, with a retention):
# PutLogEvents, and CreateLogStream for its stream (internal/aws/cwlogs in the contrib repository; it
# calls CreateLogGroup only when the group is missing, which the stack rules out, so no CreateLogGroup
# and no group the role could create without a retention). Metrics come from the EMF records
# themselves: no cloudwatch:PutMetricData. Docker's awslogs driver calls the same two on the engine's
# log group (Docker's awslogs documentation; CreateLogGroup only with awslogs-create-group).
LOG_STREAM_WRITE_ACTIONS = ("logs:CreateLogStream", "logs:PutLogEvents")


@dataclass(frozen=True)
class CloudWatchEmf:
    """Metrics to CloudWatch through the collector's awsemf exporter (an instance without the agent)."""

    namespace: str
    log_group: str
    # Scraped labels that become the CloudWatch dimensions, e.g. ("Deployment",).
    dimensions: tuple[str, ...]
    # The series CloudWatch gets, by name, with their CloudWatch unit (a custom metric is billed each).
    # No histograms: awsemf sends a Prometheus histogram as a statistic set (count and sum as scraped,
    # cumulative since the engine started; no buckets, so no percentiles): `CloudWatchHistograms` does.
    metric_units: Mapping[str, str]


# CloudWatch's OTLP metrics endpoint (CloudWatch user guide, "Send metrics using OpenTelemetry"): HTTP,
# signed with SigV4 for the service `monitoring`. A histogram arrives whole, buckets and all; CloudWatch
# stores it as an exponential histogram and PromQL's `histogram_quantile` reads its percentiles.
CLOUDWATCH_OTLP_SIGNING_SERVICE = "monitoring"
CLOUDWATCH_OTLP_METRICS_ENDPOINT = f"https://monitoring.{REGION_REFERENCE}.{DOMAIN_REFERENCE}/v1/metrics"
# Publishing metrics to CloudWatch, whatever the path (PutMetricData takes no resource; OTLP data points
# have no namespace for the `cloudwatch:namespace` condition to match).
CLOUDWATCH_OTLP_ACTIONS = ("cloudwatch:PutMetricData",)
CLOUDWATCH_OTLP_STATEMENT = {"Effect": "Allow", "Action": list(CLOUDWATCH_OTLP_ACTIONS), "Resource": "*"}
# A Prometheus metric name: what the filter below quotes without escaping.
_METRIC_NAME = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


@dataclass(frozen=True)
class CloudWatchHistograms:
    """The engine's latency histograms to CloudWatch over OTLP, whole: the percentiles on the dashboard
    and in alarms are PromQL over them (`histogram_quantile`), computed by CloudWatch."""

    histograms: tuple[str, ...]

    def keep_only_condition(self) -> str:
        """The filter processor's condition (OTTL) that drops every metric but these histograms."""
        for name in self.histograms:
            if not _METRIC_NAME.fullmatch(name):
                raise ValueError(f"{name!r} is not a Prometheus metric name")
        return " and ".join(f'name != "{name}"' for name in self.histograms)


def log_group_arn(log_group: str, partition: str, region: str, account_id: str) -> str:
    """A CloudWatch Logs group's ARN, as IAM's resource for its streams' actions takes it."""
    return f"arn:{partition}:logs:{region}:{account_id}:log-group:{log_group}"


def log_stream_write_statement(log_group_arn: str) -> dict[str, Any]:
    """IAM: create streams in one log group and write to them, nothing more (the awsemf exporter's
    and Docker's awslogs driver's needs, the group itself created by the stack)."""
    return {
        "Effect": "Allow",
        "Action": list(LOG_STREAM_WRITE_ACTIONS),
        "Resource": [log_group_arn, f"{log_group_arn}:log-stream:*"],
    }


@dataclass(frozen=True)
class CollectorArgs:
    # The Prometheus job name; it becomes the `job` label (and `service.name`) of every series.
    job: str
    # The engine's metrics endpoint on loopback.
    scrape_target: str
    metrics_path: str
    scrape_interval_seconds: int
    # Labels added to every scraped series, e.g. {"AutoScalingGroupName": "llmdeploy-prod-vllm"}.
    labels: Mapping[str, str] = field(default_factory=dict)
    # Forward metrics and traces to any OTLP endpoint as well (`otlpEndpoint`).
    otlp_endpoint: str | None = None
    # Also send every series to Amazon Managed Service for Prometheus (`prometheusWorkspaceArn`).
    remote_write: RemoteWrite | None = None
    # The OTLP exporter's headers come from this Secrets Manager secret (name or ARN), a JSON object.
    otlp_headers_secret: str | None = None
    # Traces received over OTLP also go to AWS X-Ray (`tracesToXray`).
    traces_to_xray: bool = False
    # Where the OTLP receiver listens (the engine's container reaches it through Docker's bridge).
    otlp_listener: str = OTLP_GRPC_LISTENER
    # Gauges and counters to CloudWatch as EMF (`awsemf`): the alarms and target tracking read them.
    cloudwatch: CloudWatchEmf | None = None
    # Latency histograms to CloudWatch over OTLP, whole (None, or no histograms: none sent).
    cloudwatch_histograms: CloudWatchHistograms | None = None


def collector_config(args: CollectorArgs) -> dict[str, Any]:
    """The collector's configuration (written as JSON, which is YAML)."""
    # The collector expands `${...}` in its configuration; nothing here may carry a `$`.
    given = [args.job, args.scrape_target, args.metrics_path, args.otlp_listener, *args.labels.values()]
    if args.cloudwatch is not None:
        given += [args.cloudwatch.namespace, args.cloudwatch.log_group, *args.cloudwatch.dimensions]
    for value in [*given, args.otlp_endpoint or ""]:
        if "$" in value:
            raise ValueError(f"collector configuration values must not contain $: {value!r}")
    receivers: dict[str, Any] = {
        "prometheus": {
            "config": {
                "scrape_configs": [
                    {
                        "job_name": args.job,
                        "scrape_interval": f"{args.scrape_interval_seconds}s",
                        "metrics_path": args.metrics_path,
                        "static_configs": [{"targets": [args.scrape_target], "labels": dict(args.labels)}],
                    }
                ]
            }
        }
    }
    exporters: dict[str, Any] = {
        "prometheus": {
            "endpoint": f"0.0.0.0:{PROMETHEUS_EXPORT_PORT}",
            # Keep the engine's own names (`vllm:num_requests_waiting`): dashboards and alerts use them.
            "add_metric_suffixes": False,
            # The scrape's labels (job, instance, the group's name) stay on every series.
            "resource_to_telemetry_conversion": {"enabled": True},
        }
    }
    pipelines: dict[str, Any] = {
        "metrics": {"receivers": ["prometheus"], "processors": ["batch"], "exporters": ["prometheus"]}
    }
    extensions: dict[str, Any] = {}
    if args.remote_write is not None:
        # SigV4 with the instance role's credentials (aps:RemoteWrite, `collector_policy_statements`).
        extensions["sigv4auth"] = {"region": args.remote_write.region, "service": "aps"}
        exporters["prometheusremotewrite"] = {
            "endpoint": args.remote_write.url,
            "auth": {"authenticator": "sigv4auth"},
            "resource_to_telemetry_conversion": {"enabled": True},
        }
        pipelines["metrics"]["exporters"].append("prometheusremotewrite")
    if args.cloudwatch is not None:
        exporters["awsemf"] = awsemf_exporter(args.cloudwatch)
        pipelines["metrics"]["exporters"].append("awsemf")
    processors: dict[str, Any] = {"batch": {}}
    if _sends_histograms(args):
        assert args.cloudwatch_histograms is not None
        # Its own pipeline: the same scrape, filtered down to the latency histograms.
        extensions["sigv4auth/cloudwatch"] = {
            "region": REGION_REFERENCE,
            "service": CLOUDWATCH_OTLP_SIGNING_SERVICE,
        }
        exporters["otlp_http/cloudwatch"] = {
            "metrics_endpoint": CLOUDWATCH_OTLP_METRICS_ENDPOINT,
            "auth": {"authenticator": "sigv4auth/cloudwatch"},
        }
        processors["filter/latency-histograms"] = {
            "error_mode": "ignore",
            "metrics": {"metric": [args.cloudwatch_histograms.keep_only_condition()]},
        }
        pipelines["metrics/cloudwatch-histograms"] = {
            "receivers": ["prometheus"],
            "processors": ["filter/latency-histograms", "batch"],
            "exporters": ["otlp_http/cloudwatch"],
        }
    if args.otlp_headers_secret and not args.otlp_endpoint:
        raise ValueError("OTLP headers without an OTLP endpoint")
    trace_exporters: list[str] = []
    if args.otlp_endpoint:
        otlp: dict[str, Any] = {"endpoint": args.otlp_endpoint}
        if args.otlp_headers_secret:
            # The value stays in the collector's environment (COLLECTOR_SECRETS_ENV_FILE).
            otlp["headers"] = OTLP_HEADERS_REFERENCE
        # `otlp_grpc`: the OTLP/gRPC exporter's name since collector 0.144 (`otlp` is its deprecated alias).
        exporters["otlp_grpc"] = otlp
        pipelines["metrics"]["exporters"].append("otlp_grpc")
        trace_exporters.append("otlp_grpc")
    if args.traces_to_xray:
        # Region and credentials from the instance (IMDS and its role).
        exporters["awsxray"] = {}
        trace_exporters.append("awsxray")
    if trace_exporters:
        receivers["otlp"] = {"protocols": {"grpc": {"endpoint": args.otlp_listener}}}
        pipelines["traces"] = {"receivers": ["otlp"], "processors": ["batch"], "exporters": trace_exporters}
    config: dict[str, Any] = {
        "receivers": receivers,
        "processors": processors,
        "exporters": exporters,
        "service": {"pipelines": pipelines},
    }
    if extensions:
        config["extensions"] = extensions
        config["service"]["extensions"] = sorted(extensions)
    return config


def awsemf_exporter(cloudwatch: CloudWatchEmf) -> dict[str, Any]:
    """The awsemf exporter: the chosen series, dimensioned by the given labels alone.

    Region and credentials come from the instance (IMDS and its role). Without metric_declarations
    awsemf would send every series with every label as a dimension, each a billed custom metric;
    NoDimensionRollup keeps it from adding a copy without dimensions.
    """
    names = list(cloudwatch.metric_units)
    return {
        "namespace": cloudwatch.namespace,
        "log_group_name": cloudwatch.log_group,
        "dimension_rollup_option": "NoDimensionRollup",
        "metric_declarations": [
            {
                "dimensions": [list(cloudwatch.dimensions)],
                # `\z` (RE2's end of text), not `$`, which the collector's configuration expands.
                "metric_name_selectors": [f"^{re.escape(name)}\\z" for name in names],
            }
        ],
        "metric_descriptors": [
            {"metric_name": name, "unit": unit, "overwrite": True}
            for name, unit in cloudwatch.metric_units.items()
        ],
    }


def collector_policy_statements(
    args: CollectorArgs, log_group_arn: str | None = None
) -> list[dict[str, Any]]:
    """What the instance role needs for the chosen exporters, exactly (IAM policy statements).

    The Prometheus exporter and an OTLP endpoint need no AWS permission; remote write to a workspace
    needs aps:RemoteWrite on that workspace alone; X-Ray's write actions take no resource (X-Ray has
    no resource-level permissions for them), so "*". The OTLP headers secret is read by the role's
    secret policy beside the API key's (`collector_secret_arn`), not here: its ARN is known at deploy.
    EMF to CloudWatch needs `LOG_STREAM_WRITE_ACTIONS` on that log group's streams alone
    (`log_group_arn`, required then); histograms over OTLP to CloudWatch need `CLOUDWATCH_OTLP_ACTIONS`.
    """
    statements: list[dict[str, Any]] = []
    if args.cloudwatch is not None:
        if log_group_arn is None:
            raise ValueError(f"the ARN of log group {args.cloudwatch.log_group} is needed for awsemf")
        if not log_group_arn.endswith(f":log-group:{args.cloudwatch.log_group}"):
            raise ValueError(f"{log_group_arn!r} is not the ARN of log group {args.cloudwatch.log_group}")
        statements.append(log_stream_write_statement(log_group_arn))
    if _sends_histograms(args):
        statements.append(CLOUDWATCH_OTLP_STATEMENT)
    if args.remote_write is not None:
        statements.append(
            {"Effect": "Allow", "Action": "aps:RemoteWrite", "Resource": args.remote_write.workspace_arn}
        )
    if args.traces_to_xray:
        statements.append({"Effect": "Allow", "Action": list(XRAY_ACTIONS), "Resource": "*"})
    return statements


def _sends_histograms(args: CollectorArgs) -> bool:
    return args.cloudwatch_histograms is not None and bool(args.cloudwatch_histograms.histograms)


_SECRET_ARN = re.compile(r"arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+")


def collector_secret_arn(name_or_arn: str, partition: str, region: str, account_id: str) -> str:
    """The headers secret's ARN: as given, or the pattern of the secret by that name in this account.

    Secrets Manager appends six random characters to a secret's name in its ARN (`-??????`).
    """
    if _SECRET_ARN.fullmatch(name_or_arn):
        return name_or_arn
    return f"arn:{partition}:secretsmanager:{region}:{account_id}:secret:{name_or_arn}-??????"


def package_url(kind: str, arch_variable: str = "${arch}") -> str:
    """The release package for this machine's architecture (`kind`: rpm or deb)."""
    name = f"{COLLECTOR_PACKAGE}_{COLLECTOR_VERSION}_linux_{arch_variable}.{kind}"
    return f"{COLLECTOR_RELEASES}/v{COLLECTOR_VERSION}/{name}"


def collector_steps(args: CollectorArgs) -> list[str]:
    """Shell lines: install the pinned collector (RPM on Amazon Linux, DEB on Ubuntu), configure, start."""
    return [
        f"# The OpenTelemetry Collector ({COLLECTOR_PACKAGE} {COLLECTOR_VERSION}): scrapes the engine on",
        f"# loopback and re-exposes its metrics on port {PROMETHEUS_EXPORT_PORT} for monitoring.",
        f"if ! command -v {COLLECTOR_PACKAGE} >/dev/null 2>&1; then",
        '  case "$(uname -m)" in aarch64) arch=arm64 ;; *) arch=amd64 ;; esac',
        "  if command -v dnf >/dev/null 2>&1; then",
        f'    curl -fsSL --retry 5 -o /tmp/{COLLECTOR_PACKAGE}.rpm "{package_url("rpm")}"',
        f"    rpm -Uvh /tmp/{COLLECTOR_PACKAGE}.rpm",
        "  else",
        f'    curl -fsSL --retry 5 -o /tmp/{COLLECTOR_PACKAGE}.deb "{package_url("deb")}"',
        f"    dpkg -i /tmp/{COLLECTOR_PACKAGE}.deb",
        "  fi",
        "fi",
        *write_file(COLLECTOR_CONFIG_PATH, json.dumps(collector_config(args), indent=1), "0644"),
        *_drop_in_steps(args),
        *(cloudwatch_region_steps() if _sends_histograms(args) else []),
        f"systemctl enable {COLLECTOR_SERVICE}",
        f"systemctl restart {COLLECTOR_SERVICE}",
    ]


def collector_drop_in(args: CollectorArgs) -> str | None:
    """A systemd drop-in for the packaged unit, or None when the packaged unit serves as it is.

    - Listening on Docker's bridge: the address exists once Docker has started (docker0), so the
      collector starts after Docker, at every boot.
    - A headers secret: `+` runs the fetch as root although the unit runs as its own user; systemd
      reads `EnvironmentFile=` before each command, so the file ExecStartPre writes is read for
      ExecStart (`-`: absent when ExecStartPre runs, the first time).
    """
    lines: list[str] = []
    receives_traces = bool(args.otlp_endpoint or args.traces_to_xray)
    if receives_traces and args.otlp_listener == DOCKER_BRIDGE_OTLP_LISTENER:
        lines += ["[Unit]", "Wants=docker.service", "After=docker.service"]
    if args.otlp_headers_secret:
        directory = COLLECTOR_SECRETS_ENV_FILE.rsplit("/", 1)[0]
        lines += [
            "[Service]",
            f"ExecStartPre=+/usr/bin/install -d -m 0700 {directory}",
            f"ExecStartPre=+{COLLECTOR_FETCH_SECRETS_PATH}",
            f"EnvironmentFile=-{COLLECTOR_SECRETS_ENV_FILE}",
        ]
    return "\n".join([*lines, ""]) if lines else None


def cloudwatch_region_steps() -> list[str]:
    """Shell lines: the instance's region and its partition's domain (amazonaws.com, amazonaws.com.cn)
    from IMDSv2, into the collector's environment, for CloudWatch's regional OTLP endpoint."""
    return [
        "# CloudWatch's OTLP endpoint is regional: this instance's region and domain, from IMDSv2.",
        "imds_token=\"$(curl -fsS --retry 5 -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' "
        f'{IMDS}/api/token)"',
        'aws_region="$(curl -fsS --retry 5 -H "X-aws-ec2-metadata-token: ${imds_token}" '
        f'{IMDS}/meta-data/placement/region)"',
        'aws_domain="$(curl -fsS --retry 5 -H "X-aws-ec2-metadata-token: ${imds_token}" '
        f'{IMDS}/meta-data/services/domain)"',
        f"install -d -m 0755 {COLLECTOR_REGION_DROP_IN_PATH.rsplit('/', 1)[0]}",
        f"printf '[Service]\\nEnvironment={REGION_VARIABLE}=%s\\nEnvironment={DOMAIN_VARIABLE}=%s\\n' "
        f'"${{aws_region}}" "${{aws_domain}}" > {COLLECTOR_REGION_DROP_IN_PATH}',
        "systemctl daemon-reload",
    ]


def _drop_in_steps(args: CollectorArgs) -> list[str]:
    drop_in = collector_drop_in(args)
    if drop_in is None:
        return []
    steps = [f"install -d -m 0755 {COLLECTOR_DROP_IN_PATH.rsplit('/', 1)[0]}"]
    if args.otlp_headers_secret:
        fetch = fetch_secrets_to_env_file(
            COLLECTOR_PACKAGE,
            COLLECTOR_SECRETS_ENV_FILE,
            [SecretEnv(variable=OTLP_HEADERS_VARIABLE, secret_name=args.otlp_headers_secret)],
            for_systemd=True,
        )
        steps += [
            f"install -d -m 0755 {COLLECTOR_FETCH_SECRETS_PATH.rsplit('/', 1)[0]}",
            *write_file(COLLECTOR_FETCH_SECRETS_PATH, fetch, "0700"),
        ]
    return [*steps, *write_file(COLLECTOR_DROP_IN_PATH, drop_in, "0644"), "systemctl daemon-reload"]
