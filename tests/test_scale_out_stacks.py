"""Scale-out in the plans: the launch hook and its completion, weights from S3, off-hours schedules."""

from __future__ import annotations

import base64
import json
import shlex
from pathlib import Path
from typing import Any

import pytest

from components.schedules import start_stop_policy_document
from llmdeploy.cli.mockrun import ProgramRefused
from llmdeploy.core.s3_weights import s3_copy_script
from tests.conftest import plan_of, resources_of, run_stack
from tests.support import shellcheck

ASG = "aws:autoscaling/group:Group"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"


def only(plan: dict[str, Any], type_: str) -> dict[str, Any]:
    found = resources_of(plan, type_)
    assert len(found) == 1, [r["urn"] for r in found]
    return found[0]["inputs"]


def user_data(plan: dict[str, Any]) -> str:
    return base64.b64decode(only(plan, LAUNCH_TEMPLATE)["userData"]).decode()


def policies(plan: dict[str, Any]) -> list[dict[str, Any]]:
    # The secrets' policy names their ARNs, known only after deploy.
    found = [r["inputs"]["policy"] for r in resources_of(plan, ROLE_POLICY)]
    return [json.loads(policy) for policy in found if policy != "[computed]"]


def statements(plan: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [s for doc in policies(plan) for s in doc["Statement"] if action in json.dumps(s["Action"])]


def test_prod_without_warm_pool_has_no_hook() -> None:
    plan = plan_of("prod")
    assert "initialLifecycleHooks" not in only(plan, ASG)
    assert not statements(plan, "autoscaling:CompleteLifecycleAction")
    assert "complete-lifecycle-action" not in user_data(plan)


def test_warm_pool_plan_shows_the_hook_and_the_instances_completion_of_it() -> None:
    plan = plan_of("prod", warmPool="true", warmPoolMinSize="2")
    group = only(plan, ASG)
    (hook,) = group["initialLifecycleHooks"]
    assert hook["lifecycleTransition"] == "autoscaling:EC2_INSTANCE_LAUNCHING"
    assert hook["defaultResult"] == "ABANDON"
    decisions = plan["outputs"]["capacity"]["cold_start_decisions"]
    assert hook["heartbeatTimeout"] == decisions["launch_hook_timeout_seconds"]
    assert hook["heartbeatTimeout"] >= plan["outputs"]["capacity"]["cold_start"]["cold"]["total_seconds"]
    # Behind the hook the grace starts when the instance serves: the short one.
    assert group["healthCheckGracePeriod"] == decisions["health_check_grace_seconds"] == 180
    script = user_data(plan)
    assert "aws autoscaling complete-lifecycle-action" in script
    assert f"hook={hook['name']}" in script and "group=llmdeploy-prod-vllm" in script
    assert "http://127.0.0.1:8000/health" in script
    (statement,) = statements(plan, "autoscaling:CompleteLifecycleAction")
    assert statement["Action"] == "autoscaling:CompleteLifecycleAction"
    assert statement["Resource"].endswith(":autoScalingGroup:*:autoScalingGroupName/llmdeploy-prod-vllm")


def test_model_source_s3_streams_with_scoped_read() -> None:
    uri = "s3://acme-models/meta-llama/Llama-3.1-8B-Instruct"
    plan = plan_of("prod", modelSource=uri, vpcEndpoints="true")
    script = user_data(plan)
    run_line = next(line for line in script.splitlines() if line.startswith("exec docker run "))
    # The model is `vllm serve`'s positional argument, right after the image (--model is deprecated).
    words = shlex.split(run_line)
    image = next(word for word in words if word.startswith("vllm/vllm-openai:"))
    assert words[words.index(image) + 1] == uri and "--model" not in words, run_line
    assert "--load-format runai_streamer" in run_line
    assert "--served-model-name llama-3.1-8b-instruct" in run_line
    (read,) = statements(plan, "s3:GetObject")
    assert read["Resource"] == "arn:aws:s3:::acme-models/meta-llama/Llama-3.1-8B-Instruct/*"
    (listing,) = statements(plan, "s3:ListBucket")
    assert listing["Resource"] == "arn:aws:s3:::acme-models"
    assert listing["Condition"]["StringLike"]["s3:prefix"][1] == "meta-llama/Llama-3.1-8B-Instruct/*"
    assert plan["outputs"]["capacity"]["cold_start"]["cold"]["weights_from"] == "s3"
    gateways = [
        r
        for r in resources_of(plan, "aws:ec2/vpcEndpoint:VpcEndpoint")
        if r["inputs"]["vpcEndpointType"] == "Gateway"
    ]
    assert len(gateways) == 1, "S3 traffic takes the gateway endpoint, not the NAT"


def test_model_source_and_schedule_refuse_bad_values_in_one_line() -> None:
    with pytest.raises(ProgramRefused) as caught:
        run_stack("prod", modelSource="https://example.com/model")
    assert "llmdeploy:modelSource: found" in str(caught.value) and "s3://" in str(caught.value)
    with pytest.raises(ProgramRefused) as caught:
        run_stack("staging", schedule=json.dumps({"startHour": 20, "stopHour": 8}))
    assert "startHour before stopHour" in str(caught.value)
    assert "Traceback" not in str(caught.value)


def test_prod_schedule_scales_min_and_max_and_shows_both_costs() -> None:
    schedule = {"startHour": 8, "stopHour": 20, "days": "weekdays", "timezone": "Europe/Berlin"}
    plan = plan_of("prod", schedule=json.dumps(schedule))
    actions = {
        r["inputs"]["scheduledActionName"]: r["inputs"]
        for r in resources_of(plan, "aws:autoscaling/schedule:Schedule")
    }
    serve, sleep = actions["off-hours-serve"], actions["off-hours-sleep"]
    assert serve["recurrence"] == "0 8 * * 1-5" and sleep["recurrence"] == "0 20 * * 1-5"
    assert serve["timeZone"] == sleep["timeZone"] == "Europe/Berlin"
    assert (serve["minSize"], serve["maxSize"]) == (2, 4)
    assert (sleep["minSize"], sleep["maxSize"], sleep["desiredCapacity"]) == (0, 0, 0)
    cost = plan["outputs"]["cost"]
    assert cost["hours_on_per_week"] == 60
    # g5.2xlarge at $1.212/h, 2 instances: always on vs 60 of 168 hours.
    assert cost["always_on_usd"] == round(1.212 * 2 * 730, 2)
    assert cost["with_schedule_usd"] == round(1.212 * 2 * 730 * 60 / 168, 2)


def test_staging_schedule_stops_and_starts_its_instance_with_a_narrow_role() -> None:
    plan = plan_of("staging", schedule=json.dumps({"startHour": 7, "stopHour": 19}))
    schedules = resources_of(plan, "aws:scheduler/schedule:Schedule")
    expressions = sorted(r["inputs"]["scheduleExpression"] for r in schedules)
    assert expressions == ["cron(0 19 ? * MON-FRI *)", "cron(0 7 ? * MON-FRI *)"]
    targets = sorted(r["inputs"]["target"]["arn"] for r in schedules)
    assert targets == [
        "arn:aws:scheduler:::aws-sdk:ec2:startInstances",
        "arn:aws:scheduler:::aws-sdk:ec2:stopInstances",
    ]
    # The policy names the instance's ARN, known only after deploy: the plan shows it computed,
    # and its document is the pure function's.
    start_stop = [r for r in resources_of(plan, ROLE_POLICY) if "off-hours" in r["urn"]]
    assert len(start_stop) == 1 and start_stop[0]["inputs"]["policy"] == "[computed]"
    (statement,) = start_stop_policy_document("arn:aws:ec2:us-east-1:123456789012:instance/i-0abc")[
        "Statement"
    ]
    assert statement["Action"] == ["ec2:StartInstances", "ec2:StopInstances"]
    assert statement["Resource"] == "arn:aws:ec2:us-east-1:123456789012:instance/i-0abc"
    roles = [
        r for r in resources_of(plan, "aws:iam/role:Role") if "scheduler" in r["inputs"]["assumeRolePolicy"]
    ]
    assert len(roles) == 1
    cost = plan["outputs"]["cost"]
    assert cost["with_schedule_usd"] < cost["always_on_usd"]


def test_image_in_ami_takes_the_pull_out_of_the_budget_and_needs_an_ami_id() -> None:
    uri = "s3://acme-models/llama-3.1-8b"
    baked = plan_of("prod", modelSource=uri, amiId="ami-0123456789abcdef0", imageInAmi="true")
    cold = baked["outputs"]["capacity"]["cold_start"]["cold"]
    assert cold["image_baked"] is True and cold["phases"]["image_pull"]["seconds"] == 0
    # The target: an 8B model serving within 6 minutes cold from S3, with the image in the AMI.
    assert cold["total_seconds"] <= 360
    pulled = plan_of("prod", modelSource=uri)["outputs"]["capacity"]["cold_start"]["cold"]
    assert pulled["total_seconds"] > cold["total_seconds"]
    with pytest.raises(ProgramRefused) as caught:
        run_stack("prod", imageInAmi="true")
    assert "llmdeploy:imageInAmi: found true without amiId" in str(caught.value)


def test_staging_model_source_copies_from_s3_before_tgi_starts(tmp_path: Path) -> None:
    uri = "s3://acme-models/meta-llama/Llama-3.1-8B-Instruct"
    plan = plan_of("staging", modelSource=uri)
    (instance,) = [r["inputs"] for r in resources_of(plan, "aws:ec2/instance:Instance")]
    script = instance["userData"]
    copy_path = "/usr/local/libexec/llmdeploy/llmdeploy-tgi-copy-weights"
    # The unit copies, then starts TGI on the copy (after the secrets, before docker run).
    assert f"ExecStartPre={copy_path}" in script
    assert script.index(f"ExecStartPre={copy_path}") < script.index(
        "ExecStart=/usr/local/libexec/llmdeploy/llmdeploy-tgi-start"
    )
    assert "--model-id /data/s3-models/meta-llama--Llama-3.1-8B-Instruct" in script
    assert "aws s3 sync" in script and "max_concurrent_requests 32" in script
    (read,) = statements(plan, "s3:GetObject")
    assert read["Resource"] == "arn:aws:s3:::acme-models/meta-llama/Llama-3.1-8B-Instruct/*"
    assert plan["outputs"]["capacity"]["cold_start"]["cold"]["weights_from"] == "s3"
    load = plan["outputs"]["capacity"]["cold_start"]["cold"]["phases"]["load"]
    assert load["seconds"] > 0, "TGI reads the copy from disk: the load is not streamed"
    shellcheck(s3_copy_script(uri, "/opt/tgi/data/s3-models/x"), tmp_path, "copy.sh")
