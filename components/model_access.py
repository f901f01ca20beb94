"""`ModelReadPolicy`: the instance role may read one S3 prefix of model weights, and nothing else in S3.

GetObject on the prefix's objects, ListBucket on the bucket only for keys under
the prefix (vLLM's Run:ai streamer lists the safetensors files before it reads them).
"""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_aws as aws


def split_s3_prefix(uri: str) -> tuple[str, str]:
    """`s3://bucket/a/b` -> ("bucket", "a/b"); the prefix has no leading or trailing slash."""
    if not uri.startswith("s3://"):
        raise ValueError(f"{uri!r} is not an s3:// URI")
    bucket, _, prefix = uri[len("s3://") :].partition("/")
    return bucket, prefix.strip("/")


def model_read_policy_document(uri: str, partition: str = "aws") -> dict[str, Any]:
    bucket, prefix = split_s3_prefix(uri)
    objects = f"arn:{partition}:s3:::{bucket}/{prefix}/*" if prefix else f"arn:{partition}:s3:::{bucket}/*"
    listing: dict[str, Any] = {
        "Sid": "ListModelPrefix",
        "Effect": "Allow",
        "Action": "s3:ListBucket",
        "Resource": f"arn:{partition}:s3:::{bucket}",
    }
    if prefix:
        listing["Condition"] = {"StringLike": {"s3:prefix": [prefix, f"{prefix}/*"]}}
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "ReadModelWeights", "Effect": "Allow", "Action": "s3:GetObject", "Resource": objects},
            listing,
        ],
    }


class ModelReadPolicy(pulumi.ComponentResource):
    def __init__(
        self, name: str, *, role_name: pulumi.Input[str], uri: str, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("llmdeploy:components:ModelReadPolicy", name, None, opts)
        partition = aws.get_partition_output().partition
        aws.iam.RolePolicy(
            f"{name}-read-model",
            role=role_name,
            policy=partition.apply(lambda p: json.dumps(model_read_policy_document(uri, p), sort_keys=True)),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({})
