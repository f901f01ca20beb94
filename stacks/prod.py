"""The prod stack: vLLM (or SGLang, TGI) on a GPU Auto Scaling group behind an Application Load Balancer.

Composes the shared network, secrets and instance role with the serving load
balancer, the GPU cluster and its observability. Every name the instances need
at boot (secrets, the Auto Scaling group, the metrics namespace and log group)
is derived from the project and stack names, so the user data is complete at
preview.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from components.access_logs import AccessLogBucket, AccessLogBucketArgs
from components.collector_access import (
    collector_statements,
    headers_secret_arn,
    joined_statements,
    log_write_statements,
)
from components.gpu_cluster import GpuCluster, GpuClusterArgs, ScalingArgs, SpotArgs, WarmPoolArgs
from components.instance_role import InstanceRole, InstanceRoleArgs
from components.lifecycle_hook import LaunchHookArgs, LifecycleCompletionPolicy
from components.load_balancer import LoadBalancerArgs, ServingLoadBalancer
from components.model_access import ModelReadPolicy
from components.network import Network
from components.observability import (
    ENGINE_LOG_RETENTION_DAYS,
    AlarmThresholds,
    ObservabilityArgs,
    ServingObservability,
    retained_log_group,
)
from components.schedules import GroupSchedule, GroupScheduleArgs
from llmdeploy.core.collector import PROMETHEUS_EXPORT_PATH, PROMETHEUS_EXPORT_PORT
from llmdeploy.core.engines import Engine
from llmdeploy.core.schedule import monthly_cost
from llmdeploy.core.userdata_vllm import collector_args, server_metrics_port
from stacks.aws import config_secret, network_args, stack_tags
from stacks.outputs import export_capacity, export_endpoint
from stacks.resolve import ProdSpec


def forwarded_paths(engine: Engine) -> tuple[str, ...]:
    """What clients and the load balancer's probe need: the engine's OpenAI path (the one its key
    guards) and its health. Everything else, `/metrics` and vLLM's keyless /invocations above all,
    answers 404 at the load balancer."""
    return (f"{engine.openai_path}/*", engine.health_path)


# Prometheus EC2 service discovery finds the instances by this tag (see docs/observability.md).
SCRAPE_TAG = "llmdeploy:prometheus-scrape"


def discovery_tags(engine: Engine) -> dict[str, str]:
    """EC2 tags for Prometheus EC2 service discovery (filter on SCRAPE_TAG, relabel port and path).

    The port is the on-instance collector's, never the engine's: vLLM's port answers inference
    without the key (`/invocations`) and takes traffic from the load balancer only.
    """
    return {
        SCRAPE_TAG: "true",
        "prometheus.io/port": str(PROMETHEUS_EXPORT_PORT),
        "prometheus.io/path": PROMETHEUS_EXPORT_PATH,
        "llmdeploy:engine": engine.name,
    }


def metrics_url_pattern() -> str:
    """The instances' metrics are private: the URL Prometheus reaches on each discovered instance."""
    return f"http://<instance private IP>:{PROMETHEUS_EXPORT_PORT}{PROMETHEUS_EXPORT_PATH}"


