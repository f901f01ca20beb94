"""From settings to the stack's resolved spec: every derived value, decided once.

Settings (`stacks.settings`) check the shape of what the user typed and do no
I/O. `resolve` then decides the rest, as pure functions of the settings, the
project and stack names and the bundled or cached model configs: the capacity
planner's verdict (run once per program run), the chosen --max-model-len, the
health-check grace period, volume sizes, resource and secret names and the user
data. The stacks, their plan outputs and `llmdeploy preflight` all read the spec,
so they cannot disagree.

Model configs come from the bundled set or the local cache only: a plan never
opens a socket. A model in neither is "capacity unknown", with the command that
caches it (`llmdeploy models fetch MODEL`).
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic.alias_generators import to_camel

from llmdeploy.core.boot_time import health_check_grace_seconds, weight_bytes_to_load
from llmdeploy.core.capacity import (
    TGI_KEYS,
    VLLM_KEYS,
    CapacityAssessment,
    CapacityRequest,
    ConfigKeys,
    assess_capacity,
    assess_fleet_capacity,
)
from llmdeploy.core.cold_start import (
    ColdStartBudget,
    cold_start_budget,
    hook_timeout_seconds,
    warm_pool_suggestion,
)
from llmdeploy.core.collector import ENGINE_TRACES_VIA_COLLECTOR
from llmdeploy.core.engines import (
    ENGINES,
    TGI,
    VLLM,
    VLLM_STACK_GPU_MEMORY_UTILIZATION,
    Engine,
    SglangOptions,
    TgiOptions,
    VllmOptions,
    sglang_arguments,
    tgi_arguments,
    vllm_arguments,
    vllm_environment,
)
from llmdeploy.core.lifecycle import LaunchHook
from llmdeploy.core.metrics import ENGINE_METRICS, EngineMetricNames
from llmdeploy.core.s3_weights import local_model_dir
from llmdeploy.core.served_name import served_name_warning
from llmdeploy.core.userdata_vllm import (
    FleetUserDataArgs,
    MetricsPublishing,
    keep_alive_seconds,
    render_fleet_user_data,
    sse_keep_alive_seconds,
)
from llmdeploy.core.volumes import ENGINE_IMAGE_GIB, root_volume_gib, weights_disk_factor
from stacks.settings import (
    AwsSettings,
    CommonSettings,
    DevSettings,
    ProdSettings,
    SettingsError,
    StagingSettings,
    current_config,
    key_of,
    load_settings,
)


# One namespace per engine for every llmdeploy fleet (`llmdeploy/vllm`); the AutoScalingGroupName
# dimension tells the fleets apart.
def metric_namespace(engine: Engine) -> str:
    return f"llmdeploy/{engine.name}"


METRIC_NAMESPACE = metric_namespace(VLLM)


@dataclass(frozen=True)
class DevSpec:
    settings: DevSettings
    project: str


@dataclass(frozen=True)
class StagingSpec:
    settings: StagingSettings
    project: str
    # The planner's assessment of the one instance (unknown when the model's config is not at hand).
    capacity: CapacityAssessment
    root_volume_gib: int
    hf_token_secret_name: str | None
    # The engine's options: TGI's, vLLM's or SGLang's, as `settings.engine` says.
    engine_options: TgiOptions | VllmOptions | SglangOptions
    # What the instance's collector scrapes, and where it sends it (CloudWatch through awsemf).
    metrics: MetricsPublishing
    # The CloudWatch Logs group of the engine container's output.
    engine_log_group: str


@dataclass(frozen=True)
class ProdSpec:
    settings: ProdSettings
    project: str
    # The planner's assessment of the group: instanceType, and each Spot type with the same flags.
    capacity: CapacityAssessment
    # --max-model-len: as set, else the planner's choice.
    max_model_len: int
    health_check_grace_seconds: int
    root_volume_gib: int
    root_device_name: str
    group_name: str
    metrics: MetricsPublishing
    # The CloudWatch Logs group of the engine containers' output (the user data names it).
    engine_log_group: str
    api_key_secret_name: str
    hf_token_secret_name: str | None
    # The fleet's engine and its options (vLLM's, SGLang's or TGI's, as `settings.engine` says).
    engine: Engine
    engine_options: VllmOptions | SglangOptions | TgiOptions
    # Its series (queue depth for scaling and alarms, the dashboard's) and their CloudWatch namespace.
    metric_names: EngineMetricNames
    metric_namespace: str
    # Seconds in-flight requests drain on scale-in: deregistration delay and stop timeouts.
    drain_seconds: int
    user_data: str
    # The launch lifecycle hook (warm pools, `launchHook`): its name and timeout; None without one.
    launch_hook: LaunchHook | None
    launch_hook_timeout_seconds: int | None
    # What the cold-start budget decided, for the plan's `capacity` output.
    cold_start_decisions: dict[str, object]


StackSpec = DevSpec | StagingSpec | ProdSpec


# ---------------------------------------------------------------------------
# Capacity requests (no token: the planner reads bundled or cached configs only)


def staging_capacity_request(settings: StagingSettings) -> CapacityRequest:
    """What the capacity planner needs: the engine's limits on this instance type (one instance)."""
    if settings.engine != "tgi":
        # vLLM and SGLang: maxTotalTokens is the context length, maxConcurrentRequests the batch,
        # memory at the same defaults as prod's (vLLM) and the catalogue's (SGLang).
        return CapacityRequest(
            model=settings.model,
            instance_type=settings.instance_type,
            engine=settings.engine,
            max_model_len=settings.max_total_tokens,
            gpu_memory_utilization=STAGING_VLLM_GPU_MEMORY_UTILIZATION if settings.engine == "vllm" else None,
            max_num_seqs=settings.max_concurrent_requests,
            allow_network=False,
            keys=ConfigKeys(max_model_len="maxTotalTokens"),
        )
    return CapacityRequest(
        model=settings.model,
        instance_type=settings.instance_type,
        engine="tgi",
        max_model_len=settings.max_total_tokens,
        max_input_tokens=settings.max_input_tokens,
        quantization=settings.quantize,
        allow_network=False,
        keys=TGI_KEYS,
        weights_from="s3" if settings.model_source else "hub",
    )


