"""The staging stack: TGI (or vLLM, SGLang) on one GPU EC2 instance, the HF token in Secrets Manager."""

from __future__ import annotations

import pulumi

from components.network import Network
from components.schedules import InstanceSchedule, InstanceScheduleArgs
from components.tgi_server import TgiServer, TgiServerArgs, engine_container_service
from llmdeploy.core.engines import (
    SglangOptions,
    TgiOptions,
    sglang_arguments,
    vllm_arguments,
    vllm_environment,
)
from llmdeploy.core.proxy import needs_proxy, proxy_service
from llmdeploy.core.schedule import monthly_cost
from llmdeploy.core.userdata import ContainerService
from llmdeploy.core.userdata_vllm import collector_args
from stacks.aws import config_secret, network_args, stack_tags
from stacks.outputs import export_capacity, export_endpoint
from stacks.resolve import StagingSpec


def engine_service(spec: StagingSpec, hf_token_secret_name: str | None) -> ContainerService | None:
    """vLLM's or SGLang's container, its port on loopback behind the proxy; None for TGI (the component
    builds TGI's from its options)."""
    settings, options = spec.settings, spec.engine_options
    if isinstance(options, TgiOptions):
        return None
    if isinstance(options, SglangOptions):
        arguments, environment = sglang_arguments(options), {}
    else:
        arguments, environment = vllm_arguments(options), vllm_environment(options)
    return engine_container_service(
        engine=settings.engine_entry,
        image=settings.image_reference,
        arguments=arguments,
        api_port=settings.api_port,
        hf_token_secret_name=hf_token_secret_name,
        environment=environment,
        api_key_secret_name=settings.api_key_secret_name,
        loopback_only=needs_proxy(settings.engine_entry),
    )


def sidecars(spec: StagingSpec) -> list[ContainerService]:
    """The proxy in front of an engine whose key leaves paths open (vLLM, SGLang): staging has no load
    balancer, so it forwards what prod's ALB forwards."""
    engine = spec.settings.engine_entry
    if not needs_proxy(engine):
        return []
    return [proxy_service(engine, api_port=spec.settings.api_port)]


def build(spec: StagingSpec) -> None:
    settings = spec.settings
    tags = stack_tags(settings)
    network = Network("network", network_args(settings, tags))

    where = f"{pulumi.get_project()}/{pulumi.get_stack()}"
    engine = settings.engine_entry
    secret_name = spec.hf_token_secret_name
    secret = None
    if settings.hf_token is not None and secret_name is not None:
        secret = config_secret(
            "hf-token",
            secret_name,
            settings.hf_token.get_secret_value(),
            f"Hugging Face token for {where} ({engine.label})",
            tags,
        )
    api_key = config_secret(
        "api-key",
        settings.api_key_secret_name,
        settings.api_key.get_secret_value(),
        f"{engine.label} API key for {where}",
        tags,
    )

    subnet_ids = network.public_subnet_ids if settings.public_address else network.private_subnet_ids
    server = TgiServer(
        "tgi",
        TgiServerArgs(
            instance_type=settings.instance_type,
            image=settings.image_reference,
            options=spec.engine_options if isinstance(spec.engine_options, TgiOptions) else None,
            engine=settings.engine_entry,
            service=engine_service(spec, secret_name if secret is not None else None),
            more_services=sidecars(spec),
            # Scrapes the engine on loopback, re-exposes it on 9464, sends it to CloudWatch.
            collector=collector_args(spec.metrics),
            engine_log_group=spec.engine_log_group,
            api_key_secret_name=settings.api_key_secret_name,
            api_key_secret_arn=api_key.arn,
            vpc_id=network.vpc_id,
            subnet_id=subnet_ids.apply(lambda ids: ids[0]),
            root_volume_gib=spec.root_volume_gib,
            shm_size=settings.shm_size,
            api_port=settings.api_port,
            public_address=settings.public_address,
            ami_parameter=settings.ami_parameter,
            ami_id=settings.ami_id,
            api_allowed_cidrs=settings.api_allowed_cidr_blocks,
            monitoring_cidrs=settings.monitoring_cidr_blocks,
            monitoring_security_group_id=settings.monitoring_security_group_id,
            hf_token_secret_name=secret_name if secret is not None else None,
            hf_token_secret_arn=secret.arn if secret is not None else None,
            model_source=settings.model_source,
            tags=tags,
        ),
    )
    export_endpoint(
        endpoint=server.endpoint,
        model=settings.model,
        engine=settings.engine,
        health_url=server.health_url,
        metrics_url=server.metrics_url,
    )
    pulumi.export("instance_id", server.instance_id)
    export_capacity(spec.capacity)
    if settings.schedule is not None:
        hours = settings.schedule.serving_hours
        InstanceSchedule(
            "off-hours", InstanceScheduleArgs(instance_id=server.instance_id, hours=hours, tags=tags)
        )
        pulumi.export("cost", monthly_cost(settings.gpu.on_demand_usd_per_hour, 1, 0, hours))
