"""Builds the shared AWS components from test config, as a stack would."""

import json

import pulumi

from components.instance_role import InstanceRole, InstanceRoleArgs
from components.network import Network, NetworkArgs
from components.secret import ManagedSecret, ManagedSecretArgs

config = pulumi.Config("test")
network = Network(
    "net",
    NetworkArgs(
        vpc_id=config.get("vpcId"),
        public_subnet_ids=json.loads(config.get("publicSubnetIds") or "[]"),
        private_subnet_ids=json.loads(config.get("privateSubnetIds") or "[]"),
        cidr=config.get("cidr") or "10.40.0.0/16",
        availability_zones=json.loads(config.get("zones") or "[]"),
        nat_gateway=config.get_bool("natGateway") or False,
        vpc_endpoints=config.get_bool("vpcEndpoints") or False,
        tags={"team": "ml"},
    ),
)
secret_arns = []
token = config.get_secret("token")
if token is not None:
    secret = ManagedSecret(
        "token",
        ManagedSecretArgs(secret_name="aws-shared-test/hf-token", value=token, description="test token"),
    )
    secret_arns.append(secret.arn)
    pulumi.export("secret_name", secret.secret_name)
role = InstanceRole("gpu", InstanceRoleArgs(secret_arns=secret_arns))
pulumi.export("vpc_id", network.vpc_id)
pulumi.export("public_subnet_ids", network.public_subnet_ids)
pulumi.export("private_subnet_ids", network.private_subnet_ids)
pulumi.export("vpc_cidr_block", network.vpc_cidr_block)
pulumi.export("instance_profile_name", role.instance_profile_name)