def prod_capacity_request(settings: ProdSettings) -> CapacityRequest:
    """The engine's flags on instanceType, for minSize to maxSize instances."""
    return CapacityRequest(
        model=settings.model,
        instance_type=settings.instance_type,
        engine=settings.engine,
        max_model_len=settings.max_model_len,
        # vLLM's setting; SGLang and TGI at the catalogue's memory fraction (their settings refuse it).
        gpu_memory_utilization=settings.gpu_memory_utilization if settings.engine_entry is VLLM else None,
        max_num_seqs=settings.max_num_seqs,
        max_num_batched_tokens=settings.max_num_batched_tokens,
        # No quantization key: vLLM serves a quantized checkpoint as its config.json says.
        min_size=settings.min_size,
        max_size=settings.max_size,
        allow_network=False,
        keys=VLLM_KEYS,
        weights_from="s3" if settings.model_source else "hub",
        image_baked=settings.image_in_ami,
    )


# ---------------------------------------------------------------------------
# Resolving each kind


def resolve_dev(settings: DevSettings, project: str) -> DevSpec:
    return DevSpec(settings=settings, project=project)


def resolve_staging(settings: StagingSettings, project: str) -> StagingSpec:
    # TGI refuses to start when one max-total-tokens request does not fit its KV cache,
    # after the image pull and the download: say so at preview instead.
    capacity = assess_capacity(staging_capacity_request(settings))
    if capacity.problems:
        raise SettingsError(list(capacity.problems))
    return StagingSpec(
        settings=settings,
        project=project,
        capacity=capacity,
        root_volume_gib=staging_root_volume_gib(settings),
        hf_token_secret_name=settings.hf_token_secret_name,
        engine_options=staging_engine_options(settings),
        metrics=metrics_publishing(
            settings,
            project,
            # One instance: the dimension names the stack's deployment (prod's names its group).
            dimensions={
                STAGING_DIMENSION: deployment_name(project, settings.stack_name, settings.engine_entry)
            },
        ),
        engine_log_group=engine_log_group_name(project, settings.stack_name, settings.engine_entry),
    )