def build(spec: ProdSpec) -> None:
    settings = spec.settings
    engine = spec.engine
    tags = stack_tags(settings)
    network = Network("network", network_args(settings, tags))
    where = f"{pulumi.get_project()}/{pulumi.get_stack()}"

    api_key = config_secret(
        "vllm-api-key",
        spec.api_key_secret_name,
        settings.api_key.get_secret_value(),
        f"{engine.label} API key for {where}",
        tags,
    )
    secret_arns: list[pulumi.Input[str]] = [api_key.arn]
    hf_token_secret_name = spec.hf_token_secret_name
    if settings.hf_token is not None and hf_token_secret_name is not None:
        hf_token = config_secret(
            "hf-token",
            hf_token_secret_name,
            settings.hf_token.get_secret_value(),
            f"Hugging Face token for {where} ({engine.label})",
            tags,
        )
        secret_arns.append(hf_token.arn)
    headers_secret = settings.otlp_headers_secret_name
    if headers_secret is not None:
        # The collector's OTLP headers: an existing secret, by name or ARN, read by this role alone.
        secret_arns.append(headers_secret_arn(headers_secret))
    # SSM, GetSecretValue on exactly these secrets, what the collector's exporters need (its EMF log
    # group, CloudWatch's OTLP endpoint, remote write to the workspace when one is given), and the
    # engine's log driver (streams on its log group).
    role = InstanceRole(
        "vllm-instance",
        InstanceRoleArgs(
            secret_arns=secret_arns,
            extra_statements=joined_statements(
                collector_statements(collector_args(spec.metrics)),
                log_write_statements([spec.engine_log_group]),
            ),
            tags=tags,
        ),
    )
    # Before any instance: the awslogs driver fails the engine's start while its group is missing.
    engine_logs = retained_log_group("engine-logs", spec.engine_log_group, ENGINE_LOG_RETENTION_DAYS, tags)
    role_policies: list[pulumi.Resource] = [role, engine_logs]
    if settings.model_source:
        role_policies.append(
            ModelReadPolicy("model-weights", role_name=role.role_name, uri=settings.model_source)
        )
    if spec.launch_hook is not None:
        role_policies.append(
            LifecycleCompletionPolicy("launch-hook", role_name=role.role_name, group_name=spec.group_name)
        )

    grace = spec.health_check_grace_seconds
    # The API is internet-facing: every request it served can be traced afterwards.
    access_logs = AccessLogBucket("api-access-logs", AccessLogBucketArgs(prefix="alb", tags=tags))
    load_balancer = ServingLoadBalancer(
        "api",
        LoadBalancerArgs(
            vpc_id=network.vpc_id,
            vpc_cidr_block=network.vpc_cidr_block,
            public_subnet_ids=network.public_subnet_ids,
            target_port=engine.container_port,
            health_check_path=engine.health_path,
            forwarded_paths=forwarded_paths(engine),
            allowed_cidrs=settings.api_allowed_cidr_blocks,
            certificate_arn=settings.certificate_arn,
            allow_plain_http=settings.allow_plain_http,
            idle_timeout_seconds=settings.idle_timeout_seconds,
            # In-flight requests of a deregistering instance get as long as the engine drains.
            deregistration_delay_seconds=spec.drain_seconds,
            access_logs_bucket=access_logs.bucket_name,
            access_logs_prefix="alb",
            access_logs_ready=access_logs.policy,
            tags=tags,
        ),
    )

    name = spec.group_name
    if settings.ami_id is not None:
        image_id: pulumi.Input[str] = settings.ami_id
    else:
        # `insecure_value`: an AMI id is no secret, and the plan should show it.
        image_id = aws.ssm.get_parameter_output(name=settings.ami_parameter).insecure_value

    if settings.scaling_metric == "queue_depth":
        scaling = ScalingArgs(
            metric="queue_depth",
            target_value=settings.target_queue_depth_per_instance,
            queue_metric_namespace=spec.metric_namespace,
            queue_metric_name=spec.metric_names.queue_depth,
        )
    else:
        scaling = ScalingArgs(
            metric="alb_requests",
            target_value=settings.target_requests_per_instance,
            alb_resource_label=pulumi.Output.concat(
                load_balancer.arn_suffix, "/", load_balancer.target_group_arn_suffix
            ),
        )

    observability = ServingObservability(
        "observability",
        ObservabilityArgs(
            name=name,
            region=aws.get_region().region,
            group_name=name,
            metric_namespace=spec.metric_namespace,
            metric_names=spec.metric_names,
            log_group_name=spec.metrics.log_group,
            load_balancer_arn_suffix=load_balancer.arn_suffix,
            target_group_arn_suffix=load_balancer.target_group_arn_suffix,
            health_check_grace_seconds=grace,
            thresholds=AlarmThresholds(
                http_5xx_per_minute=settings.alarm_server_errors_per_minute,
                p99_response_seconds=settings.alarm_p99_response_seconds,
                queue_depth_per_instance=settings.alarm_queue_depth_per_instance,
            ),
            target_queue_depth=(
                settings.target_queue_depth_per_instance if settings.scaling_metric == "queue_depth" else None
            ),
            alarm_actions=settings.alarm_topic_arns,
            tags=tags,
        ),
    )
    # The collector's awsemf exporter may not create its log group (no logs:CreateLogGroup): the
    # group, with its retention, exists before the first instance starts.
    role_policies.append(observability.metrics_log_group)

    cluster = GpuCluster(
        "vllm",
        GpuClusterArgs(
            group_name=name,
            vpc_id=network.vpc_id,
            private_subnet_ids=network.private_subnet_ids,
            instance_type=settings.instance_type,
            image_id=image_id,
            ignore_image_changes=settings.ami_id is None,
            instance_profile_arn=role.instance_profile_arn,
            user_data=spec.user_data,
            root_volume_gib=spec.root_volume_gib,
            root_device_name=spec.root_device_name,
            min_size=settings.min_size,
            desired_capacity=settings.desired,
            max_size=settings.max_size,
            health_check_grace_seconds=grace,
            target_group_arns=[load_balancer.target_group_arn],
            api_port=engine.container_port,
            load_balancer_security_group_id=load_balancer.security_group_id,
            scaling=scaling,
            # The collector's Prometheus port: monitoring never reaches the engine's own.
            metrics_port=PROMETHEUS_EXPORT_PORT,
            monitoring_cidrs=settings.monitoring_cidr_blocks,
            monitoring_security_group_id=settings.monitoring_security_group_id,
            server_metrics_port=server_metrics_port(engine),
            spot=(
                SpotArgs(
                    on_demand_base_capacity=settings.on_demand_base_capacity,
                    instance_types=settings.spot_instance_types,
                )
                if settings.use_spot
                else None
            ),
            warm_pool=WarmPoolArgs(min_size=settings.warm_pool_min_size) if settings.warm_pool else None,
            launch_hook=(
                LaunchHookArgs(
                    hook_name=spec.launch_hook.hook_name,
                    heartbeat_timeout_seconds=spec.launch_hook_timeout_seconds,
                )
                if spec.launch_hook is not None and spec.launch_hook_timeout_seconds is not None
                else None
            ),
            tags={**tags, **discovery_tags(engine), "Name": name},
        ),
        opts=pulumi.ResourceOptions(depends_on=role_policies),
    )
    if settings.schedule is not None:
        GroupSchedule(
            "off-hours",
            GroupScheduleArgs(
                group_name=cluster.group_name,
                hours=settings.schedule.serving_hours,
                on_min_size=settings.min_size,
                on_max_size=settings.max_size,
                on_desired=settings.min_size,
                off_min_size=settings.schedule.off_hours_min_size,
                off_max_size=settings.schedule.off_hours_max_size,
            ),
        )

    export_endpoint(
        endpoint=pulumi.Output.concat(load_balancer.base_url, engine.openai_path),
        # Clients send the served name as `model`.
        model=settings.served_name,
        engine=engine.name,
        health_url=pulumi.Output.concat(load_balancer.base_url, engine.health_path),
        metrics_url=metrics_url_pattern(),
    )
    pulumi.export("asg_name", cluster.group_name)
    pulumi.export("target_group_arn", load_balancer.target_group_arn)
    export_capacity(spec.capacity, extra=spec.cold_start_decisions)
    if settings.schedule is not None:
        pulumi.export(
            "cost",
            monthly_cost(
                settings.gpu.on_demand_usd_per_hour,
                settings.min_size,
                settings.schedule.off_hours_min_size,
                settings.schedule.serving_hours,
            ),
        )
