"""What an instance's OpenTelemetry Collector, and the engine's log driver, may do in AWS: the ARNs
their IAM statements name.

The statements themselves are decided in `llmdeploy/core/collector.py` (pure); here the account,
partition and region fill in the ARNs (known at preview: the provider's own data sources).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_aws as aws

from llmdeploy.core.collector import (
    CollectorArgs,
    collector_policy_statements,
    collector_secret_arn,
    log_group_arn,
    log_stream_write_statement,
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


def log_write_statements(
    log_groups: Sequence[str], opts: pulumi.InvokeOutputOptions | None = None
) -> pulumi.Input[list[dict[str, Any]]]:
    """Stream creation and writes on each of these log groups of this account, one statement each."""
    if not log_groups:
        return []
    return _account(opts).apply(
        lambda parts: [log_stream_write_statement(log_group_arn(group, *parts)) for group in log_groups]
    )


def joined_statements(*parts: pulumi.Input[list[dict[str, Any]]]) -> pulumi.Input[list[dict[str, Any]]]:
    """One list of IAM statements from several lists (each may be known only at deploy); a plain list
    when all are, so that no statement at all still means no policy (`InstanceRole`)."""
    if not any(isinstance(part, pulumi.Output) for part in parts):
        return [statement for part in parts for statement in part]  # type: ignore[union-attr]
    return pulumi.Output.all(*parts).apply(lambda lists: [statement for each in lists for statement in each])