# vLLM on staging uses prod's default, so a staging run predicts what prod will fit.
STAGING_VLLM_GPU_MEMORY_UTILIZATION = VLLM_STACK_GPU_MEMORY_UTILIZATION


def staging_engine_options(settings: StagingSettings) -> TgiOptions | VllmOptions | SglangOptions:
    """The engine's flags from staging's engine-neutral limits (maxTotalTokens, maxConcurrentRequests)."""
    if settings.engine == "vllm":
        return VllmOptions(
            model=settings.model,
            served_model_name=settings.served_name,
            tensor_parallel_size=settings.gpu.gpu_count,
            max_model_len=settings.max_total_tokens,
            gpu_memory_utilization=STAGING_VLLM_GPU_MEMORY_UTILIZATION,
            max_num_seqs=settings.max_concurrent_requests,
            otlp_traces_endpoint=engine_traces_endpoint(settings),
            image_tag=_tag_of(settings.image_reference) or VLLM.default_tag,
            revision=settings.model_revision,
        )
    if settings.engine == "sglang":
        return SglangOptions(
            model=settings.model,
            served_model_name=settings.served_name,
            tensor_parallel_size=settings.gpu.gpu_count,
            context_length=settings.max_total_tokens,
            max_running_requests=settings.max_concurrent_requests,
            revision=settings.model_revision,
        )
    return TgiOptions(
        # The copied prefix, as the container sees it, when the weights come from S3.
        model_id=(
            f"{TGI.cache_mount}/{local_model_dir(settings.model_source)}"
            if settings.model_source
            else settings.model
        ),
        # Every GPU of the instance, stated: TGI 3.3.5 guessed 1 under NVIDIA_VISIBLE_DEVICES=all.
        num_shard=settings.gpu.gpu_count,
        max_input_tokens=settings.max_input_tokens,
        max_total_tokens=settings.max_total_tokens,
        max_concurrent_requests=settings.max_concurrent_requests,
        quantize=settings.quantize,
        otlp_endpoint=settings.otlp_endpoint,
        revision=settings.model_revision,
    )


def _tag_of(reference: str) -> str | None:
    name = reference.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def staging_root_volume_gib(settings: StagingSettings) -> int:
    if settings.root_volume_gib is not None:
        return settings.root_volume_gib
    return root_volume_gib(
        settings.gpu,
        image_gib=ENGINE_IMAGE_GIB[ENGINES[settings.engine].name],
        weights_factor=weights_disk_factor(settings.quantize),
    )


def prod_capacity(settings: ProdSettings) -> CapacityAssessment:
    """The group's assessment; a config that cannot serve is a SettingsError, one line per problem."""
    # vLLM refuses to start when one max-model-len sequence does not fit its KV cache, after
    # the image pull and the download, and the group replaces the instance again and again:
    # say so at preview instead.
    assessment = assess_fleet_capacity(
        prod_capacity_request(settings), settings.fleet_instance_types[1:], to_camel("spot_instance_types")
    )
    problems = list(assessment.problems)
    if not problems and settings.max_model_len is None and assessment.max_model_len is None:
        problems.append(
            f"{key_of('max_model_len')}: found nothing, and the capacity planner cannot size "
            f"{settings.model!r} to choose it ({assessment.unknown_reason}); accepted: a length in "
            "tokens, e.g. `pulumi config set maxModelLen 8192`"
        )
    if problems:
        raise SettingsError(problems)
    return assessment


def engine_max_model_len(settings: ProdSettings, capacity: CapacityAssessment) -> int:
    """--max-model-len: as set, else the planner's choice (`prod_capacity` refuses what it cannot choose)."""
    chosen = settings.max_model_len or capacity.max_model_len
    assert chosen is not None  # prod_capacity
    return chosen


