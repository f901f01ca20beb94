"""What the AWS stacks (staging, prod) compose the same way: tags and the network."""

from __future__ import annotations

import pulumi

from components.network import NetworkArgs
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
