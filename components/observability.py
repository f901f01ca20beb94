"""`ServingObservability`: CloudWatch alarms and a dashboard for an LLM fleet behind an ALB.

Alarms watch the load balancer (5xx, unhealthy targets, p99 response time) and
the engine (queue depth, as published by the instances' collector). The
dashboard shows what decides user experience and cost: queue depth, KV-cache
usage, tokens per second, the group's capacity, and the PromQL of the latency
percentiles (time to first token and the others). It is built from names only,
so the plan shows it in full at preview.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from llmdeploy.core.dashboards import cloudwatch_quantile
from llmdeploy.core.metrics import EngineMetricNames

ALB_NAMESPACE = "AWS/ApplicationELB"
ASG_NAMESPACE = "AWS/AutoScaling"
ALARM_PERIOD_SECONDS = 60
# EMF metric logs are bulky and their metrics are extracted on arrival: a month is plenty.
METRICS_LOG_RETENTION_DAYS = 30
# The engine's own output (start-up, errors, request lines): a month covers looking back at an
# incident, and its instance is gone by then (every refresh and scale-in replaces instances).
ENGINE_LOG_RETENTION_DAYS = 30


def retained_log_group(
    name: str,
    log_group: str,
    retention_days: int,
    tags: Mapping[str, str],
    opts: pulumi.ResourceOptions | None = None,
) -> aws.cloudwatch.LogGroup:
    """A log group an instance's writer (the collector's awsemf exporter, Docker's
    awslogs driver) puts its streams in: created here, with a retention, because the writer would
    otherwise create it itself, with none (and need CreateLogGroup to)."""
    return aws.cloudwatch.LogGroup(
        name, name=log_group, retention_in_days=retention_days, tags=dict(tags), opts=opts
    )


@dataclass(frozen=True)
class AlarmThresholds:
    # 5xx answers per minute, from the ALB itself and from the targets.
    http_5xx_per_minute: int = 5
    # p99 of the ALB's TargetResponseTime over 5 minutes (time to the response
    # headers: for a stream that is the start of the stream, for a plain request all of it).
    p99_response_seconds: float = 60.0
    # Requests waiting per instance, sustained for 10 minutes: scaling is not keeping up.
    queue_depth_per_instance: float = 8.0


@dataclass(frozen=True)
class ObservabilityArgs:
    name: str
    region: str
    group_name: str
    metric_namespace: str
    log_group_name: str
    load_balancer_arn_suffix: pulumi.Input[str]
    target_group_arn_suffix: pulumi.Input[str]
    # New targets are unhealthy while the model loads: the unhealthy-host alarm waits this out.
    health_check_grace_seconds: int
    # The engine's series, as the instances publish them (llmdeploy/core/metrics.py).
    metric_names: EngineMetricNames
    thresholds: AlarmThresholds = AlarmThresholds()
    # Drawn on the queue-depth graph when scaling tracks queue depth.
    target_queue_depth: float | None = None
    alarm_actions: Sequence[str] = ()
    log_retention_days: int = METRICS_LOG_RETENTION_DAYS
    tags: Mapping[str, str] = field(default_factory=dict)


def _engine_metric(namespace: str, group_name: str, metric: str, **options: Any) -> list[Any]:
    return [namespace, metric, "AutoScalingGroupName", group_name, options]


def _widget(
    title: str, metrics: list[list[Any]], region: str, x: int, y: int, **properties: Any
) -> dict[str, Any]:
    return {
        "type": "metric",
        "x": x,
        "y": y,
        "width": 12,
        "height": 6,
        "properties": {
            "title": title,
            "region": region,
            "view": "timeSeries",
            "stacked": False,
            "period": 60,
            "metrics": metrics,
            **properties,
        },
    }


def dashboard_body(
    *,
    region: str,
    group_name: str,
    namespace: str,
    target_queue_depth: float | None,
    metric_names: EngineMetricNames,
) -> dict[str, Any]:
    """The dashboard as CloudWatch's dashboard body structure; a series the engine lacks is left out."""

    def engine(metric: str | None, suffix: str = "", **options: Any) -> list[list[Any]]:
        if metric is None:
            return []
        return [_engine_metric(namespace, group_name, f"{metric}{suffix}", **options)]

    names = metric_names

    queue_annotations = (
        {"annotations": {"horizontal": [{"label": "scaling target", "value": target_queue_depth}]}}
        if target_queue_depth is not None
        else {}
    )
    widgets = [
        _widget(
            "Queue depth per instance",
            [
                *engine(names.queue_depth, stat="Average", label="waiting (mean)"),
                *engine(names.queue_depth, stat="Maximum", label="waiting (worst instance)"),
                *engine(names.requests_running, stat="Average", label="running (mean)"),
            ],
            region,
            0,
            0,
            **queue_annotations,
        ),
        _widget(
            "KV-cache usage (fraction of blocks)",
            [
                *engine(names.kv_cache_usage, stat="Average", label="mean"),
                *engine(names.kv_cache_usage, stat="Maximum", label="worst instance"),
            ],
            region,
            12,
            0,
            yAxis={"left": {"min": 0, "max": 1}},
        ),
        _widget(
            "Tokens per second (fleet)",
            [
                # Counters arrive as the increase per scrape; a minute's sum over 60 s.
                [
                    {
                        "expression": "generated / PERIOD(generated)",
                        "label": "generated tokens/s",
                        "id": "gen_rate",
                    }
                ],
                [{"expression": "prompt / PERIOD(prompt)", "label": "prompt tokens/s", "id": "prompt_rate"}],
                *engine(names.generation_tokens, stat="Sum", id="generated", visible=False),
                *engine(names.prompt_tokens, stat="Sum", id="prompt", visible=False),
            ],
            region,
            0,
            6,
        ),
        _widget(
            "Instances",
            [
                [ASG_NAMESPACE, metric, "AutoScalingGroupName", group_name, {"stat": "Maximum"}]
                for metric in ("GroupDesiredCapacity", "GroupInServiceInstances", "GroupPendingInstances")
            ],
            region,
            12,
            6,
        ),
        latency_widget(group_name, names, 0, 12),
    ]
    # A graph with no series (TGI has no KV-cache series) is left out.
    return {"widgets": [widget for widget in widgets if _has_series(widget)]}


