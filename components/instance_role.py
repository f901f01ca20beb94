"""`InstanceRole`: the EC2 instance role and profile every llmdeploy GPU instance runs with.

SSM Session Manager instead of SSH (AmazonSSMManagedInstanceCore), read access to exactly the
secrets the instance fetches at boot, and the statements its telemetry needs (the collector's
exporters, the engine's log driver), each on its own resources. Nothing else.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.secret import secret_read_policy_json

MANAGED_POLICIES = {
    # Session Manager shell and Run Command, so no key pair and no port 22.
    "ssm": "AmazonSSMManagedInstanceCore",
}

EC2_ASSUME_ROLE_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ec2.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    },
    sort_keys=True,
)


@dataclass(frozen=True)
class InstanceRoleArgs:
    # ARNs of the secrets the instance may read (GetSecretValue only).
    secret_arns: Sequence[pulumi.Input[str]] = ()
    # Extra IAM statements (e.g. what the on-instance collector's exporters need), as one inline policy;
    # an Output when they name resources by ARN (a log group in this account and region).
    extra_statements: pulumi.Input[Sequence[Mapping[str, object]]] = ()
    tags: Mapping[str, str] = field(default_factory=dict)


def _policy_json(statements: Sequence[Mapping[str, object]]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [dict(s) for s in statements]})


class InstanceRole(pulumi.ComponentResource):
    role_name: pulumi.Output[str]
    role_arn: pulumi.Output[str]
    instance_profile_name: pulumi.Output[str]
    instance_profile_arn: pulumi.Output[str]

    def __init__(self, name: str, args: InstanceRoleArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llmdeploy:components:InstanceRole", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(
            f"{name}-role",
            assume_role_policy=EC2_ASSUME_ROLE_POLICY,
            description="llmdeploy GPU instance: SSM, its own secrets and telemetry",
            tags=dict(args.tags),
            opts=child,
        )
        partition = aws.get_partition_output().partition
        for key, policy_name in MANAGED_POLICIES.items():
            aws.iam.RolePolicyAttachment(
                f"{name}-{key}",
                role=role.name,
                policy_arn=pulumi.Output.concat("arn:", partition, ":iam::aws:policy/", policy_name),
                opts=child,
            )
        if args.secret_arns:
            aws.iam.RolePolicy(
                f"{name}-read-secrets",
                role=role.id,
                policy=secret_read_policy_json(args.secret_arns),
                opts=child,
            )
        statements = args.extra_statements
        policy: pulumi.Input[str] | None = None
        if isinstance(statements, pulumi.Output):
            policy = statements.apply(_policy_json)
        elif statements:
            policy = _policy_json(statements)  # type: ignore[arg-type]
        if policy is not None:
            # Named when it held the collector's statements alone; the name stays, and so its URN.
            aws.iam.RolePolicy(f"{name}-collector", role=role.id, policy=policy, opts=child)
        profile = aws.iam.InstanceProfile(f"{name}-profile", role=role.name, tags=dict(args.tags), opts=child)

        self.role_name = role.name
        self.role_arn = role.arn
        self.instance_profile_name = profile.name
        self.instance_profile_arn = profile.arn
        self.register_outputs(
            {"role_arn": self.role_arn, "instance_profile_name": self.instance_profile_name}
        )
