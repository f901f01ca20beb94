"""The staging stack: TGI on one GPU EC2 instance, the HF token in Secrets Manager."""

from __future__ import annotations

import pulumi

from components.network import Network
from components.schedules import InstanceSchedule, InstanceScheduleArgs
from components.secret import ManagedSecret, ManagedSecretArgs
from components.tgi_server import TgiServer, TgiServerArgs
from llmdeploy.core.engines import TGI, TgiOptions
from llmdeploy.core.s3_weights import local_model_dir
from llmdeploy.core.schedule import monthly_cost
from stacks.aws import network_args, stack_tags
from stacks.outputs import export_capacity, export_endpoint
from stacks.resolve import StagingSpec
from stacks.settings import StagingSettings


def tgi_model_id(settings: StagingSettings) -> str:
    """The hub repo, or the copied S3 prefix as the container sees it."""
    if settings.model_source:
        return f"{TGI.cache_mount}/{local_model_dir(settings.model_source)}"
    return settings.model


def tgi_options(settings: StagingSettings) -> TgiOptions:
    return TgiOptions(
        # The copied prefix, as the container sees it, when the weights come from S3.
        model_id=(
            f"{TGI.cache_mount}/{local_model_dir(settings.model_source)}"
            if settings.model_source
            else settings.model
        ),
        # Every GPU of the instance, stated: TGI 3.3.5 guessed 1 under NVIDIA_VISIBLE_DEVICES=all.
        num_shard=settings.gpu.gpu_count,
        max_input_tokens=settings.max_input_tokens,
        max_total_tokens=settings.max_total_tokens,
        max_concurrent_requests=settings.max_concurrent_requests,
        quantize=settings.quantize,
        otlp_endpoint=settings.otlp_endpoint,
    )


def build(spec: StagingSpec) -> None:
    settings = spec.settings
    tags = stack_tags(settings)
    network = Network("network", network_args(settings, tags))

    secret_name = spec.hf_token_secret_name
    secret = None
    if settings.hf_token is not None and secret_name is not None:
        secret = ManagedSecret(
            "hf-token",
            ManagedSecretArgs(
                secret_name=secret_name,
                # Config secrets lose their mark once read into settings: mark it again.
                value=pulumi.Output.secret(settings.hf_token.get_secret_value()),
                description=f"Hugging Face token for {pulumi.get_project()}/{pulumi.get_stack()} (TGI)",
                # The name is fixed (the instance fetches it by name), and a secret in its
                # recovery window blocks that name: destroy and up again would fail for
                # 7 days. The token's source of truth is the encrypted stack config.
                recovery_window_in_days=0,
                tags=tags,
            ),
        )

    subnet_ids = network.public_subnet_ids if settings.public_address else network.private_subnet_ids
    server = TgiServer(
        "tgi",
        TgiServerArgs(
            instance_type=settings.instance_type,
            image=settings.image_reference,
            options=tgi_options(settings),
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
        engine=TGI.name,
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
