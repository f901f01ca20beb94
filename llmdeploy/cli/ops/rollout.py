"""Rollout: replace a prod stack's instances with an Auto Scaling instance refresh, and watch it.

`pulumi up` changes the launch template; the instances keep running the old
one until they are replaced. An instance refresh replaces them in rolling
batches while the group keeps `min_healthy_percentage` of its capacity in
service. LLM engines take minutes to load a model, so the default launches
each new instance before terminating an old one (min 100 %, max 200 %, as the
prod stack's own refresh on a launch-template change): the group briefly runs
up to twice its instances, and so needs GPU quota above its size.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TextIO

from llmdeploy.cli.ops.aws import Aws, AwsResourceMissing, OpsError

# The stack output naming the prod Auto Scaling group.
ASG_OUTPUT = "asg_name"

ACTIVE_STATUSES = ("Pending", "InProgress", "Cancelling", "RollbackInProgress", "Baking")
TERMINAL_STATUSES = ("Successful", "Failed", "Cancelled", "RollbackFailed", "RollbackSuccessful")

Action = Literal["start", "follow", "cancel", "rollback"]
# The final status each action hopes for; any other final status exits 1.
WANTED_STATUS: dict[Action, str] = {
    "start": "Successful",
    "follow": "Successful",
    "cancel": "Cancelled",
    "rollback": "RollbackSuccessful",
}


@dataclass(frozen=True)
class RolloutTarget:
    stack: str
    asg_name: str
    region: str | None = None


@dataclass(frozen=True)
class RefreshPreferences:
    min_healthy_percentage: int = 100
    max_healthy_percentage: int = 200
    # None: the group's DefaultInstanceWarmup, else its health-check grace period.
    instance_warmup_seconds: int | None = None
    # Leave instances already on the desired launch template alone.
    skip_matching: bool = True

    def problems(self) -> list[str]:
        """Bad values, one line each, before AWS sees them (its limits, from the API reference)."""
        found = []
        min_ok = 0 <= self.min_healthy_percentage <= 100
        if not min_ok:
            found.append(f"--min-healthy-percentage: found {self.min_healthy_percentage}; accepted: 0 to 100")
        if not 100 <= self.max_healthy_percentage <= 200:
            found.append(
                f"--max-healthy-percentage: found {self.max_healthy_percentage}; accepted: 100 to 200"
            )
        elif min_ok and self.max_healthy_percentage - self.min_healthy_percentage > 100:
            found.append(
                f"--max-healthy-percentage: found {self.max_healthy_percentage} with minimum "
                f"{self.min_healthy_percentage}; accepted: at most 100 above the minimum"
            )
        if self.instance_warmup_seconds is not None and self.instance_warmup_seconds < 0:
            found.append(
                f"--instance-warmup: found {self.instance_warmup_seconds}; accepted: 0 or more seconds"
            )
        return found

    def to_api(self) -> dict[str, Any]:
        preferences: dict[str, Any] = {
            "MinHealthyPercentage": self.min_healthy_percentage,
            "MaxHealthyPercentage": self.max_healthy_percentage,
            "SkipMatching": self.skip_matching,
        }
        if self.instance_warmup_seconds is not None:
            preferences["InstanceWarmup"] = self.instance_warmup_seconds
        return preferences


@dataclass(frozen=True)
class RefreshState:
    refresh_id: str
    status: str
    percent: int
    instances_to_update: int | None
    reason: str

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @classmethod
    def from_api(cls, item: dict[str, Any]) -> RefreshState:
        status = str(item.get("Status", "Pending"))
        rollback = item.get("RollbackDetails") or {}
        if status.startswith("Rollback") and rollback:
            percent = rollback.get("PercentageCompleteOnRollback", 0)
            to_update = rollback.get("InstancesToUpdateOnRollback")
            reason = rollback.get("RollbackReason") or item.get("StatusReason", "")
        else:
            percent = item.get("PercentageComplete", 0)
            to_update = item.get("InstancesToUpdate")
            reason = item.get("StatusReason", "")
        return cls(
            refresh_id=str(item["InstanceRefreshId"]),
            status=status,
            percent=int(percent or 0),
            instances_to_update=None if to_update is None else int(to_update),
            reason=" ".join(str(reason or "").split()),
        )


# ---------------------------------------------------------------------------
# Progress: a redrawn bar on a terminal, one line per change otherwise (CI logs).


class ProgressReporter:
    BAR_WIDTH = 30

    def __init__(self, stream: TextIO, interactive: bool | None = None) -> None:
        self.stream = stream
        self.interactive = stream.isatty() if interactive is None else interactive
        self._last: RefreshState | None = None
        self._bar_shown = False

    def note(self, text: str) -> None:
        self._end_bar()
        self.stream.write(text + "\n")
        self.stream.flush()

    def update(self, state: RefreshState) -> None:
        if self.interactive:
            self._draw_bar(state)
        elif state != self._last:
            count = state.instances_to_update
            to_update = "" if count is None else f"  {count} to update"
            reason = f"  {state.reason}" if state.reason else ""
            self.stream.write(
                f"{datetime.now():%H:%M:%S}  {state.status:<18} {state.percent:>3}%{to_update}{reason}\n"
            )
            self.stream.flush()
        self._last = state

    def _draw_bar(self, state: RefreshState) -> None:
        filled = round(self.BAR_WIDTH * max(0, min(state.percent, 100)) / 100)
        bar = "#" * filled + "-" * (self.BAR_WIDTH - filled)
        to_update = "" if state.instances_to_update is None else f" · {state.instances_to_update} to update"
        line = f"[{bar}] {state.percent:>3}% {state.status}{to_update}"
        if state.reason:
            line += f" · {state.reason}"
        width = shutil.get_terminal_size((100, 20)).columns - 1
        self.stream.write("\r\x1b[2K" + line[:width])
        self.stream.flush()
        self._bar_shown = True

    def _end_bar(self) -> None:
        if self._bar_shown:
            self.stream.write("\n")
            self._bar_shown = False

    def finish(self) -> None:
        self._end_bar()
        self.stream.flush()


# ---------------------------------------------------------------------------
# The Auto Scaling calls


def describe_group(aws: Aws, name: str) -> dict[str, Any]:
    groups = aws.call(
        "autoscaling",
        "describe_auto_scaling_groups",
        f"Auto Scaling group {name}",
        AutoScalingGroupNames=[name],
    ).get("AutoScalingGroups", [])
    if not groups:
        raise AwsResourceMissing(
            f"not found: Auto Scaling group {name} in {aws.region}",
            f"check the stack's {ASG_OUTPUT} output (or --asg) and the region",
        )
    return dict(groups[0])


def group_summary(group: dict[str, Any]) -> str:
    instances = group.get("Instances", [])
    in_service = sum(instance.get("LifecycleState") == "InService" for instance in instances)
    return (
        f"Auto Scaling group {group['AutoScalingGroupName']}: {len(instances)} instances "
        f"({in_service} in service), desired {group.get('DesiredCapacity')}, "
        f"min {group.get('MinSize')}, max {group.get('MaxSize')}"
    )


def refreshes(aws: Aws, name: str, refresh_id: str | None = None) -> list[RefreshState]:
    """The group's instance refreshes, most recent first (as AWS lists them)."""
    params: dict[str, Any] = {"AutoScalingGroupName": name}
    if refresh_id:
        params["InstanceRefreshIds"] = [refresh_id]
    items = aws.call(
        "autoscaling", "describe_instance_refreshes", f"instance refreshes of {name}", **params
    ).get("InstanceRefreshes", [])
    return [RefreshState.from_api(item) for item in items]


