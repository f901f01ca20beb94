"""Rollout against moto's server: the Auto Scaling group lives in moto; the instance-refresh calls,
which moto does not implement, are answered by InstanceRefreshTestDouble in front of it."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from llmdeploy.cli import main
from llmdeploy.cli.ops.rollout import ASG_OUTPUT, ProgressReporter, RefreshPreferences, RefreshState
from tests.conftest import plan_of
from tests.fixtures.aws_test_doubles import InstanceRefreshTestDouble
from tests.fixtures.moto_server import ALLOW_ALL, TEST_CREDENTIALS, MotoServer, deny, use_credentials

GROUP = "llmdeploy-prod-vllm"


def create_group(moto: MotoServer, size: int = 2) -> str:
    ec2 = moto.client("ec2")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    ec2.create_launch_template(
        LaunchTemplateName=f"{GROUP}-lt", LaunchTemplateData={"ImageId": image, "InstanceType": "g5.xlarge"}
    )
    moto.client("autoscaling").create_auto_scaling_group(
        AutoScalingGroupName=GROUP,
        LaunchTemplate={"LaunchTemplateName": f"{GROUP}-lt", "Version": "$Latest"},
        MinSize=1,
        MaxSize=4,
        DesiredCapacity=size,
        AvailabilityZones=["us-east-1a"],
    )
    return GROUP


def refresh_client(double: InstanceRefreshTestDouble) -> Any:
    """An Auto Scaling client as another operator would use it, to start a refresh beside the command."""
    return boto3.client(
        "autoscaling",
        region_name="us-east-1",
        endpoint_url=double.url,
        aws_access_key_id=TEST_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=TEST_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


def rollout(capsys: pytest.CaptureFixture[str], program: Path, *args: str) -> tuple[int, list[str], str]:
    code = main(
        [
            "rollout",
            "prod",
            "--program",
            str(program),
            "--region",
            "us-east-1",
            "--poll-seconds",
            "0.01",
            *args,
        ]
    )
    captured = capsys.readouterr()
    return code, captured.out.splitlines(), captured.err


def progress(lines: list[str]) -> list[str]:
    """Progress lines without their clock: 'InProgress          50%  1 to update'."""
    return [" ".join(line.split()[1:]) for line in lines if line[:2].isdigit() and line[2] == ":"]


def test_start_and_follow_to_success(
    refreshes: InstanceRefreshTestDouble, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    create_group(refreshes.moto)
    code, lines, err = rollout(capsys, tmp_path, "--asg", GROUP)
    assert code == 0, err
    assert lines[0] == f"Auto Scaling group {GROUP}: 2 instances (2 in service), desired 2, min 1, max 4"
    refresh_id = lines[1].removeprefix("started instance refresh ")
    assert progress(lines) == [
        "InProgress 0% 2 to update",
        "InProgress 50% 1 to update",
        "Successful 100% 0 to update",
    ]
    assert lines[-1] == f"instance refresh {refresh_id} on {GROUP}: Successful"
    [started] = refreshes.started
    assert {key: value for key, value in started.items() if key.startswith(("Preferences", "Strategy"))} == {
        "Strategy": "Rolling",
        "Preferences.MinHealthyPercentage": "100",
        "Preferences.MaxHealthyPercentage": "200",
        "Preferences.SkipMatching": "true",
    }


def test_preferences_from_the_command_line(
    refreshes: InstanceRefreshTestDouble, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    create_group(refreshes.moto)
    args = (
        "--asg",
        GROUP,
        "--min-healthy-percentage",
        "50",
        "--max-healthy-percentage",
        "100",
        "--instance-warmup",
        "900",
    )
    code, _, err = rollout(capsys, tmp_path, *args, "--no-wait")
    assert code == 0, err
    [started] = refreshes.started
    assert (
        started["Preferences.MinHealthyPercentage"],
        started["Preferences.MaxHealthyPercentage"],
        started["Preferences.InstanceWarmup"],
    ) == ("50", "100", "900")


def test_no_wait_returns_once_started(
    refreshes: InstanceRefreshTestDouble, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    create_group(refreshes.moto)
    code, lines, _ = rollout(capsys, tmp_path, "--asg", GROUP, "--no-wait")
    assert code == 0
    assert progress(lines) == []
    assert lines[-1].endswith(f"on {GROUP}: not waiting for it")


def test_a_refresh_under_way_is_followed_not_started_again(
    refreshes: InstanceRefreshTestDouble, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    create_group(refreshes.moto)
    refresh_id = refresh_client(refreshes).start_instance_refresh(AutoScalingGroupName=GROUP)[
        "InstanceRefreshId"
    ]
    code, lines, _ = rollout(capsys, tmp_path, "--asg", GROUP)
    assert code == 0
    assert lines[1] == f"following instance refresh {refresh_id}, already InProgress"
    assert len(refreshes.started) == 1, "a second refresh was started"


def test_failed_refresh_exits_1_with_its_reason(
    refreshes: InstanceRefreshTestDouble, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    create_group(refreshes.moto)
    refreshes.fail_at_percent = 100
    code, lines, _ = rollout(capsys, tmp_path, "--asg", GROUP)
    assert code == 1
    assert progress(lines)[-1] == "Failed 50% 1 to update Instance i-0example failed ELB health checks."
    assert lines[-1].endswith(": Failed (Instance i-0example failed ELB health checks.)")


def test_follow_with_nothing_under_way(
    refreshes: InstanceRefreshTestDouble, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    create_group(refreshes.moto)
    code, lines, _ = rollout(capsys, tmp_path, "--asg", GROUP, "--follow")
    assert (code, lines[-1]) == (0, f"no instance refresh in progress on {GROUP}")
    assert refreshes.started == []


def test_cancel(
    refreshes: InstanceRefreshTestDouble, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    create_group(refreshes.moto)
    refresh_id = refresh_client(refreshes).start_instance_refresh(AutoScalingGroupName=GROUP)[
        "InstanceRefreshId"
    ]
    code, lines, _ = rollout(capsys, tmp_path, "--asg", GROUP, "--cancel")
    assert code == 0
    assert lines[1] == f"cancelling instance refresh {refresh_id}"
    assert lines[-1] == f"instance refresh {refresh_id} on {GROUP}: Cancelled"


def test_cancel_with_nothing_under_way(
    refreshes: InstanceRefreshTestDouble, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    create_group(refreshes.moto)
    code, _, err = rollout(capsys, tmp_path, "--asg", GROUP, "--cancel")
    assert code == 1
    assert err == f"error: no instance refresh in progress on {GROUP}: nothing to cancel\n"


def test_rollback(
    refreshes: InstanceRefreshTestDouble, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    create_group(refreshes.moto)
    refresh_id = refresh_client(refreshes).start_instance_refresh(AutoScalingGroupName=GROUP)[
        "InstanceRefreshId"
    ]
    code, lines, _ = rollout(capsys, tmp_path, "--asg", GROUP, "--rollback")
    assert code == 0
    assert lines[1] == f"rolling back instance refresh {refresh_id}"
    assert progress(lines) == [
        "RollbackInProgress 50% 0 to update Rollback requested by the user",
        "RollbackSuccessful 100% 0 to update Rollback requested by the user",
    ]
    assert lines[-1].startswith(f"instance refresh {refresh_id} on {GROUP}: RollbackSuccessful")


def test_rollback_with_nothing_under_way(
    refreshes: InstanceRefreshTestDouble, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    create_group(refreshes.moto)
    code, _, err = rollout(capsys, tmp_path, "--asg", GROUP, "--rollback")
    assert code == 1
    assert err.splitlines()[0] == f"error: no instance refresh in progress on {GROUP}: nothing to roll back"
    assert "pulumi up" in err


def test_missing_group(
    refreshes: InstanceRefreshTestDouble, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = rollout(capsys, tmp_path, "--asg", "nope")
    assert code == 1
    assert err.splitlines()[0] == "error: not found: Auto Scaling group nope in us-east-1"


def test_access_denied_names_the_permission(
    refreshes: InstanceRefreshTestDouble,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    create_group(refreshes.moto)
    use_credentials(monkeypatch, refreshes.moto.create_user("ci", [ALLOW_ALL, deny("autoscaling:Describe*")]))
    with refreshes.moto.iam_enforced():
        code, _, err = rollout(capsys, tmp_path, "--asg", GROUP)
    assert code == 1
    assert err.splitlines()[0].startswith(
        "error: access denied: the credentials in use may not call autoscaling:DescribeAutoScalingGroups "
        f"on Auto Scaling group {GROUP}"
    ), err


def test_group_name_from_the_stack_outputs(
    refreshes: InstanceRefreshTestDouble, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    create_group(refreshes.moto)
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"endpoint": "https://llm.example.com/v1", "asg_name": GROUP}))
    code, lines, _ = rollout(capsys, tmp_path, "--outputs", str(outputs), "--no-wait")
    assert code == 0
    assert lines[0].startswith(f"Auto Scaling group {GROUP}:")
    outputs.write_text(json.dumps({"endpoint": "https://llm.example.com/v1"}))
    code, _, err = rollout(capsys, tmp_path, "--outputs", str(outputs))
    assert code == 1
    assert err.splitlines() == [
        "error: asg_name: found nothing in the stack outputs; accepted: the Auto Scaling group name",
        "what to do: pass --asg NAME",
    ]


def test_staging_has_no_group_to_refresh(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: llmdeploy\nruntime: python\n")
    code = main(["rollout", "staging", "--program", str(tmp_path), "--asg", GROUP])
    assert code == 1
    assert "is a staging stack: one instance, no Auto Scaling group" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--max-healthy-percentage", "250"),
            "error: --max-healthy-percentage: found 250; accepted: 100 to 200",
        ),
        (("--min-healthy-percentage", "-1"), "error: --min-healthy-percentage: found -1; accepted: 0 to 100"),
        (
            ("--min-healthy-percentage", "20", "--max-healthy-percentage", "150"),
            "error: --max-healthy-percentage: found 150 with minimum 20; accepted: at most 100 above the minimum",
        ),
        (("--poll-seconds", "0"), "error: --poll-seconds: found 0; accepted: seconds above 0"),
    ],
)
def test_bad_preferences_are_refused_before_any_call(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str
) -> None:
    code = main(["rollout", "prod", "--program", str(tmp_path), "--asg", GROUP, *args])
    assert (code, capsys.readouterr().err.strip()) == (1, message)


# ---------------------------------------------------------------------------
# Progress display


def state(status: str, percent: int, to_update: int | None, reason: str = "") -> RefreshState:
    return RefreshState("r-1", status, percent, to_update, reason)


def test_terminal_gets_a_redrawn_bar() -> None:
    stream = io.StringIO()
    reporter = ProgressReporter(stream, interactive=True)
    reporter.update(state("InProgress", 50, 1))
    reporter.update(state("Successful", 100, 0))
    reporter.finish()
    assert stream.getvalue() == (
        "\r\x1b[2K[###############---------------]  50% InProgress · 1 to update"
        "\r\x1b[2K[##############################] 100% Successful · 0 to update\n"
    )


def test_log_gets_one_line_per_change() -> None:
    stream = io.StringIO()
    reporter = ProgressReporter(stream)  # a StringIO is not a terminal
    assert not reporter.interactive
    for item in (state("InProgress", 50, 1), state("InProgress", 50, 1), state("Successful", 100, 0)):
        reporter.update(item)
    assert progress(stream.getvalue().splitlines()) == [
        "InProgress 50% 1 to update",
        "Successful 100% 0 to update",
    ]


def test_rollback_progress_reads_the_rollback_details() -> None:
    item = {
        "InstanceRefreshId": "r-1",
        "Status": "RollbackInProgress",
        "PercentageComplete": 80,
        "InstancesToUpdate": 1,
        "StatusReason": "",
        "RollbackDetails": {
            "RollbackReason": "alarm llm-5xx in ALARM",
            "PercentageCompleteOnRollback": 25,
            "InstancesToUpdateOnRollback": 3,
        },
    }
    assert RefreshState.from_api(item) == state("RollbackInProgress", 25, 3, "alarm llm-5xx in ALARM")


def test_default_preferences_launch_before_terminating() -> None:
    assert RefreshPreferences().to_api() == {
        "MinHealthyPercentage": 100,
        "MaxHealthyPercentage": 200,
        "SkipMatching": True,
    }


def test_the_prod_stack_exports_the_group_name_rollout_reads() -> None:
    assert ASG_OUTPUT in plan_of("prod")["outputs"]