# vLLM's Run:ai model streamer: concurrent ranged GETs from S3 straight into GPU memory.
S3_LOAD_FORMAT = "runai_streamer"


def prod_engine_options(
    settings: ProdSettings, capacity: CapacityAssessment
) -> VllmOptions | SglangOptions | TgiOptions:
    """The engine's flags from prod's settings: maxModelLen is the context length, maxNumSeqs the batch."""
    context = engine_max_model_len(settings, capacity)
    if settings.engine == "sglang":
        return SglangOptions(
            model=settings.model,
            served_model_name=settings.served_name,
            tensor_parallel_size=settings.gpu.gpu_count,
            context_length=context,
            max_running_requests=settings.max_num_seqs,
            revision=settings.model_revision,
        )
    if settings.engine == "tgi":
        return TgiOptions(
            model_id=settings.model,
            # Every GPU of the instance, stated: TGI 3.3.5 guessed 1 under NVIDIA_VISIBLE_DEVICES=all.
            num_shard=settings.gpu.gpu_count,
            # The whole context may be prompt but one generated token.
            max_input_tokens=context - 1,
            max_total_tokens=context,
            max_concurrent_requests=settings.max_num_seqs,
            otlp_endpoint=settings.otlp_endpoint,
            revision=settings.model_revision,
            graceful_termination_timeout=settings.shutdown_timeout,
        )
    return vllm_options(settings, capacity)


def engine_command(options: VllmOptions | SglangOptions | TgiOptions) -> tuple[list[str], dict[str, str]]:
    """The engine's arguments and plain environment."""
    if isinstance(options, VllmOptions):
        return vllm_arguments(options), vllm_environment(options)
    if isinstance(options, SglangOptions):
        return sglang_arguments(options), {}
    return tgi_arguments(options), {}


def traces_via_collector(settings: AwsSettings) -> bool:
    """The engine's traces go to the instance's collector when it adds headers or X-Ray.

    Otherwise the engine sends them to otlpEndpoint itself, as before the collector had exporters.
    """
    return settings.otlp_headers_secret_name is not None or settings.traces_to_xray


def engine_traces_endpoint(settings: AwsSettings) -> str | None:
    """vLLM's --otlp-traces-endpoint: the instance's collector, or otlpEndpoint itself, or none."""
    return ENGINE_TRACES_VIA_COLLECTOR if traces_via_collector(settings) else settings.otlp_endpoint


def vllm_options(settings: ProdSettings, capacity: CapacityAssessment) -> VllmOptions:
    return VllmOptions(
        # The s3:// prefix when the weights come from S3 (the served name stays the model's).
        model=settings.model_source or settings.model,
        load_format=S3_LOAD_FORMAT if settings.model_source else None,
        served_model_name=settings.served_name,
        # Every GPU of the instance.
        tensor_parallel_size=settings.gpu.gpu_count,
        max_model_len=engine_max_model_len(settings, capacity),
        gpu_memory_utilization=settings.gpu_memory_utilization,
        max_num_seqs=settings.max_num_seqs,
        max_num_batched_tokens=settings.max_num_batched_tokens,
        generation_config=settings.generation_config,
        shutdown_timeout=settings.drain_seconds,
        otlp_traces_endpoint=engine_traces_endpoint(settings),
        image_tag=settings.image_version_tag,
        http_keep_alive_seconds=keep_alive_seconds(settings.idle_timeout_seconds),
        sse_keep_alive_seconds=sse_keep_alive_seconds(settings.idle_timeout_seconds),
        revision=settings.model_revision,
    )


def weights_to_load(settings: ProdSettings, capacity: CapacityAssessment) -> int:
    return weight_bytes_to_load(
        settings.model, capacity.architecture, settings.gpu, settings.gpu_memory_utilization
    )


