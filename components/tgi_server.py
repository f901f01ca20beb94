"""`TgiServer`: one inference engine (TGI by default; vLLM or SGLang) on one GPU EC2 instance,
run by systemd from user data.

The name and the Pulumi type token stay TgiServer, so a stack that ran TGI keeps its
resources' names; the engine, its ports and paths come from the engine catalogue.

The instance boots the Deep Learning GPU AMI (NVIDIA driver, Docker, the NVIDIA
container toolkit, the AWS CLI, the SSM agent). Its user data, built here from
names and settings only (never from resource ids), installs a systemd unit that
runs TGI in Docker and reads the Hugging Face token by its Secrets Manager name
at every start. No key pair and no port 22: shell access is SSM Session Manager
through the instance role.

Metrics: the engine's `/metrics` is reachable on the host's loopback only (TGI's own listener, or
vLLM's and SGLang's API port behind the proxy). The OpenTelemetry Collector on the instance
(`llmdeploy/core/collector.py`) scrapes it there and re-exposes every series on its Prometheus port,
the only port monitoring reaches; it also sends the engine's series to CloudWatch (awsemf, into a log
group created here with a retention) and to the optional exporters its arguments name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import pulumi
import pulumi_aws as aws

from components.collector_access import (
    collector_statements,
    headers_secret_arn,
    joined_statements,
    log_write_statements,
)
from components.instance_role import InstanceRole, InstanceRoleArgs
from components.model_access import ModelReadPolicy
from components.observability import ENGINE_LOG_RETENTION_DAYS, METRICS_LOG_RETENTION_DAYS, retained_log_group
from components.security_group import Rule, add_rules, all_outbound, monitoring_rules
from llmdeploy.core.collector import (
    PROMETHEUS_EXPORT_PATH,
    PROMETHEUS_EXPORT_PORT,
    CollectorArgs,
    collector_steps,
)
from llmdeploy.core.engines import TGI, Engine, TgiOptions, api_key_command, tgi_arguments
from llmdeploy.core.s3_weights import local_model_dir, s3_copy_script
from llmdeploy.core.userdata import (
    LIBEXEC_DIR,
    AwsLogs,
    ContainerService,
    DockerRun,
    SecretEnv,
    render_user_data,
)

SERVICE_NAME = "llmdeploy-tgi"
# The host directory mounted at TGI's cache (/data, HF_HOME in the image): the
# weights survive a container restart and are downloaded once per instance.
HOST_DATA_DIR = "/opt/tgi/data"
S3_COPY_PATH = f"{LIBEXEC_DIR}/llmdeploy-tgi-copy-weights"


def tgi_container_service(
    *,
    image: str,
    options: TgiOptions,
    shm_size: str,
    api_port: int,
    hf_token_secret_name: str | None,
    api_key_secret_name: str | None = None,
    model_source: str | None = None,
) -> ContainerService:
    """TGI as a systemd-run container: ports, cache, shm and drain from the engine catalogue; its API
    key (API_KEY, read by the launcher) and the token from Secrets Manager at every start. Its own
    Prometheus listener is published on the host's loopback, for the collector alone."""
    assert TGI.metrics_port is not None  # TGI has its own Prometheus listener
    secrets = []
    if api_key_secret_name:
        _, key_variable = api_key_command(TGI, [])
        secrets.append(SecretEnv(variable=key_variable, secret_name=api_key_secret_name))
    if hf_token_secret_name and TGI.token_env:
        secrets.append(SecretEnv(variable=TGI.token_env, secret_name=hf_token_secret_name))
    return ContainerService(
        name=SERVICE_NAME,
        description=f"Hugging Face TGI serving {options.model_id}",
        run=DockerRun(
            image=image,
            arguments=tgi_arguments(options),
            gpus="all",
            # NCCL and the shards use /dev/shm; Docker's default is 64 MB (TGI's docs: --shm-size 1g).
            shm_size=shm_size,
            ports=[(api_port, TGI.container_port)],
            loopback_ports=[(TGI.metrics_port, TGI.metrics_port)],
            volumes=[(HOST_DATA_DIR, TGI.cache_mount)],
        ),
        drain_seconds=TGI.drain_seconds,
        secrets=secrets,
        host_directories=[HOST_DATA_DIR],
        pre_start_scripts=(
            [(S3_COPY_PATH, s3_copy_script(model_source, f"{HOST_DATA_DIR}/{local_model_dir(model_source)}"))]
            if model_source
            else []
        ),
    )


