"""`Network`: a VPC with public and private subnets in two zones, or the one you already have.

Bring your own: pass `vpc_id` and both subnet lists, and nothing is created.
Create: a VPC, one public and one private subnet per availability zone (a
named map keyed by zone, each subnet's CIDR fixed by the zone's letter, so
reordering or adding zones never replaces a subnet), an internet gateway,
optionally one NAT gateway (off by default: it costs about $33 a month before
traffic) and optionally VPC endpoints for the AWS services an instance calls
at boot (so private instances need no NAT for them).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.security_group import Rule, add_rules

# What a GPU instance calls: ECR (images), Secrets Manager (the token), SSM and its
# message channels (Session Manager), CloudWatch Logs and metrics (the agent).
INTERFACE_ENDPOINT_SERVICES = (
    "ecr.api",
    "ecr.dkr",
    "secretsmanager",
    "ssm",
    "ssmmessages",
    "ec2messages",
    "logs",
    "monitoring",
)
# Subnets are /4 smaller than the VPC: the first eight for public, the next eight for private.
SUBNET_BITS = 4
MAX_ZONES = 8


@dataclass(frozen=True)
class NetworkArgs:
    # Bring your own: all three, or none.
    vpc_id: str | None = None
    public_subnet_ids: Sequence[str] = ()
    private_subnet_ids: Sequence[str] = ()
    # Create one.
    cidr: str = "10.40.0.0/16"
    # Default: the region's first two zones that need no opt-in.
    availability_zones: Sequence[str] = ()
    nat_gateway: bool = False
    vpc_endpoints: bool = False
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ZoneSubnets:
    public_cidr: str
    private_cidr: str


def zone_index(zone: str) -> int:
    """us-east-1a -> 0 ... us-east-1h -> 7: the zone's letter, so a zone keeps its CIDRs."""
    index = ord(zone[-1]) - ord("a")
    if not 0 <= index < MAX_ZONES:
        raise ValueError(f"{zone}: not a regional availability zone (a-h)")
    return index


def subnet_plan(cidr: str, zones: Sequence[str]) -> dict[str, ZoneSubnets]:
    """Each zone's public and private subnet CIDRs, carved from the VPC CIDR by zone letter."""
    blocks = list(ipaddress.ip_network(cidr).subnets(prefixlen_diff=SUBNET_BITS))
    return {
        zone: ZoneSubnets(
            public_cidr=str(blocks[zone_index(zone)]),
            private_cidr=str(blocks[MAX_ZONES + zone_index(zone)]),
        )
        for zone in sorted(zones)
    }


def default_zones(count: int = 2) -> list[str]:
    """The region's first `count` available zones that need no opt-in (no Local Zones)."""
    zones = aws.get_availability_zones(
        state="available",
        filters=[aws.GetAvailabilityZonesFilterArgs(name="opt-in-status", values=["opt-in-not-required"])],
    )
    return sorted(zones.names)[:count]