def launch_budget(settings: ProdSettings, capacity: CapacityAssessment) -> ColdStartBudget:
    """The cold-start budget of a fresh launch: what the hook's timeout covers."""
    return cold_start_budget(
        settings.gpu,
        settings.engine,
        weights_to_load(settings, capacity),
        source="s3" if settings.model_source else "hub",
        image_baked=settings.image_in_ami,
    )


def grace_seconds(settings: ProdSettings, capacity: CapacityAssessment) -> int:
    """ELB health-check grace: the setting, else the cold-start budget's (short behind the launch hook)."""
    if settings.health_check_grace_seconds is not None:
        return settings.health_check_grace_seconds
    return health_check_grace_seconds(
        weights_to_load(settings, capacity),
        settings.gpu,
        settings.engine,
        source="s3" if settings.model_source else "hub",
        launch_hook=settings.uses_launch_hook,
        image_baked=settings.image_in_ami,
    )


def instance_launch_hook(
    settings: ProdSettings, capacity: CapacityAssessment, group: str
) -> tuple[LaunchHook | None, int | None]:
    """What the instance's user data needs to complete the hook, and the group's timeout for it."""
    if not settings.uses_launch_hook:
        return None, None
    timeout = hook_timeout_seconds(launch_budget(settings, capacity))
    hook = LaunchHook(
        group_name=group,
        hook_name=f"{group}-launch",
        health_url=f"http://127.0.0.1:{settings.engine_entry.container_port}{settings.engine_entry.health_path}",
        # A minute before the group's own timeout, so the instance abandons itself.
        deadline_seconds=timeout - 60,
    )
    return hook, timeout


def cold_start_decisions(
    settings: ProdSettings, capacity: CapacityAssessment, grace: int, hook_timeout: int | None
) -> dict[str, object]:
    """What the cold-start budget decided: the grace, the hook's timeout, whether a warm pool pays."""
    budgets = capacity.cold_start()
    if not budgets:
        return {}
    return {
        "cold_start_decisions": {
            "health_check_grace_seconds": grace,
            "launch_hook_timeout_seconds": hook_timeout,
            "warm_pool": warm_pool_suggestion(
                budgets["cold"],
                budgets["warm"],
                min_size=settings.min_size,
                max_size=settings.max_size,
                root_volume_gib=prod_root_volume_gib(settings),
            ),
        }
    }


def prod_root_volume_gib(settings: ProdSettings) -> int:
    if settings.root_volume_gib is not None:
        return settings.root_volume_gib
    return root_volume_gib(settings.gpu, image_gib=ENGINE_IMAGE_GIB[settings.engine])


def deployment_name(project: str, stack: str, engine: Engine) -> str:
    """A stack's engine deployment, e.g. `llmdeploy-staging-tgi`: known at preview, unique per stack."""
    return f"{project}-{stack}-{engine.name}"


def group_name(project: str, stack: str, engine: Engine = VLLM) -> str:
    """The Auto Scaling group's name: fixed, so user data and metrics can carry it at preview."""
    return deployment_name(project, stack, engine)


def metrics_log_group(project: str, stack: str, engine: Engine = VLLM) -> str:
    return f"/{project}/{stack}/{engine.name}-metrics"


def engine_log_group_name(project: str, stack: str, engine: Engine) -> str:
    """Where the engine container's own output goes (Docker's awslogs driver), beside its metrics."""
    return f"/{project}/{stack}/{engine.name}"


# The CloudWatch dimension of a staging instance's series (prod's is AutoScalingGroupName).
STAGING_DIMENSION = "Deployment"


def metrics_publishing(
    settings: AwsSettings, project: str, *, dimensions: dict[str, str]
) -> MetricsPublishing:
    """The instance's metrics: the engine's namespace and the stack's log group, and the collector's
    optional exporters (prometheusWorkspaceArn, otlpEndpoint with its headers, tracesToXray)."""
    engine = settings.engine_entry
    return MetricsPublishing(
        namespace=metric_namespace(engine),
        log_group=metrics_log_group(project, settings.stack_name, engine),
        dimensions=dimensions,
        prometheus_workspace_arn=settings.prometheus_workspace_arn,
        otlp_endpoint=settings.otlp_endpoint if traces_via_collector(settings) else None,
        otlp_headers_secret=settings.otlp_headers_secret_name,
        traces_to_xray=settings.traces_to_xray,
        engine=engine,
    )


