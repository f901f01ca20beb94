"""What the AWS stacks (staging, prod) compose the same way: tags, the network and config secrets."""

from __future__ import annotations

import pulumi

from components.network import NetworkArgs
from components.secret import ManagedSecret, ManagedSecretArgs
from stacks.settings import AwsSettings


def stack_tags(settings: AwsSettings) -> dict[str, str]:
    return {
        **settings.tags,
        "llmdeploy:project": pulumi.get_project(),
        "llmdeploy:stack": pulumi.get_stack(),
    }


def network_args(settings: AwsSettings, tags: dict[str, str]) -> NetworkArgs:
    return NetworkArgs(
        vpc_id=settings.vpc_id,
        public_subnet_ids=settings.public_subnet_ids,
        private_subnet_ids=settings.private_subnet_ids,
        cidr=str(settings.vpc_cidr),
        availability_zones=settings.availability_zones,
        nat_gateway=settings.nat_gateway,
        vpc_endpoints=settings.vpc_endpoints,
        tags=tags,
    )


def config_secret(
    name: str, secret_name: str, value: str, description: str, tags: dict[str, str]
) -> ManagedSecret:
    """A secret config value (hfToken, apiKey) in Secrets Manager, where the instances read it by name."""
    return ManagedSecret(
        name,
        ManagedSecretArgs(
            secret_name=secret_name,
            # Config secrets lose their mark once read into settings: mark it again.
            value=pulumi.Output.secret(value),
            description=description,
            # The name is fixed (the instances fetch it by name), and a secret in its recovery
            # window blocks that name: destroy and up again would fail for 7 days. The value's
            # source of truth is the encrypted stack config.
            recovery_window_in_days=0,
            tags=tags,
        ),
    )
