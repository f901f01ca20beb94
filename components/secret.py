"""`ManagedSecret`: one AWS Secrets Manager secret holding a Pulumi secret, and who may read it."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws


@dataclass(frozen=True)
class ManagedSecretArgs:
    # Fixed and known at preview: instances fetch the secret by this name at boot.
    secret_name: str
    value: pulumi.Input[str]
    description: str
    # 0 deletes at once; 7-30 keeps a deleted secret recoverable (and its name taken) that long.
    recovery_window_in_days: int = 7
    tags: Mapping[str, str] = field(default_factory=dict)


def secret_read_policy(secret_arns: Sequence[str]) -> dict[str, Any]:
    """An IAM policy document that may read exactly these secrets and nothing else."""
    if not secret_arns:
        raise ValueError("secret_read_policy needs at least one secret ARN")
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ReadOwnSecrets",
                "Effect": "Allow",
                "Action": ["secretsmanager:GetSecretValue"],
                "Resource": sorted(secret_arns),
            }
        ],
    }


def secret_read_policy_json(secret_arns: Sequence[pulumi.Input[str]]) -> pulumi.Output[str]:
    """`secret_read_policy` over ARNs that are known only after deploy."""
    return pulumi.Output.all(*secret_arns).apply(
        lambda arns: json.dumps(secret_read_policy([str(arn) for arn in arns]), sort_keys=True)
    )


class ManagedSecret(pulumi.ComponentResource):
    """A Secrets Manager secret and its current version; the value stays a Pulumi secret throughout."""

    arn: pulumi.Output[str]
    secret_name: pulumi.Output[str]

    def __init__(
        self, name: str, args: ManagedSecretArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("llmdeploy:components:ManagedSecret", name, None, opts)
        secret = aws.secretsmanager.Secret(
            name,
            name=args.secret_name,
            description=args.description,
            recovery_window_in_days=args.recovery_window_in_days,
            tags=dict(args.tags),
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.secretsmanager.SecretVersion(
            f"{name}-current",
            secret_id=secret.id,
            # Wrapped again so a value that arrived as plain text is still encrypted in
            # state and masked in every preview and log.
            secret_string=pulumi.Output.secret(args.value),
            opts=pulumi.ResourceOptions(parent=self, additional_secret_outputs=["secret_string"]),
        )
        self.arn = secret.arn
        self.secret_name = pulumi.Output.from_input(args.secret_name)
        self.register_outputs({"arn": self.arn, "secret_name": self.secret_name})