def _has_series(widget: dict[str, Any]) -> bool:
    if widget["type"] != "metric":
        return True
    return any(isinstance(row[0], str) for row in widget["properties"]["metrics"])


LATENCY_QUANTILES = ((0.5, "p50"), (0.9, "p90"), (0.99, "p99"))


def latency_widget(group_name: str, names: EngineMetricNames, x: int, y: int) -> dict[str, Any]:
    """The latency percentiles, as the PromQL that computes them in CloudWatch.

    The collector sends the engine's latency histograms to CloudWatch over OTLP; their percentiles are
    PromQL (`histogram_quantile`), which CloudWatch runs in Query Studio, in PromQL alarms and in
    Grafana's CloudWatch data source. CloudWatch's dashboard body structure documents no PromQL
    metric widget, so the dashboard carries the queries, ready to paste, rather than a guessed widget.
    """
    families = (
        ("Time to first token", names.time_to_first_token),
        ("Inter-token latency", names.inter_token_latency),
        ("End-to-end latency", names.e2e_request_latency),
        ("Queue time", names.request_queue_time),
    )
    lines = [
        "## Latency percentiles (PromQL in CloudWatch Query Studio)",
        "The engine's latency histograms reach CloudWatch whole, over OTLP. Paste a query into "
        "**Query Studio** (PromQL), or use it in a PromQL alarm or Grafana's CloudWatch data source.",
        "",
    ]
    for title, family in families:
        if family is None:
            continue
        lines.append(f"**{title}** (seconds)")
        lines.append("")
        for quantile, label in LATENCY_QUANTILES:
            query = cloudwatch_quantile(family, quantile, "AutoScalingGroupName", group_name)
            lines.append(f"- {label}: `{query}`")
        lines.append("")
    return {
        "type": "text",
        "x": x,
        "y": y,
        "width": 24,
        "height": 9,
        "properties": {"markdown": "\n".join(lines).rstrip() + "\n"},
    }


def unhealthy_evaluation_periods(health_check_grace_seconds: int) -> int:
    """Minutes an unhealthy target must last before alarming: longer than a model load, plus 5."""
    return math.ceil(health_check_grace_seconds / ALARM_PERIOD_SECONDS) + 5


