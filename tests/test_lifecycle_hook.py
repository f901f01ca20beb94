"""The launch lifecycle hook: the group's side against moto, the instance's side by running its script.

- moto 5.2.5 answers PutLifecycleHook, DescribeLifecycleHooks and the warm-pool calls: the hook
  the stack declares is sent to it exactly as `launch_hook_parameters` builds it.
- moto has no CompleteLifecycleAction, and the AWS CLI is not installed here: the script's `aws`
  is `RecordingAwsCliTestDouble`, a stand-in on PATH that records its argv.
- No instance metadata service exists off EC2: `ImdsTestDouble` answers the two IMDSv2 paths the
  script reads (token, instance id, region), through the AWS CLI's own endpoint variable.
- The engine is real: llama-cpp-python's server with a tiny GGUF model (tests/fixtures/llama_server.py).
  It has no `/health` route, so the hook's health URL is its `/v1/models`. The real vLLM CPU server
  (worktree d's fixture) must be wired here once merged.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import boto3
import pytest

from components.lifecycle_hook import (
    LaunchHookArgs,
    completion_policy_document,
    group_arn_pattern,
    launch_hook_parameters,
)
from llmdeploy.core.lifecycle import LaunchHook, completion_script, completion_steps
from tests.fixtures.llama_server import LlamaServer
from tests.fixtures.moto_server import MotoServer, aws_env, moto_server  # noqa: F401 - fixtures
from tests.fixtures.servers import ThreadedHttpServer, closed_port
from tests.support import shellcheck

INSTANCE_ID = "i-0123456789abcdef0"
REGION = "us-east-1"


class ImdsTestDouble:
    """IMDSv2's token and metadata paths, as an EC2 instance would answer them (test double)."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                self._send(200, "imds-token" if self.path == "/latest/api/token" else "")

            def do_GET(self) -> None:
                if self.headers.get("X-aws-ec2-metadata-token") != "imds-token":
                    self._send(401, "")
                    return
                answers = {
                    "/latest/meta-data/instance-id": INSTANCE_ID,
                    "/latest/meta-data/placement/region": REGION,
                }
                self._send(200, answers[self.path]) if self.path in answers else self._send(404, "")

            def _send(self, status: int, body: str) -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadedHttpServer(Handler)
        self.url = self.server.url