class Network(pulumi.ComponentResource):
    vpc_id: pulumi.Output[str]
    vpc_cidr_block: pulumi.Output[str]
    public_subnet_ids: pulumi.Output[list[str]]
    private_subnet_ids: pulumi.Output[list[str]]
    # Zones of the subnets llmdeploy created; empty for your own network.
    availability_zones: list[str]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llmdeploy:components:Network", name, None, opts)
        if args.vpc_id is not None:
            self._bring_your_own(args)
        else:
            self._create(name, args)
        self.register_outputs(
            {
                "vpc_id": self.vpc_id,
                "vpc_cidr_block": self.vpc_cidr_block,
                "public_subnet_ids": self.public_subnet_ids,
                "private_subnet_ids": self.private_subnet_ids,
            }
        )

    def _bring_your_own(self, args: NetworkArgs) -> None:
        if not args.public_subnet_ids or not args.private_subnet_ids:
            raise ValueError("bring your own network: vpc_id needs public and private subnet ids")
        vpc_id = str(args.vpc_id)
        self.vpc_id = pulumi.Output.from_input(vpc_id)
        self.vpc_cidr_block = aws.ec2.get_vpc_output(
            id=vpc_id, opts=pulumi.InvokeOutputOptions(parent=self)
        ).cidr_block
        self.public_subnet_ids = pulumi.Output.from_input(list(args.public_subnet_ids))
        self.private_subnet_ids = pulumi.Output.from_input(list(args.private_subnet_ids))
        self.availability_zones = []

    def _create(self, name: str, args: NetworkArgs) -> None:
        zones = sorted(args.availability_zones) or default_zones()
        plan = subnet_plan(args.cidr, zones)
        child = pulumi.ResourceOptions(parent=self)

        def tags(resource: str) -> dict[str, str]:
            return {**args.tags, "Name": f"{name}-{resource}"}

        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=args.cidr,
            # Interface endpoints' private DNS and the SSM agent need both.
            enable_dns_support=True,
            enable_dns_hostnames=True,
            tags=tags("vpc"),
            opts=child,
        )
        gateway = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, tags=tags("igw"), opts=child)
        public_routes = aws.ec2.RouteTable(
            f"{name}-public",
            vpc_id=vpc.id,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=gateway.id)],
            tags=tags("public"),
            opts=child,
        )

        def subnet(tier: str, zone: str, cidr: str, routes: aws.ec2.RouteTable) -> aws.ec2.Subnet:
            created = aws.ec2.Subnet(
                f"{name}-{tier}-{zone}",
                vpc_id=vpc.id,
                availability_zone=zone,
                cidr_block=cidr,
                # Instances ask for a public address explicitly; none by default.
                map_public_ip_on_launch=False,
                tags=tags(f"{tier}-{zone}"),
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-{tier}-{zone}", subnet_id=created.id, route_table_id=routes.id, opts=child
            )
            return created

        public = {
            zone: subnet("public", zone, cidrs.public_cidr, public_routes) for zone, cidrs in plan.items()
        }

        private_route_list: list[aws.ec2.RouteTableRouteArgs] = []
        if args.nat_gateway:
            # One NAT gateway for all zones: a zone outage cuts private egress, a
            # cost choice for staging-sized networks.
            first_zone = next(iter(plan))
            address = aws.ec2.Eip(f"{name}-nat", domain="vpc", tags=tags("nat"), opts=child)
            nat = aws.ec2.NatGateway(
                f"{name}-nat",
                allocation_id=address.id,
                subnet_id=public[first_zone].id,
                tags=tags("nat"),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[gateway]),
            )
            private_route_list.append(
                aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", nat_gateway_id=nat.id)
            )
        private_routes = aws.ec2.RouteTable(
            f"{name}-private",
            vpc_id=vpc.id,
            routes=private_route_list,
            tags=tags("private"),
            opts=child,
        )
        private = {
            zone: subnet("private", zone, cidrs.private_cidr, private_routes) for zone, cidrs in plan.items()
        }

        if args.vpc_endpoints:
            self._endpoints(
                name, vpc, args.cidr, list(private.values()), [public_routes, private_routes], tags
            )

        self.vpc_id = vpc.id
        self.vpc_cidr_block = vpc.cidr_block
        self.public_subnet_ids = pulumi.Output.all(*[subnet.id for subnet in public.values()])
        self.private_subnet_ids = pulumi.Output.all(*[subnet.id for subnet in private.values()])
        self.availability_zones = list(plan)

    def _endpoints(
        self,
        name: str,
        vpc: aws.ec2.Vpc,
        cidr: str,
        subnets: list[aws.ec2.Subnet],
        route_tables: list[aws.ec2.RouteTable],
        tags: Callable[[str], dict[str, str]],
    ) -> None:
        child = pulumi.ResourceOptions(parent=self)
        region = aws.get_region_output().region
        group = aws.ec2.SecurityGroup(
            f"{name}-endpoints",
            vpc_id=vpc.id,
            description="llmdeploy VPC endpoints: HTTPS from inside the VPC",
            tags=tags("endpoints"),
            opts=child,
        )
        add_rules(
            f"{name}-endpoints",
            group,
            child,
            ingress=[Rule("https", "HTTPS from the VPC", 443, cidr_ipv4=cidr)],
        )
        for service in INTERFACE_ENDPOINT_SERVICES:
            aws.ec2.VpcEndpoint(
                f"{name}-{service.replace('.', '-')}",
                vpc_id=vpc.id,
                service_name=pulumi.Output.concat("com.amazonaws.", region, f".{service}"),
                vpc_endpoint_type="Interface",
                private_dns_enabled=True,
                subnet_ids=[subnet.id for subnet in subnets],
                security_group_ids=[group.id],
                tags=tags(service),
                opts=child,
            )
        # ECR image layers come from S3: the gateway endpoint is free.
        aws.ec2.VpcEndpoint(
            f"{name}-s3",
            vpc_id=vpc.id,
            service_name=pulumi.Output.concat("com.amazonaws.", region, ".s3"),
            vpc_endpoint_type="Gateway",
            route_table_ids=[table.id for table in route_tables],
            tags=tags("s3"),
            opts=child,
        )