class ServingObservability(pulumi.ComponentResource):
    """Metrics log group, alarms and dashboard."""

    dashboard_name: pulumi.Output[str]
    alarm_names: list[pulumi.Output[str]]
    metrics_log_group: aws.cloudwatch.LogGroup

    def __init__(
        self, name: str, args: ObservabilityArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("llmdeploy:components:ServingObservability", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(args.tags)
        actions = list(args.alarm_actions)
        lb_dimensions = {"LoadBalancer": args.load_balancer_arn_suffix}
        tg_dimensions = {
            "LoadBalancer": args.load_balancer_arn_suffix,
            "TargetGroup": args.target_group_arn_suffix,
        }

        # The collector's EMF metric logs are bulky.
        self.metrics_log_group = retained_log_group(
            f"{name}-metrics-logs", args.log_group_name, args.log_retention_days, tags, child
        )

        def alarm(suffix: str, description: str, **properties: Any) -> aws.cloudwatch.MetricAlarm:
            return aws.cloudwatch.MetricAlarm(
                f"{name}-{suffix}",
                name=f"{args.name}-{suffix}",
                alarm_description=description,
                alarm_actions=actions,
                ok_actions=actions,
                tags=tags,
                opts=child,
                **properties,
            )

        alarms = [
            alarm(
                "alb-5xx",
                "The load balancer itself answered 5xx (no healthy target, target closed or timed out).",
                namespace=ALB_NAMESPACE,
                metric_name="HTTPCode_ELB_5XX_Count",
                dimensions=lb_dimensions,
                statistic="Sum",
                period=ALARM_PERIOD_SECONDS,
                evaluation_periods=5,
                datapoints_to_alarm=3,
                threshold=args.thresholds.http_5xx_per_minute,
                comparison_operator="GreaterThanOrEqualToThreshold",
                treat_missing_data="notBreaching",
            ),
            alarm(
                "target-5xx",
                "The engine answered 5xx.",
                namespace=ALB_NAMESPACE,
                metric_name="HTTPCode_Target_5XX_Count",
                dimensions=tg_dimensions,
                statistic="Sum",
                period=ALARM_PERIOD_SECONDS,
                evaluation_periods=5,
                datapoints_to_alarm=3,
                threshold=args.thresholds.http_5xx_per_minute,
                comparison_operator="GreaterThanOrEqualToThreshold",
                treat_missing_data="notBreaching",
            ),
            alarm(
                "unhealthy-hosts",
                "A target stayed unhealthy for longer than a model load takes.",
                namespace=ALB_NAMESPACE,
                metric_name="UnHealthyHostCount",
                dimensions=tg_dimensions,
                statistic="Maximum",
                period=ALARM_PERIOD_SECONDS,
                evaluation_periods=unhealthy_evaluation_periods(args.health_check_grace_seconds),
                threshold=1,
                comparison_operator="GreaterThanOrEqualToThreshold",
                treat_missing_data="notBreaching",
            ),
            alarm(
                "p99-response-time",
                "p99 of the time to the engine's response headers.",
                namespace=ALB_NAMESPACE,
                metric_name="TargetResponseTime",
                dimensions=tg_dimensions,
                extended_statistic="p99",
                period=300,
                evaluation_periods=3,
                threshold=args.thresholds.p99_response_seconds,
                comparison_operator="GreaterThanThreshold",
                treat_missing_data="notBreaching",
            ),
            alarm(
                "queue-depth",
                "Requests waiting per instance stayed high: scaling is not keeping up or is at max_size.",
                namespace=args.metric_namespace,
                metric_name=args.metric_names.queue_depth,
                dimensions={"AutoScalingGroupName": args.group_name},
                statistic="Average",
                period=ALARM_PERIOD_SECONDS,
                evaluation_periods=10,
                threshold=args.thresholds.queue_depth_per_instance,
                comparison_operator="GreaterThanThreshold",
                treat_missing_data="notBreaching",
            ),
        ]

        dashboard = aws.cloudwatch.Dashboard(
            f"{name}-dashboard",
            dashboard_name=args.name,
            dashboard_body=json.dumps(
                dashboard_body(
                    region=args.region,
                    group_name=args.group_name,
                    namespace=args.metric_namespace,
                    target_queue_depth=args.target_queue_depth,
                    metric_names=args.metric_names,
                ),
                sort_keys=True,
            ),
            opts=child,
        )

        self.dashboard_name = dashboard.dashboard_name
        self.alarm_names = [a.name for a in alarms]
        self.register_outputs({"dashboard_name": self.dashboard_name})
