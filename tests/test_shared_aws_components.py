"""Network, ManagedSecret and InstanceRole, run under the mock monitor through a small test program."""

from __future__ import annotations

import json

import pytest
from pulumi.runtime import mocks

from components.network import INTERFACE_ENDPOINT_SERVICES, subnet_plan, zone_index
from components.secret import secret_read_policy
from llmdeploy.cli.mockrun import OfflineMocks, ProgramRun, is_secret_value, run_program
from llmdeploy.cli.plan import FORMATS, plan_document, render
from tests.support import PROGRAMS, inputs, of_type, one, plaintext_strings

PROGRAM = PROGRAMS / "aws_shared"
CANARY = "hf_" + "Tk9" * 11 + "p"
SECRET_ARN = "arn:aws:secretsmanager:us-east-1:000000000000:secret:aws-shared-test/hf-token-AbC123"


def run(mock: mocks.Mocks | None = None, secret: bool = False, **config: str) -> ProgramRun:
    values = {f"test:{key}": value for key, value in config.items()}
    keys = []
    if secret:
        values["test:token"] = CANARY
        keys.append("test:token")
    return run_program(PROGRAM, "test", config=values, secret_keys=keys, mock=mock)


# ---------------------------------------------------------------------------
# Network


def test_subnets_are_carved_by_zone_letter_so_order_never_matters() -> None:
    assert subnet_plan("10.40.0.0/16", ["us-east-1b", "us-east-1a"]) == subnet_plan(
        "10.40.0.0/16", ["us-east-1a", "us-east-1b"]
    )
    plan = subnet_plan("10.40.0.0/16", ["us-east-1a", "us-east-1c"])
    assert plan["us-east-1a"].public_cidr == "10.40.0.0/20"
    assert plan["us-east-1c"].public_cidr == "10.40.32.0/20"
    assert plan["us-east-1a"].private_cidr == "10.40.128.0/20"
    assert plan["us-east-1c"].private_cidr == "10.40.160.0/20"
    assert zone_index("eu-west-3h") == 7
    with pytest.raises(ValueError, match="not a regional availability zone"):
        zone_index("us-west-2-lax-1z")


def test_created_network_has_public_and_private_subnets_keyed_by_zone_and_no_nat_by_default() -> None:
    program = run()
    vpc = inputs(one(program, "aws:ec2/vpc:Vpc"))
    assert vpc["cidrBlock"] == "10.40.0.0/16" and vpc["enableDnsHostnames"] is True
    subnets = {r.name: inputs(r) for r in of_type(program, "aws:ec2/subnet:Subnet")}
    # The offline plan answers the zone lookup with us-east-1a/b/c; the first two are used.
    assert subnets == {
        "net-public-us-east-1a": subnets["net-public-us-east-1a"],
        "net-public-us-east-1b": subnets["net-public-us-east-1b"],
        "net-private-us-east-1a": subnets["net-private-us-east-1a"],
        "net-private-us-east-1b": subnets["net-private-us-east-1b"],
    }, f"unexpected subnets: {sorted(subnets)}"
    assert subnets["net-private-us-east-1b"]["cidrBlock"] == "10.40.144.0/20"
    assert all(s["mapPublicIpOnLaunch"] is False for s in subnets.values()), "no public IPs by default"
    assert all(s["tags"]["team"] == "ml" for s in subnets.values()), "user tags on every subnet"
    assert of_type(program, "aws:ec2/natGateway:NatGateway") == [], "NAT is off by default"
    assert of_type(program, "aws:ec2/vpcEndpoint:VpcEndpoint") == [], "endpoints are off by default"
    public_routes = inputs(one(program, "aws:ec2/routeTable:RouteTable", "net-public"))["routes"]
    assert public_routes == [{"cidrBlock": "0.0.0.0/0", "gatewayId": "[computed]"}]
    assert inputs(one(program, "aws:ec2/routeTable:RouteTable", "net-private"))["routes"] == []
    assert len(of_type(program, "aws:ec2/routeTableAssociation:RouteTableAssociation")) == 4


def test_explicit_zones_are_used_in_any_order() -> None:
    program = run(zones='["us-east-1d", "us-east-1b"]')
    names = sorted(r.name for r in of_type(program, "aws:ec2/subnet:Subnet"))
    assert names == [
        "net-private-us-east-1b",
        "net-private-us-east-1d",
        "net-public-us-east-1b",
        "net-public-us-east-1d",
    ]


def test_nat_gateway_routes_private_subnets_through_one_nat() -> None:
    program = run(natGateway="true")
    nat = inputs(one(program, "aws:ec2/natGateway:NatGateway"))
    assert nat["subnetId"] == "[computed]"
    assert inputs(one(program, "aws:ec2/eip:Eip"))["domain"] == "vpc"
    private = inputs(one(program, "aws:ec2/routeTable:RouteTable", "net-private"))
    assert private["routes"] == [{"cidrBlock": "0.0.0.0/0", "natGatewayId": "[computed]"}]


