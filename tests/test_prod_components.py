"""The prod components' own guards and pure builders, without a stack around them."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from components.gpu_cluster import GpuClusterArgs, ScalingArgs, SpotArgs, WarmPoolArgs, encode_user_data
from components.load_balancer import LoadBalancerArgs
from components.observability import dashboard_body, unhealthy_evaluation_periods
from llmdeploy.core.metrics import VLLM_METRICS


def cluster_args(**overrides: object) -> GpuClusterArgs:
    base = GpuClusterArgs(
        group_name="g",
        vpc_id="vpc-1",
        private_subnet_ids=["subnet-1", "subnet-2"],
        instance_type="g5.xlarge",
        image_id="ami-1",
        instance_profile_arn="arn:aws:iam::0:instance-profile/p",
        user_data="#!/bin/bash\n",
        root_volume_gib=134,
        root_device_name="/dev/xvda",
        min_size=1,
        desired_capacity=1,
        max_size=2,
        health_check_grace_seconds=900,
        target_group_arns=["arn:tg"],
        api_port=8000,
        load_balancer_security_group_id="sg-alb",
        scaling=ScalingArgs(
            metric="queue_depth", target_value=2, queue_metric_namespace="n", queue_metric_name="m"
        ),
        metrics_port=9464,
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


def test_cluster_refuses_spot_with_a_warm_pool() -> None:
    with pytest.raises(ValueError, match="warm pool cannot be combined"):
        cluster_args(spot=SpotArgs(on_demand_base_capacity=1), warm_pool=WarmPoolArgs())


def test_cluster_refuses_inconsistent_capacity_and_alb_scaling_without_a_label() -> None:
    with pytest.raises(ValueError, match="min_size <= desired_capacity <= max_size"):
        cluster_args(desired_capacity=3)
    with pytest.raises(ValueError, match="needs alb_resource_label"):
        cluster_args(scaling=ScalingArgs(metric="alb_requests", target_value=60))


def test_user_data_is_base64_encoded_for_the_launch_template() -> None:
    assert encode_user_data("#!/bin/bash\necho hi\n") == "IyEvYmluL2Jhc2gKZWNobyBoaQo="


def test_load_balancer_needs_a_certificate_or_explicit_plain_http() -> None:
    base = {
        "vpc_id": "vpc-1",
        "vpc_cidr_block": "10.0.0.0/16",
        "public_subnet_ids": ["subnet-1"],
        "target_port": 8000,
        "health_check_path": "/health",
        "forwarded_paths": ["/v1/*"],
        "allowed_cidrs": ["0.0.0.0/0"],
    }
    with pytest.raises(ValueError, match="needs certificate_arn"):
        LoadBalancerArgs(certificate_arn=None, **base)  # type: ignore[arg-type]
    assert LoadBalancerArgs(certificate_arn=None, allow_plain_http=True, **base).scheme == "http"  # type: ignore[arg-type]
    assert LoadBalancerArgs(certificate_arn="arn:aws:acm:x", **base).scheme == "https"  # type: ignore[arg-type]


def test_unhealthy_alarm_outwaits_a_model_load() -> None:
    for grace in (600, 1020, 3720):
        assert unhealthy_evaluation_periods(grace) * 60 > grace


def test_dashboard_is_known_from_names_alone() -> None:
    body = dashboard_body(
        region="eu-west-1", group_name="g", namespace="ns", target_queue_depth=None, metric_names=VLLM_METRICS
    )
    text = json.dumps(body)
    assert "annotations" not in text, "no scaling target line when scaling on ALB requests"
    graphs = [w for w in body["widgets"] if w["type"] == "metric"]
    assert {w["properties"]["region"] for w in graphs} == {"eu-west-1"}
    metrics = [m for w in graphs for m in w["properties"]["metrics"] if isinstance(m[0], str)]
    assert all(m[2:4] == ["AutoScalingGroupName", "g"] for m in metrics)
    # The latency percentiles: CloudWatch's PromQL over the OTLP histograms, for this group alone.
    [latency] = [w for w in body["widgets"] if w["type"] == "text"]
    markdown = latency["properties"]["markdown"]
    assert (
        '`histogram_quantile(0.99, sum(rate(vllm:time_to_first_token_seconds{AutoScalingGroupName="g"}[5m])))`'
        in markdown
    )
    assert markdown.count("histogram_quantile(") == 3 * len(VLLM_METRICS.latency_families)