def active_refresh(aws: Aws, name: str) -> RefreshState | None:
    return next((state for state in refreshes(aws, name) if state.status in ACTIVE_STATUSES), None)


def start_refresh(aws: Aws, name: str, preferences: RefreshPreferences) -> str:
    response = aws.call(
        "autoscaling",
        "start_instance_refresh",
        f"Auto Scaling group {name}",
        AutoScalingGroupName=name,
        Strategy="Rolling",
        Preferences=preferences.to_api(),
    )
    return str(response["InstanceRefreshId"])


def cancel_refresh(aws: Aws, name: str) -> str:
    try:
        response = aws.call(
            "autoscaling", "cancel_instance_refresh", f"Auto Scaling group {name}", AutoScalingGroupName=name
        )
    except AwsResourceMissing:
        raise OpsError(f"no instance refresh in progress on {name}: nothing to cancel") from None
    return str(response["InstanceRefreshId"])


def rollback_refresh(aws: Aws, name: str) -> str:
    try:
        response = aws.call(
            "autoscaling",
            "rollback_instance_refresh",
            f"Auto Scaling group {name}",
            AutoScalingGroupName=name,
        )
    except AwsResourceMissing:
        raise OpsError(
            f"no instance refresh in progress on {name}: nothing to roll back",
            "a finished refresh is undone by deploying the previous configuration (`pulumi up`) "
            "and running `llmdeploy rollout` again",
        ) from None
    return str(response["InstanceRefreshId"])