def resolve_prod(settings: ProdSettings, project: str) -> ProdSpec:
    capacity = prod_capacity(settings)
    engine = settings.engine_entry
    name = group_name(project, settings.stack_name, engine)
    metrics = metrics_publishing(settings, project, dimensions={"AutoScalingGroupName": name})
    namespace = metrics.namespace
    options = prod_engine_options(settings, capacity)
    arguments, environment = engine_command(options)
    launch_hook, hook_timeout = instance_launch_hook(settings, capacity, name)
    hf_token_secret_name = settings.hf_token_secret_name
    engine_log_group = engine_log_group_name(project, settings.stack_name, engine)
    user_data = render_fleet_user_data(
        FleetUserDataArgs(
            engine=engine,
            image=settings.image_reference,
            arguments=arguments,
            environment=environment,
            drain_seconds=settings.drain_seconds,
            description=(
                f"{engine.label} serving {settings.model_source or settings.model} as {settings.served_name}"
            ),
            api_key_secret_name=settings.api_key_secret_name,
            hf_token_secret_name=hf_token_secret_name,
            metrics=metrics,
            engine_log_group=engine_log_group,
            # Warm instances are stopped mid-boot; the next start finishes the script.
            every_boot=settings.warm_pool,
            launch_hook=launch_hook,
        )
    )
    grace = grace_seconds(settings, capacity)
    return ProdSpec(
        settings=settings,
        project=project,
        capacity=capacity,
        max_model_len=engine_max_model_len(settings, capacity),
        health_check_grace_seconds=grace,
        root_volume_gib=prod_root_volume_gib(settings),
        root_device_name=settings.resolved_root_device_name,
        group_name=name,
        metrics=metrics,
        engine_log_group=engine_log_group,
        api_key_secret_name=settings.api_key_secret_name,
        hf_token_secret_name=hf_token_secret_name,
        engine=engine,
        engine_options=options,
        metric_names=ENGINE_METRICS[engine.name],
        metric_namespace=namespace,
        drain_seconds=settings.drain_seconds,
        user_data=user_data,
        launch_hook=launch_hook,
        launch_hook_timeout_seconds=hook_timeout,
        cold_start_decisions=cold_start_decisions(settings, capacity, grace, hook_timeout),
    )


def settings_warnings(settings: CommonSettings) -> list[str]:
    """What plans but is likely a mistake, one line each (the plan prints them as warnings)."""
    if isinstance(settings, ProdSettings) or (
        isinstance(settings, StagingSettings) and settings.engine != "tgi"
    ):
        warning = served_name_warning(settings.model, settings.served_name, key_of("served_model_name"))
        return [warning] if warning else []
    return []


def resolve(settings: CommonSettings, project: str) -> StackSpec:
    """The stack's resolved spec; a config that cannot serve raises SettingsError (one line per problem)."""
    if isinstance(settings, DevSettings):
        return resolve_dev(settings, project)
    if isinstance(settings, StagingSettings):
        return resolve_staging(settings, project)
    if isinstance(settings, ProdSettings):
        return resolve_prod(settings, project)
    raise TypeError(f"no resolve step for {type(settings).__name__}")


def load_stack(
    stack: str,
    config: dict[str, str],
    secret_keys: set[str] | frozenset[str] = frozenset(),
    *,
    project: str,
) -> StackSpec:
    """Settings (shape) then the resolve step: what a program run and preflight both start from."""
    return resolve(load_settings(stack, config, secret_keys), project)


def current_stack(project: str, stack: str) -> StackSpec:
    """This program's resolved spec, from the config the language host handed over."""
    values, secret_keys = current_config()
    return load_stack(stack, values, secret_keys, project=project)