class RecordingAwsCliTestDouble:
    """An `aws` executable on PATH that appends its argv, as JSON, to a file (test double)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.record = directory / "aws-calls.jsonl"
        script = directory / "aws"
        script.write_text(
            f"#!{sys.executable}\n"
            "import json, sys\n"
            f"with open({str(self.record)!r}, 'a') as out:\n"
            "    out.write(json.dumps(sys.argv[1:]) + '\\n')\n"
        )
        script.chmod(script.stat().st_mode | stat.S_IXUSR)

    def calls(self) -> list[list[str]]:
        if not self.record.exists():
            return []
        return [json.loads(line) for line in self.record.read_text().splitlines()]


@pytest.fixture
def imds() -> Iterator[ImdsTestDouble]:
    double = ImdsTestDouble()
    yield double
    double.server.stop()


def hook_for(health_url: str, deadline_seconds: int = 30) -> LaunchHook:
    return LaunchHook(
        group_name="llmdeploy-prod-vllm",
        hook_name="llmdeploy-prod-vllm-launch",
        health_url=health_url,
        deadline_seconds=deadline_seconds,
    )


def start_script(
    hook: LaunchHook, tmp_path: Path, imds: ImdsTestDouble
) -> tuple[subprocess.Popen[str], RecordingAwsCliTestDouble]:
    aws = RecordingAwsCliTestDouble(tmp_path)
    path = tmp_path / "complete.sh"
    path.write_text(completion_script(hook))
    env = {
        **os.environ,
        "PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}",
        "AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.url,
        "LLMDEPLOY_POLL_SECONDS": "0.2",
        "NO_PROXY": "127.0.0.1,localhost",
    }
    process = subprocess.Popen(
        ["bash", str(path)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    return process, aws


def expected_call(result: str) -> list[str]:
    return [
        "autoscaling",
        "complete-lifecycle-action",
        "--region",
        REGION,
        "--auto-scaling-group-name",
        "llmdeploy-prod-vllm",
        "--lifecycle-hook-name",
        "llmdeploy-prod-vllm-launch",
        "--instance-id",
        INSTANCE_ID,
        "--lifecycle-action-result",
        result,
    ]


def test_script_and_user_data_lines_pass_shellcheck(tmp_path: Path) -> None:
    hook = hook_for("http://127.0.0.1:8000/health")
    shellcheck(completion_script(hook), tmp_path, "complete.sh")
    shellcheck(
        "#!/bin/bash\nset -euo pipefail\n" + "\n".join(completion_steps(hook)) + "\n", tmp_path, "steps.sh"
    )


def test_waits_while_the_engine_does_not_answer_then_abandons(tmp_path: Path, imds: ImdsTestDouble) -> None:
    hook = hook_for(f"http://127.0.0.1:{closed_port()}/health", deadline_seconds=3)
    process, aws = start_script(hook, tmp_path, imds)
    time.sleep(1.5)
    assert process.poll() is None, "the script must keep waiting while /health does not answer"
    assert aws.calls() == [], "nothing completed before the engine answers"
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert aws.calls() == [expected_call("ABANDON")], "past the deadline the instance gives itself up"


def test_completes_with_continue_once_the_real_engine_answers(
    tmp_path: Path,
    imds: ImdsTestDouble,
    llama_server: LlamaServer,
) -> None:
    hook = hook_for(f"{llama_server.base_url}/v1/models")
    process, aws = start_script(hook, tmp_path, imds)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output
    assert aws.calls() == [expected_call("CONTINUE")]
    assert "engine health: CONTINUE" in output


def test_the_group_side_against_moto(aws_env: MotoServer, tmp_path: Path) -> None:  # noqa: F811
    ec2 = boto3.client("ec2", region_name=REGION)
    autoscaling = boto3.client("autoscaling", region_name=REGION)
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    template = ec2.create_launch_template(
        LaunchTemplateName="vllm", LaunchTemplateData={"ImageId": image, "InstanceType": "g5.2xlarge"}
    )["LaunchTemplate"]["LaunchTemplateId"]
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName="llmdeploy-prod-vllm",
        LaunchTemplate={"LaunchTemplateId": template},
        MinSize=0,
        MaxSize=2,
        AvailabilityZones=[f"{REGION}a"],
    )
    hook = LaunchHookArgs(hook_name="llmdeploy-prod-vllm-launch", heartbeat_timeout_seconds=1020)
    autoscaling.put_lifecycle_hook(**launch_hook_parameters("llmdeploy-prod-vllm", hook))
    autoscaling.put_warm_pool(AutoScalingGroupName="llmdeploy-prod-vllm", MinSize=2, PoolState="Stopped")
    (described,) = autoscaling.describe_lifecycle_hooks(AutoScalingGroupName="llmdeploy-prod-vllm")[
        "LifecycleHooks"
    ]
    assert described["LifecycleTransition"] == "autoscaling:EC2_INSTANCE_LAUNCHING"
    assert described["HeartbeatTimeout"] == 1020 and described["DefaultResult"] == "ABANDON"
    pool = autoscaling.describe_warm_pool(AutoScalingGroupName="llmdeploy-prod-vllm")["WarmPoolConfiguration"]
    assert pool["MinSize"] == 2 and pool["PoolState"] == "Stopped"
    # The role's grant names the group's ARN as AutoScaling reports it (id wildcarded).
    (group,) = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["llmdeploy-prod-vllm"])[
        "AutoScalingGroups"
    ]
    pattern = group_arn_pattern(
        "aws", REGION, group["AutoScalingGroupARN"].split(":")[4], "llmdeploy-prod-vllm"
    )
    prefix, suffix = pattern.split("*")
    assert group["AutoScalingGroupARN"].startswith(prefix) and group["AutoScalingGroupARN"].endswith(suffix)
    (statement,) = completion_policy_document(pattern)["Statement"]
    assert statement["Action"] == "autoscaling:CompleteLifecycleAction" and statement["Resource"] == pattern