def follow_refresh(
    aws: Aws,
    name: str,
    refresh_id: str,
    reporter: ProgressReporter,
    poll_seconds: float,
    sleep: Callable[[float], None] = time.sleep,
) -> RefreshState:
    while True:
        found = refreshes(aws, name, refresh_id)
        if not found:
            raise AwsResourceMissing(f"not found: instance refresh {refresh_id} of {name} in {aws.region}")
        state = found[0]
        reporter.update(state)
        if state.finished:
            reporter.finish()
            return state
        sleep(poll_seconds)


@dataclass(frozen=True)
class RolloutResult:
    state: RefreshState | None
    exit_code: int
    summary: str


def run_rollout(
    aws: Aws,
    target: RolloutTarget,
    action: Action,
    reporter: ProgressReporter,
    *,
    preferences: RefreshPreferences | None = None,
    wait: bool = True,
    poll_seconds: float = 15.0,
    sleep: Callable[[float], None] = time.sleep,
) -> RolloutResult:
    name = target.asg_name
    reporter.note(group_summary(describe_group(aws, name)))
    active = active_refresh(aws, name)
    if action == "start":
        if active is not None:
            reporter.note(f"following instance refresh {active.refresh_id}, already {active.status}")
            refresh_id = active.refresh_id
        else:
            refresh_id = start_refresh(aws, name, preferences or RefreshPreferences())
            reporter.note(f"started instance refresh {refresh_id}")
    elif action == "follow":
        if active is None:
            latest = refreshes(aws, name)
            last = f"; the last one ended {latest[0].status}" if latest else ""
            return RolloutResult(None, 0, f"no instance refresh in progress on {name}{last}")
        refresh_id = active.refresh_id
        reporter.note(f"following instance refresh {refresh_id}, {active.status}")
    elif action == "cancel":
        refresh_id = cancel_refresh(aws, name)
        reporter.note(f"cancelling instance refresh {refresh_id}")
    else:
        refresh_id = rollback_refresh(aws, name)
        reporter.note(f"rolling back instance refresh {refresh_id}")
    if not wait:
        return RolloutResult(None, 0, f"instance refresh {refresh_id} on {name}: not waiting for it")
    state = follow_refresh(aws, name, refresh_id, reporter, poll_seconds, sleep)
    wanted = WANTED_STATUS[action]
    summary = f"instance refresh {refresh_id} on {name}: {state.status}"
    if state.reason:
        summary += f" ({state.reason})"
    return RolloutResult(state, 0 if state.status == wanted else 1, summary)
