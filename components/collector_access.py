"""What an instance's OpenTelemetry Collector may do in AWS: the ARNs its IAM statements name.

The statements themselves are decided in `llmdeploy/core/collector.py` (pure); here the account,
partition and region fill in the ARNs (known at preview: the provider's own data sources).
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_aws as aws

from llmdeploy.core.collector import (
    CollectorArgs,
    collector_policy_statements,
    collector_secret_arn,
    log_group_arn,
)


def _account(opts: pulumi.InvokeOutputOptions | None) -> pulumi.Output[list[str]]:
    """[partition, region, account id] of the provider in use."""
    return pulumi.Output.all(
        aws.get_partition_output(opts=opts).partition,
        aws.get_region_output(opts=opts).region,
        aws.get_caller_identity_output(opts=opts).account_id,
    )


def headers_secret_arn(
    name_or_arn: str, opts: pulumi.InvokeOutputOptions | None = None
) -> pulumi.Output[str]:
    """The OTLP headers secret's ARN (an existing secret, by name or ARN), for the role's read policy."""
    return _account(opts).apply(lambda parts: collector_secret_arn(name_or_arn, *parts))


def collector_statements(
    args: CollectorArgs, opts: pulumi.InvokeOutputOptions | None = None
) -> pulumi.Input[list[dict[str, Any]]]:
    """What the collector's exporters need, exactly; with awsemf, on the log group of this account."""
    cloudwatch = args.cloudwatch
    if cloudwatch is None:
        return collector_policy_statements(args)
    return _account(opts).apply(
        lambda parts: collector_policy_statements(args, log_group_arn(cloudwatch.log_group, *parts))
    )
