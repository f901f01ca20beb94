"""`AccessLogBucket`: an S3 bucket a load balancer may write its access logs to, and nothing else.

ALB access logs support only SSE-S3 (AES256) on the bucket, and the bucket policy
must let the region's Elastic Load Balancing write under `<prefix>/AWSLogs/<account>/`:
regions opened before August 2022 deliver as the region's ELB account (looked up with
`aws.elb.get_service_account`), later ones as the `logdelivery.elasticloadbalancing`
service principal; the policy names both so it is right in every region.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

LOG_DELIVERY_SERVICE = "logdelivery.elasticloadbalancing.amazonaws.com"


@dataclass(frozen=True)
class AccessLogBucketArgs:
    prefix: str
    # Access logs grow with traffic; older ones are rarely read.
    retention_days: int = 90
    tags: Mapping[str, str] = field(default_factory=dict)


def access_log_policy(bucket_arn: str, prefix: str, account_id: str, elb_account_arn: str) -> str:
    """The bucket policy document: ELB log delivery may put objects under the prefix, over TLS only."""
    objects = f"{bucket_arn}/{prefix}/AWSLogs/{account_id}/*"
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "ElbAccountDelivers",
                    "Effect": "Allow",
                    "Principal": {"AWS": elb_account_arn},
                    "Action": "s3:PutObject",
                    "Resource": objects,
                },
                {
                    "Sid": "ElbServiceDelivers",
                    "Effect": "Allow",
                    "Principal": {"Service": LOG_DELIVERY_SERVICE},
                    "Action": "s3:PutObject",
                    "Resource": objects,
                },
                {
                    "Sid": "TlsOnly",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [bucket_arn, f"{bucket_arn}/*"],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                },
            ],
        },
        sort_keys=True,
    )


class AccessLogBucket(pulumi.ComponentResource):
    """The bucket, its encryption, public access block, retention and delivery policy."""

    bucket_name: pulumi.Output[str]

    def __init__(
        self, name: str, args: AccessLogBucketArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("llmdeploy:components:AccessLogBucket", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        bucket = aws.s3.Bucket(f"{name}-bucket", force_destroy=False, tags=dict(args.tags), opts=child)
        aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="AES256"  # the only encryption ALB log delivery supports
                    )
                )
            ],
            opts=child,
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-retention",
            bucket=bucket.id,
            rules=[
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="expire-access-logs",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=f"{args.prefix}/"),
                    expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(
                        days=args.retention_days
                    ),
                )
            ],
            opts=child,
        )
        account_id = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self)).account_id
        elb_account = aws.elb.get_service_account_output(opts=pulumi.InvokeOutputOptions(parent=self)).arn
        policy = aws.s3.BucketPolicy(
            f"{name}-policy",
            bucket=bucket.id,
            policy=pulumi.Output.all(bucket.arn, account_id, elb_account).apply(
                lambda values: access_log_policy(values[0], args.prefix, values[1], values[2])
            ),
            opts=child,
        )
        # The load balancer checks that it may write when access logs are switched on: the policy first.
        self.policy = policy
        self.bucket_name = bucket.bucket
        self.register_outputs({"bucket_name": self.bucket_name})