def engine_container_service(
    *,
    engine: Engine,
    image: str,
    arguments: Sequence[str],
    api_port: int,
    hf_token_secret_name: str | None,
    shm_size: str | None = None,
    environment: Mapping[str, str] | None = None,
    api_key_secret_name: str | None = None,
    loopback_only: bool = False,
) -> ContainerService:
    """vLLM or SGLang as a systemd-run container: one published port (API and /metrics), host IPC
    when the engine's docs run it so, the Hugging Face cache on the host, the API key from Secrets
    Manager. `loopback_only`: the port is published on the host's loopback, for a proxy on api_port
    (then the engine's own port number on the host)."""
    secrets = []
    if api_key_secret_name:
        arguments, key_variable = api_key_command(engine, arguments)
        secrets.append(SecretEnv(variable=key_variable, secret_name=api_key_secret_name))
    if hf_token_secret_name and engine.token_env:
        secrets.append(SecretEnv(variable=engine.token_env, secret_name=hf_token_secret_name))
    published = [(engine.container_port if loopback_only else api_port, engine.container_port)]
    return ContainerService(
        name=f"llmdeploy-{engine.name}",
        description=f"{engine.name} serving on port {api_port}",
        run=DockerRun(
            image=image,
            arguments=list(arguments),
            gpus="all",
            ipc_host=engine.wants_host_ipc,
            shm_size=None if engine.wants_host_ipc else shm_size,
            ports=[] if loopback_only else published,
            loopback_ports=published if loopback_only else [],
            volumes=[(f"/opt/{engine.name}/cache", engine.cache_mount)],
            environment=dict(environment or {}),
        ),
        drain_seconds=engine.drain_seconds,
        secrets=secrets,
        host_directories=[f"/opt/{engine.name}/cache"],
    )


@dataclass(frozen=True)
class TgiServerArgs:
    instance_type: str
    image: str
    # TGI's options (the default engine); with another engine, `service` instead.
    options: TgiOptions | None
    vpc_id: pulumi.Input[str]
    subnet_id: pulumi.Input[str]
    root_volume_gib: int
    # The OpenTelemetry Collector that scrapes the engine on loopback: the engine's metrics reach
    # monitoring through it alone.
    collector: CollectorArgs
    shm_size: str = "1g"
    api_port: int = 8080
    engine: Engine = TGI
    # The container for an engine other than TGI (`engine_container_service`).
    service: ContainerService | None = None
    # Containers beside the engine (a reverse proxy in front of it).
    more_services: Sequence[ContainerService] = ()
    # With `cloudwatch`, the collector's log group is created here, kept this many days.
    metrics_log_retention_days: int = METRICS_LOG_RETENTION_DAYS
    # The engine container's output goes to this CloudWatch Logs group (created here, kept this many
    # days, written by Docker's awslogs driver); None: it stays in Docker's json-file on the instance.
    engine_log_group: str | None = None
    engine_log_retention_days: int = ENGINE_LOG_RETENTION_DAYS
    # The API key's Secrets Manager name (fetched at boot) and ARN (the role may read it).
    api_key_secret_name: str | None = None
    api_key_secret_arn: pulumi.Input[str] | None = None
    # A public subnet and a public IP (reachable from api_allowed_cidrs over the
    # internet), or a private address only.
    public_address: bool = True
    # The AMI: an explicit id, else the value of this public SSM parameter.
    ami_parameter: str | None = None
    ami_id: str | None = None
    api_allowed_cidrs: Sequence[str] = ()
    monitoring_cidrs: Sequence[str] = ()
    monitoring_security_group_id: str | None = None
    # The token's Secrets Manager name (fetched at boot) and ARN (the only secret the role may read).
    hf_token_secret_name: str | None = None
    hf_token_secret_arn: pulumi.Input[str] | None = None
    # Weights copied from this s3:// prefix before TGI starts (the role may read it only).
    model_source: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)