def test_vpc_endpoints_cover_what_an_instance_calls_at_boot() -> None:
    program = run(vpcEndpoints="true")
    endpoints = {
        inputs(r)["serviceName"]: inputs(r) for r in of_type(program, "aws:ec2/vpcEndpoint:VpcEndpoint")
    }
    expected = {f"com.amazonaws.us-east-1.{service}" for service in (*INTERFACE_ENDPOINT_SERVICES, "s3")}
    assert set(endpoints) == expected
    for name, endpoint in endpoints.items():
        if name.endswith(".s3"):
            assert endpoint["vpcEndpointType"] == "Gateway" and len(endpoint["routeTableIds"]) == 2
        else:
            assert endpoint["vpcEndpointType"] == "Interface", name
            assert endpoint["privateDnsEnabled"] is True, name
            assert len(endpoint["subnetIds"]) == 2, f"{name}: one interface per private subnet"
    https = inputs(one(program, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"))
    assert (https["fromPort"], https["toPort"], https["cidrIpv4"]) == (443, 443, "10.40.0.0/16")


def test_bring_your_own_network_creates_no_network_resources() -> None:
    program = run(
        vpcId="vpc-0123456789abcdef0",
        publicSubnetIds='["subnet-0123456789abcdef0"]',
        privateSubnetIds='["subnet-0123456789abcdef1", "subnet-0123456789abcdef2"]',
    )
    created = [r.type for r in program.resources if r.type.startswith(("aws:ec2/", "aws:vpc/"))]
    assert created == [], f"bring your own network must create nothing, created {created}"
    outputs = {key: program.outputs.fields[key] for key in program.outputs.fields}
    assert outputs["vpc_id"].string_value == "vpc-0123456789abcdef0"
    assert [v.string_value for v in outputs["private_subnet_ids"].list_value.values] == [
        "subnet-0123456789abcdef1",
        "subnet-0123456789abcdef2",
    ]


# ---------------------------------------------------------------------------
# ManagedSecret and InstanceRole


def test_secret_value_is_a_pulumi_secret_and_its_name_is_known_at_preview() -> None:
    program = run(secret=True)
    secret = inputs(one(program, "aws:secretsmanager/secret:Secret"))
    assert secret["name"] == "aws-shared-test/hf-token" and secret["recoveryWindowInDays"] == 7
    version = one(program, "aws:secretsmanager/secretVersion:SecretVersion")
    assert is_secret_value(version.inputs.fields["secretString"]), "secretString must be wrapped as secret"
    assert program.outputs.fields["secret_name"].string_value == "aws-shared-test/hf-token"


def test_canary_token_appears_nowhere_but_inside_secret_values() -> None:
    program = run(secret=True)
    leaks = [text for text in plaintext_strings(program) if CANARY in text]
    assert leaks == [], f"the token leaked in plaintext: {leaks}"
    document = plan_document(program)
    for fmt in FORMATS:
        assert CANARY not in render(document, fmt), f"the token leaked into the {fmt} plan"


def test_secret_read_policy_allows_get_secret_value_on_exactly_those_arns() -> None:
    assert secret_read_policy([SECRET_ARN]) == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ReadOwnSecrets",
                "Effect": "Allow",
                "Action": ["secretsmanager:GetSecretValue"],
                "Resource": [SECRET_ARN],
            }
        ],
    }
    with pytest.raises(ValueError, match="at least one secret ARN"):
        secret_read_policy([])


class SecretArnMocks(OfflineMocks):
    """Test double for the AWS provider: gives secrets the ARN AWS would, which preview cannot know."""

    def new_resource(self, args: mocks.MockResourceArgs) -> tuple[str | None, dict]:
        resource_id, state = super().new_resource(args)
        if args.typ == "aws:secretsmanager/secret:Secret":
            state = {**state, "arn": SECRET_ARN}
        return resource_id, state


def test_instance_role_may_read_its_secret_and_use_ssm_and_nothing_else() -> None:
    program = run(mock=SecretArnMocks(), secret=True)
    role = inputs(one(program, "aws:iam/role:Role"))
    assume = json.loads(role["assumeRolePolicy"])
    assert assume["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}
    attached = sorted(
        inputs(r)["policyArn"] for r in of_type(program, "aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    )
    # No managed CloudWatch policy: telemetry gets its exact statements from the stack (collector_access).
    assert attached == ["arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"]
    policy = json.loads(inputs(one(program, "aws:iam/rolePolicy:RolePolicy"))["policy"])
    assert policy == secret_read_policy([SECRET_ARN]), f"inline policy not scoped to the secret: {policy}"
    assert inputs(one(program, "aws:iam/instanceProfile:InstanceProfile"))["role"] == "[computed]"


def test_instance_role_without_secrets_has_no_inline_policy() -> None:
    program = run()
    assert of_type(program, "aws:iam/rolePolicy:RolePolicy") == []
