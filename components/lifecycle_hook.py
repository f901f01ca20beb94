"""The launch lifecycle hook of a serving group, and the instance role's right to complete it.

The hook itself is declared on the group at its creation (`launch_hook_args`, an
`initial_lifecycle_hooks` entry of `aws.autoscaling.Group`), so the very first
instances wait for it too; a separate `aws.autoscaling.LifecycleHook` would be
attached only after the group had launched them. The instances complete it
themselves (`llmdeploy.core.lifecycle`), so their role may call
`autoscaling:CompleteLifecycleAction` on their own group, and nothing else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from llmdeploy.core.lifecycle import LAUNCH_TRANSITION


@dataclass(frozen=True)
class LaunchHookArgs:
    hook_name: str
    # Seconds the group waits for completion before it applies ABANDON (the instance is replaced).
    heartbeat_timeout_seconds: int


def launch_hook_parameters(group_name: str, hook: LaunchHookArgs) -> dict[str, Any]:
    """The hook as `PutLifecycleHook` takes it (the moto test sends exactly this)."""
    return {
        "AutoScalingGroupName": group_name,
        "LifecycleHookName": hook.hook_name,
        "LifecycleTransition": LAUNCH_TRANSITION,
        "HeartbeatTimeout": hook.heartbeat_timeout_seconds,
        # An instance that never says it serves is not kept: fail closed.
        "DefaultResult": "ABANDON",
    }


def launch_hook_args(hook: LaunchHookArgs) -> aws.autoscaling.GroupInitialLifecycleHookArgs:
    """The same hook as the group's `initial_lifecycle_hooks` entry."""
    parameters = launch_hook_parameters("", hook)
    return aws.autoscaling.GroupInitialLifecycleHookArgs(
        name=parameters["LifecycleHookName"],
        lifecycle_transition=parameters["LifecycleTransition"],
        heartbeat_timeout=parameters["HeartbeatTimeout"],
        default_result=parameters["DefaultResult"],
    )


def group_arn_pattern(partition: str, region: str, account_id: str, group_name: str) -> str:
    """The ARN of a named Auto Scaling group, its id wildcarded (IAM's documented form)."""
    where = f"arn:{partition}:autoscaling:{region}:{account_id}"
    return f"{where}:autoScalingGroup:*:autoScalingGroupName/{group_name}"


def completion_policy_document(group_arn: str) -> dict[str, Any]:
    """CompleteLifecycleAction on one group. IAM has no resource for a hook: the group is the scope."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "CompleteOwnLaunchLifecycleAction",
                "Effect": "Allow",
                "Action": "autoscaling:CompleteLifecycleAction",
                "Resource": group_arn,
            }
        ],
    }


class LifecycleCompletionPolicy(pulumi.ComponentResource):
    """An inline policy on the instance role: complete lifecycle actions of this group only."""

    def __init__(
        self,
        name: str,
        *,
        role_name: pulumi.Input[str],
        group_name: str,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("llmdeploy:components:LifecycleCompletionPolicy", name, None, opts)
        partition = aws.get_partition_output().partition
        region = aws.get_region_output().region
        account = aws.get_caller_identity_output().account_id
        document = pulumi.Output.all(partition, region, account).apply(
            lambda values: json.dumps(
                completion_policy_document(group_arn_pattern(values[0], values[1], values[2], group_name)),
                sort_keys=True,
            )
        )
        aws.iam.RolePolicy(
            f"{name}-complete-lifecycle",
            role=role_name,
            policy=document,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({})
