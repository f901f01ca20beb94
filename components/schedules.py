"""Off-hours schedules: a group's size on a cron (prod), an instance stopped and started on one (staging).

`GroupSchedule`: two EC2 Auto Scaling scheduled actions, one setting the serving
minimum and maximum at the start hour, one the off-hours sizes at the stop hour.

`InstanceSchedule`: two EventBridge Scheduler schedules calling the EC2 API
(`aws-sdk:ec2:startInstances` / `stopInstances`) with their own role, which
may start and stop that one instance and do nothing else.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from llmdeploy.core.schedule import ServingHours

SCHEDULER_ASSUME_ROLE_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "scheduler.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    },
    sort_keys=True,
)
# EventBridge Scheduler's universal target for the EC2 API (Scheduler docs, "Using universal targets").
START_TARGET = "arn:aws:scheduler:::aws-sdk:ec2:startInstances"
STOP_TARGET = "arn:aws:scheduler:::aws-sdk:ec2:stopInstances"


def start_stop_policy_document(instance_arn: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "StartStopThisInstance",
                "Effect": "Allow",
                "Action": ["ec2:StartInstances", "ec2:StopInstances"],
                "Resource": instance_arn,
            }
        ],
    }


@dataclass(frozen=True)
class GroupScheduleArgs:
    group_name: pulumi.Input[str]
    hours: ServingHours
    on_min_size: int
    on_max_size: int
    on_desired: int
    off_min_size: int
    off_max_size: int


class GroupSchedule(pulumi.ComponentResource):
    def __init__(
        self, name: str, args: GroupScheduleArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("llmdeploy:components:GroupSchedule", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        aws.autoscaling.Schedule(
            f"{name}-serve",
            scheduled_action_name=f"{name}-serve",
            autoscaling_group_name=args.group_name,
            recurrence=args.hours.recurrence(args.hours.start_hour),
            time_zone=args.hours.timezone,
            min_size=args.on_min_size,
            max_size=args.on_max_size,
            desired_capacity=args.on_desired,
            opts=child,
        )
        aws.autoscaling.Schedule(
            f"{name}-sleep",
            scheduled_action_name=f"{name}-sleep",
            autoscaling_group_name=args.group_name,
            recurrence=args.hours.recurrence(args.hours.stop_hour),
            time_zone=args.hours.timezone,
            min_size=args.off_min_size,
            max_size=args.off_max_size,
            desired_capacity=args.off_min_size,
            opts=child,
        )
        self.register_outputs({})


@dataclass(frozen=True)
class InstanceScheduleArgs:
    instance_id: pulumi.Input[str]
    hours: ServingHours
    tags: Mapping[str, str] = field(default_factory=dict)


class InstanceSchedule(pulumi.ComponentResource):
    def __init__(
        self, name: str, args: InstanceScheduleArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("llmdeploy:components:InstanceSchedule", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(
            f"{name}-role",
            assume_role_policy=SCHEDULER_ASSUME_ROLE_POLICY,
            description="EventBridge Scheduler: start and stop one GPU instance",
            tags=dict(args.tags),
            opts=child,
        )
        partition = aws.get_partition_output().partition
        region = aws.get_region_output().region
        account = aws.get_caller_identity_output().account_id
        instance_arn = pulumi.Output.concat(
            "arn:", partition, ":ec2:", region, ":", account, ":instance/", args.instance_id
        )
        aws.iam.RolePolicy(
            f"{name}-start-stop",
            role=role.id,
            policy=instance_arn.apply(
                lambda arn: json.dumps(start_stop_policy_document(arn), sort_keys=True)
            ),
            opts=child,
        )
        body = pulumi.Output.from_input(args.instance_id).apply(lambda i: json.dumps({"InstanceIds": [i]}))
        for action, target, hour in (
            ("start", START_TARGET, args.hours.start_hour),
            ("stop", STOP_TARGET, args.hours.stop_hour),
        ):
            aws.scheduler.Schedule(
                f"{name}-{action}",
                schedule_expression=args.hours.scheduler_cron(hour),
                schedule_expression_timezone=args.hours.timezone,
                flexible_time_window=aws.scheduler.ScheduleFlexibleTimeWindowArgs(mode="OFF"),
                target=aws.scheduler.ScheduleTargetArgs(arn=target, role_arn=role.arn, input=body),
                description=f"{action} the GPU instance on its serving hours",
                opts=child,
            )
        self.register_outputs({})