class TgiServer(pulumi.ComponentResource):
    instance_id: pulumi.Output[str]
    address: pulumi.Output[str]
    endpoint: pulumi.Output[str]
    health_url: pulumi.Output[str]
    metrics_url: pulumi.Output[str]
    security_group_id: pulumi.Output[str]
    user_data: str

    def __init__(self, name: str, args: TgiServerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llmdeploy:components:TgiServer", name, None, opts)
        if (args.hf_token_secret_name is None) != (args.hf_token_secret_arn is None):
            raise ValueError("TgiServer: hf_token_secret_name and hf_token_secret_arn go together")
        if args.ami_id is None and args.ami_parameter is None:
            raise ValueError("TgiServer: give ami_id or ami_parameter")
        if (args.engine is TGI) == (args.service is not None) or (args.engine is TGI) != (
            args.options is not None
        ):
            raise ValueError("TgiServer: TGI takes options; another engine takes service")
        if (args.api_key_secret_name is None) != (args.api_key_secret_arn is None):
            raise ValueError("TgiServer: api_key_secret_name and api_key_secret_arn go together")
        collector = args.collector
        engine = args.engine
        # Monitoring reaches the collector's port, never the engine's.
        metrics_port = PROMETHEUS_EXPORT_PORT
        label = "TGI" if engine is TGI else engine.name
        child = pulumi.ResourceOptions(parent=self)

        group = aws.ec2.SecurityGroup(
            f"{name}-sg",
            vpc_id=args.vpc_id,
            description=f"{label}: API port {args.api_port} and metrics port {metrics_port}; no SSH",
            tags={**args.tags, "Name": f"{name}-sg"},
            opts=child,
        )

        ingress = [
            Rule(f"api-{index}", f"{label} API from {cidr}", args.api_port, cidr_ipv4=cidr)
            for index, cidr in enumerate(args.api_allowed_cidrs)
        ]
        ingress += monitoring_rules(
            "metrics",
            f"{label} metrics",
            metrics_port,
            args.monitoring_cidrs,
            args.monitoring_security_group_id,
        )
        # Out to ghcr.io, the Hugging Face hub (CDN addresses, so no narrower rule
        # holds), Secrets Manager, SSM and CloudWatch. The provider removes AWS's
        # default egress rule, so it is stated here.
        egress = [all_outbound("Image, weights and AWS APIs over the internet or the VPC")]
        add_rules(name, group, child, ingress, egress)

        invoke = pulumi.InvokeOutputOptions(parent=self)
        secret_arns = [arn for arn in (args.api_key_secret_arn, args.hf_token_secret_arn) if arn is not None]
        if collector.otlp_headers_secret:
            secret_arns.append(headers_secret_arn(collector.otlp_headers_secret, invoke))
        role = InstanceRole(
            f"{name}-instance",
            InstanceRoleArgs(
                secret_arns=secret_arns,
                # Exactly what the collector's exporters need (logs on its log group, and so on) and
                # the engine's log driver (streams on its group).
                extra_statements=joined_statements(
                    collector_statements(collector, invoke),
                    log_write_statements([args.engine_log_group] if args.engine_log_group else [], invoke),
                ),
                tags=args.tags,
            ),
            opts=child,
        )
        # The exporter's EMF records are bulky.
        log_groups: list[pulumi.Resource] = []
        if collector.cloudwatch is not None:
            log_groups.append(
                retained_log_group(
                    f"{name}-metrics-logs",
                    collector.cloudwatch.log_group,
                    args.metrics_log_retention_days,
                    args.tags,
                    child,
                )
            )
        if args.engine_log_group is not None:
            # The awslogs driver fails the container's start while its group is missing.
            log_groups.append(
                retained_log_group(
                    f"{name}-engine-logs",
                    args.engine_log_group,
                    args.engine_log_retention_days,
                    args.tags,
                    child,
                )
            )
        if args.model_source:
            ModelReadPolicy(f"{name}-weights", role_name=role.role_name, uri=args.model_source, opts=child)

        if args.ami_id is not None:
            ami: pulumi.Input[str] = args.ami_id
            ignore_changes: list[str] = []
        else:
            # `insecure_value`: an AMI id is no secret, and the plan should show it.
            ami = aws.ssm.get_parameter_output(
                name=args.ami_parameter, opts=pulumi.InvokeOutputOptions(parent=self)
            ).insecure_value
            # The parameter moves with every DLAMI release; following it would replace
            # the instance (and re-download the weights) on an unrelated `pulumi up`.
            # Take a new AMI on purpose: `pulumi up --replace <instance urn>`.
            ignore_changes = ["ami"]

        if args.options is not None:
            service = tgi_container_service(
                image=args.image,
                options=args.options,
                shm_size=args.shm_size,
                api_port=args.api_port,
                hf_token_secret_name=args.hf_token_secret_name,
                api_key_secret_name=args.api_key_secret_name,
                model_source=args.model_source,
            )
        else:
            assert args.service is not None
            service = args.service
        if args.engine_log_group is not None:
            service = replace(service, run=replace(service.run, logs=AwsLogs(group=args.engine_log_group)))
        self.user_data = render_user_data(
            service, more_services=args.more_services, extra_steps=collector_steps(collector)
        )
        instance = aws.ec2.Instance(
            f"{name}-instance",
            ami=ami,
            instance_type=args.instance_type,
            subnet_id=args.subnet_id,
            vpc_security_group_ids=[group.id],
            iam_instance_profile=role.instance_profile_name,
            associate_public_ip_address=args.public_address,
            # 1-minute metrics: a stalled GPU server shows in minutes, not after a 5-minute sample.
            monitoring=True,
            metadata_options=aws.ec2.InstanceMetadataOptionsArgs(
                http_endpoint="enabled",
                # IMDSv2 only; hop limit 2 so a container's requests (one hop more) get an answer.
                http_tokens="required",
                http_put_response_hop_limit=2,
            ),
            root_block_device=aws.ec2.InstanceRootBlockDeviceArgs(
                volume_type="gp3",
                volume_size=args.root_volume_gib,
                encrypted=True,
                delete_on_termination=True,
                tags={**args.tags, "Name": f"{name}-root"},
            ),
            user_data=self.user_data,
            # cloud-init runs user data once per instance: a new script needs a new instance.
            user_data_replace_on_change=True,
            tags={**args.tags, "Name": name},
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[role, *log_groups], ignore_changes=ignore_changes
            ),
        )

        self.instance_id = instance.id
        self.security_group_id = group.id
        self.address = instance.public_ip if args.public_address else instance.private_ip
        base_url = pulumi.Output.concat("http://", self.address, f":{args.api_port}")
        self.endpoint = pulumi.Output.concat(base_url, engine.openai_path)
        self.health_url = pulumi.Output.concat(base_url, engine.health_path)
        self.metrics_url = pulumi.Output.concat(
            "http://", self.address, f":{metrics_port}", PROMETHEUS_EXPORT_PATH
        )
        self.register_outputs(
            {
                "instance_id": self.instance_id,
                "endpoint": self.endpoint,
                "health_url": self.health_url,
                "metrics_url": self.metrics_url,
            }
        )
