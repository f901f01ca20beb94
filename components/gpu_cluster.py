"""`GpuCluster`: GPU instances in an Auto Scaling group behind a load balancer's target group.

What makes it fit for LLM serving rather than a web fleet:

- ELB health checks with a grace period that covers image pull, weight
  download and load (the engine refuses connections until then);
- the autoscaler owns the desired capacity (`ignore_changes`), and scales on
  the engine's queue depth per instance, not on CPU;
- an instance refresh on every launch-template change that launches the new
  instance before terminating the old (min healthy 100 %, max 200 %), pointed
  at the template's `latest_version`: with `$Latest` no refresh starts
  (pulumi-aws v7 `GroupInstanceRefresh` docs);
- optional Spot capacity (mixed instances over an on-demand base, capacity
  rebalance) or a warm pool, never both (EC2 Auto Scaling rejects a warm pool
  on a group with a mixed instances policy).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import pulumi
import pulumi_aws as aws

from components.lifecycle_hook import LaunchHookArgs, launch_hook_args
from components.security_group import Rule, add_rules, all_outbound, monitoring_rules

# Group metrics the dashboard shows beside the engine's.
GROUP_METRICS = (
    aws.autoscaling.Metric.GROUP_DESIRED_CAPACITY,
    aws.autoscaling.Metric.GROUP_IN_SERVICE_INSTANCES,
    aws.autoscaling.Metric.GROUP_PENDING_INSTANCES,
    aws.autoscaling.Metric.GROUP_TERMINATING_INSTANCES,
    aws.autoscaling.Metric.GROUP_TOTAL_INSTANCES,
)


@dataclass(frozen=True)
class SpotArgs:
    # Instances always bought on demand before any Spot (the floor that survives a Spot reclaim).
    on_demand_base_capacity: int
    on_demand_percentage_above_base: int = 0
    # More instance types, more Spot pools; all must fit the model the same way.
    instance_types: Sequence[str] = ()
    allocation_strategy: str = "price-capacity-optimized"


@dataclass(frozen=True)
class WarmPoolArgs:
    min_size: int = 0
    max_group_prepared_capacity: int | None = None
    pool_state: Literal["Stopped", "Hibernated", "Running"] = "Stopped"
    reuse_on_scale_in: bool = True


@dataclass(frozen=True)
class ScalingArgs:
    metric: Literal["queue_depth", "alb_requests"]
    target_value: float
    # queue_depth: a CloudWatch metric per instance, published with an
    # AutoScalingGroupName dimension; its Average is the per-instance value.
    queue_metric_namespace: str = ""
    queue_metric_name: str = ""
    # alb_requests: "<load balancer arn suffix>/<target group arn suffix>".
    alb_resource_label: pulumi.Input[str] | None = None


@dataclass(frozen=True)
class GpuClusterArgs:
    group_name: str
    vpc_id: pulumi.Input[str]
    private_subnet_ids: pulumi.Input[Sequence[str]]
    instance_type: str
    image_id: pulumi.Input[str]
    instance_profile_arn: pulumi.Input[str]
    # The boot script, plain text; base64-encoded here as launch templates require.
    user_data: str
    root_volume_gib: int
    # The AMI's root device ("/dev/xvda" on Amazon Linux, "/dev/sda1" on Ubuntu).
    root_device_name: str
    min_size: int
    desired_capacity: int
    max_size: int
    health_check_grace_seconds: int
    target_group_arns: Sequence[pulumi.Input[str]]
    api_port: int
    load_balancer_security_group_id: pulumi.Input[str]
    scaling: ScalingArgs
    # Where monitoring scrapes (an on-instance collector): must differ from api_port.
    metrics_port: int
    monitoring_cidrs: Sequence[str] = ()
    monitoring_security_group_id: str | None = None
    # The server's own metrics listener when it has one apart from the API port (it answers
    # metrics only, no inference): monitoring may reach it beside metrics_port.
    server_metrics_port: int | None = None
    # True when image_id follows a public SSM parameter: it moves with every AMI
    # release, and following it would roll the whole fleet (and re-download the
    # weights) on an unrelated deploy. A new AMI is then taken on purpose, with an explicit id.
    ignore_image_changes: bool = False
    spot: SpotArgs | None = None
    warm_pool: WarmPoolArgs | None = None
    # A launch lifecycle hook the instances complete once they serve (components/lifecycle_hook.py).
    launch_hook: LaunchHookArgs | None = None
    # On the group and, propagated, on every instance and its volume.
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.spot is not None and self.warm_pool is not None:
            raise ValueError("a warm pool cannot be combined with a mixed instances (Spot) policy")
        if not self.min_size <= self.desired_capacity <= self.max_size:
            raise ValueError("need min_size <= desired_capacity <= max_size")
        if self.server_metrics_port == self.api_port:
            raise ValueError(f"server_metrics_port {self.server_metrics_port} is the API port")
        if self.metrics_port == self.api_port:
            raise ValueError(
                f"metrics_port {self.metrics_port} is the API port: monitoring sources would reach the "
                "engine itself; scrape a collector on another port"
            )
        if self.scaling.metric == "alb_requests" and self.scaling.alb_resource_label is None:
            raise ValueError("alb_requests scaling needs alb_resource_label")


def encode_user_data(script: str) -> str:
    return base64.b64encode(script.encode()).decode()


def instance_ingress(args: GpuClusterArgs) -> list[Rule]:
    """The API port from the load balancer only; the metrics ports from monitoring only."""
    rules = [
        Rule(
            "api-from-alb",
            "API and health checks from the load balancer",
            args.api_port,
            referenced_security_group_id=args.load_balancer_security_group_id,
        )
    ]
    # The collector's port keeps its rule names; the server's own listener gets its own.
    ports = [(args.metrics_port, "metrics", "Prometheus scrape")]
    if args.server_metrics_port is not None:
        ports.append((args.server_metrics_port, "server-metrics", "Server's own metrics listener"))
    for port, key, what in ports:
        rules += monitoring_rules(key, what, port, args.monitoring_cidrs, args.monitoring_security_group_id)
    return rules


class GpuCluster(pulumi.ComponentResource):
    """Launch template, security group, Auto Scaling group and its scaling policy."""

    group_name: pulumi.Output[str]
    group_arn: pulumi.Output[str]
    launch_template_id: pulumi.Output[str]
    security_group_id: pulumi.Output[str]

    def __init__(self, name: str, args: GpuClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        # The type token is the one this component had when it was named for vLLM: it is part of every
        # URN under it, so existing deployments keep their group, template and policies.
        super().__init__("llmdeploy:components:VllmCluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(args.tags)

        security_group = aws.ec2.SecurityGroup(
            f"{name}-sg",
            description=f"{name}: serving instances",
            vpc_id=args.vpc_id,
            tags={**tags, "Name": f"{name}-instances"},
            opts=child,
        )
        # Image pulls, weight downloads, Secrets Manager, CloudWatch: all over
        # the NAT gateway or VPC endpoints. No inbound path is opened by this.
        add_rules(f"{name}-sg", security_group, child, instance_ingress(args), [all_outbound("outbound")])

        launch_template = aws.ec2.LaunchTemplate(
            f"{name}-lt",
            description=f"{name}: GPU serving instance",
            image_id=args.image_id,
            instance_type=args.instance_type,
            iam_instance_profile=aws.ec2.LaunchTemplateIamInstanceProfileArgs(arn=args.instance_profile_arn),
            vpc_security_group_ids=[security_group.id],
            user_data=encode_user_data(args.user_data),
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled",
                # IMDSv2 only; a hop limit of 2 lets containers (one more hop) reach it.
                http_tokens="required",
                http_put_response_hop_limit=2,
            ),
            block_device_mappings=[
                aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                    device_name=args.root_device_name,
                    ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                        volume_size=args.root_volume_gib,
                        volume_type="gp3",
                        encrypted="true",
                        delete_on_termination="true",
                    ),
                )
            ],
            monitoring=aws.ec2.LaunchTemplateMonitoringArgs(enabled=True),
            tag_specifications=[
                aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=kind, tags=tags)
                for kind in ("instance", "volume")
            ],
            # New versions become the default, so a console launch matches what the group runs.
            update_default_version=True,
            tags=tags,
            opts=pulumi.ResourceOptions(
                parent=self, ignore_changes=["image_id"] if args.ignore_image_changes else None
            ),
        )
        # The version number, not "$Latest": only a changed version starts an instance refresh.
        template_version = launch_template.latest_version.apply(str)

        launch_template_ref: aws.autoscaling.GroupLaunchTemplateArgs | None = None
        mixed_instances: aws.autoscaling.GroupMixedInstancesPolicyArgs | None = None
        if args.spot is None:
            launch_template_ref = aws.autoscaling.GroupLaunchTemplateArgs(
                id=launch_template.id, version=template_version
            )
        else:
            instance_types = [
                args.instance_type,
                *[t for t in args.spot.instance_types if t != args.instance_type],
            ]
            mixed_instances = aws.autoscaling.GroupMixedInstancesPolicyArgs(
                launch_template=aws.autoscaling.GroupMixedInstancesPolicyLaunchTemplateArgs(
                    launch_template_specification=aws.autoscaling.GroupMixedInstancesPolicyLaunchTemplateLaunchTemplateSpecificationArgs(
                        launch_template_id=launch_template.id, version=template_version
                    ),
                    overrides=[
                        aws.autoscaling.GroupMixedInstancesPolicyLaunchTemplateOverrideArgs(instance_type=t)
                        for t in instance_types
                    ],
                ),
                instances_distribution=aws.autoscaling.GroupMixedInstancesPolicyInstancesDistributionArgs(
                    on_demand_base_capacity=args.spot.on_demand_base_capacity,
                    on_demand_percentage_above_base_capacity=args.spot.on_demand_percentage_above_base,
                    spot_allocation_strategy=args.spot.allocation_strategy,
                ),
            )

        warm_pool: aws.autoscaling.GroupWarmPoolArgs | None = None
        if args.warm_pool is not None:
            warm_pool = aws.autoscaling.GroupWarmPoolArgs(
                pool_state=args.warm_pool.pool_state,
                min_size=args.warm_pool.min_size,
                max_group_prepared_capacity=args.warm_pool.max_group_prepared_capacity,
                instance_reuse_policy=aws.autoscaling.GroupWarmPoolInstanceReusePolicyArgs(
                    reuse_on_scale_in=args.warm_pool.reuse_on_scale_in
                ),
            )

        group = aws.autoscaling.Group(
            f"{name}-asg",
            # Named, so the user data and the metrics it publishes can carry the
            # name before the group exists (the plan shows it at preview).
            name=args.group_name,
            vpc_zone_identifiers=args.private_subnet_ids,
            min_size=args.min_size,
            max_size=args.max_size,
            desired_capacity=args.desired_capacity,
            launch_template=launch_template_ref,
            mixed_instances_policy=mixed_instances,
            capacity_rebalance=True if args.spot is not None else None,
            warm_pool=warm_pool,
            # At creation, so the first instances wait for it too.
            initial_lifecycle_hooks=[launch_hook_args(args.launch_hook)] if args.launch_hook else None,
            target_group_arns=list(args.target_group_arns),
            # The load balancer's view: a running instance whose engine died is replaced.
            health_check_type="ELB",
            health_check_grace_period=args.health_check_grace_seconds,
            # New instances count toward scaling metrics only once they serve.
            default_instance_warmup=args.health_check_grace_seconds,
            instance_refresh=aws.autoscaling.GroupInstanceRefreshArgs(
                strategy="Rolling",
                preferences=aws.autoscaling.GroupInstanceRefreshPreferencesArgs(
                    # Launch before terminate: never below the current capacity.
                    min_healthy_percentage=100,
                    max_healthy_percentage=200,
                    instance_warmup=str(args.health_check_grace_seconds),
                ),
            ),
            enabled_metrics=list(GROUP_METRICS),
            tags=[
                aws.autoscaling.GroupTagArgs(key=key, value=value, propagate_at_launch=True)
                for key, value in sorted(tags.items())
            ],
            opts=pulumi.ResourceOptions(
                parent=self,
                # The autoscaler owns capacity after creation; a deploy must not reset it.
                ignore_changes=["desired_capacity"],
                # A fixed name cannot exist twice, so a replacement deletes first.
                delete_before_replace=True,
            ),
        )

        if args.scaling.metric == "queue_depth":
            tracking = aws.autoscaling.PolicyTargetTrackingConfigurationArgs(
                target_value=args.scaling.target_value,
                customized_metric_specification=aws.autoscaling.PolicyTargetTrackingConfigurationCustomizedMetricSpecificationArgs(
                    namespace=args.scaling.queue_metric_namespace,
                    metric_name=args.scaling.queue_metric_name,
                    metric_dimensions=[
                        aws.autoscaling.PolicyTargetTrackingConfigurationCustomizedMetricSpecificationMetricDimensionArgs(
                            name="AutoScalingGroupName", value=args.group_name
                        )
                    ],
                    # Each instance publishes its own queue; the average is the queue per instance.
                    statistic="Average",
                ),
            )
        else:
            tracking = aws.autoscaling.PolicyTargetTrackingConfigurationArgs(
                target_value=args.scaling.target_value,
                predefined_metric_specification=aws.autoscaling.PolicyTargetTrackingConfigurationPredefinedMetricSpecificationArgs(
                    predefined_metric_type="ALBRequestCountPerTarget",
                    resource_label=args.scaling.alb_resource_label,
                ),
            )
        aws.autoscaling.Policy(
            f"{name}-scaling",
            autoscaling_group_name=group.name,
            policy_type="TargetTrackingScaling",
            estimated_instance_warmup=args.health_check_grace_seconds,
            target_tracking_configuration=tracking,
            opts=child,
        )

        self.group_name = group.name
        self.group_arn = group.arn
        self.launch_template_id = launch_template.id
        self.security_group_id = security_group.id
        self.register_outputs(
            {
                "group_name": self.group_name,
                "launch_template_id": self.launch_template_id,
                "security_group_id": self.security_group_id,
            }
        )
