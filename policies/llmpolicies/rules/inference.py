"""Inference servers: host IPC for vLLM, shared memory for TGI, pinned images, readable user data."""

from __future__ import annotations

from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
)

from llmpolicies import props as p
from llmpolicies.engines import TGI, VLLM, engine_of_image, is_pinned, parse_image
from llmpolicies.servers import InferenceServer, inference_servers, user_data_views

REMOTE_IMAGE = "docker:index/remoteImage:RemoteImage"
GIB = 1024**3


def _in_container(server: InferenceServer) -> bool:
    return server.origin == "the container"


def _validate_vllm_ipc(args: ResourceValidationArgs, report: ReportViolation) -> None:
    for server in inference_servers(args.resource_type, args.props):
        if server.engine is not VLLM or server.host_ipc:
            continue
        fix = (
            'set ipc_mode="host" on the container'
            if _in_container(server)
            else "add --ipc=host to its docker run"
        )
        current = f"IPC mode '{server.ipc}'" if server.ipc else "Docker's default private IPC namespace"
        report(
            f"{server.describe()} runs with {current}: {fix}. vLLM's workers share tensors through "
            "/dev/shm, which is 64 MB under Docker's default.",
            None,
        )


vllm_ipc_host = ResourceValidationPolicy(
    name="vllm-ipc-host",
    display_name="vLLM runs with host IPC",
    description='Every vLLM server container runs with host IPC (ipc_mode="host", --ipc=host, --ipc host).',
    validate=_validate_vllm_ipc,
    enforcement_level=EnforcementLevel.MANDATORY,
    severity=Severity.HIGH,
    tags=["reliability", "inference"],
    remediation_steps=(
        'docker.Container: ipc_mode="host". docker run (user data): add --ipc=host before the image. '
        "vLLM's docs run the OpenAI server this way; without it tensor-parallel workers fail with "
        "`NCCL WARN Error while creating shared memory segment`."
    ),
)


def _minimum_bytes(config: Any) -> int:
    minimum = p.known(config.get("minimumGib")) if config else None
    return int(float(minimum) * GIB) if isinstance(minimum, int | float) else GIB


def _human(size: int) -> str:
    if size >= GIB:
        return f"{size / GIB:g} GiB"
    return f"{size / 1024**2:g} MiB"


def _docker_size(size: int) -> str:
    return f"{size / GIB:g}g" if size % GIB == 0 else f"{size // 1024**2}m"


def _validate_tgi_shm(args: ResourceValidationArgs, report: ReportViolation) -> None:
    minimum = _minimum_bytes(args.get_config())
    for server in inference_servers(args.resource_type, args.props):
        if server.engine is not TGI or server.host_ipc:
            continue
        if server.shm_bytes is not None and server.shm_bytes >= minimum:
            continue
        if server.shm_setting and server.shm_bytes is None:
            current = f"an unreadable {server.shm_setting}"
        elif server.shm_bytes is not None:
            current = f"a /dev/shm of {_human(server.shm_bytes)} ({server.shm_setting})"
        else:
            current = "Docker's default /dev/shm of 64 MiB"
        fix = (
            f"set shm_size={minimum // 1024**2} (MB) on the container"
            if _in_container(server)
            else f"add --shm-size {_docker_size(minimum)} to its docker run"
        )
        report(
            f"{server.describe()} has {current}; it needs at least {_human(minimum)}: {fix}, or run it "
            "with host IPC. Sharded TGI dies with a bus error (signal 7) when /dev/shm is too small.",
            None,
        )


tgi_shm_size = ResourceValidationPolicy(
    name="tgi-shm-size",
    display_name="TGI has enough shared memory",
    description="Every TGI server has a /dev/shm of at least 1 GiB (--shm-size, shm_size) or host IPC.",
    validate=_validate_tgi_shm,
    enforcement_level=EnforcementLevel.MANDATORY,
    severity=Severity.HIGH,
    tags=["reliability", "inference"],
    config_schema=PolicyConfigSchema(
        properties={
            "minimumGib": {
                "type": "number",
                "minimum": 0,
                "default": 1,
                "description": "Smallest /dev/shm accepted, in GiB (TGI's docs use --shm-size 1g).",
            }
        }
    ),
    remediation_steps=(
        "docker run (user data): add --shm-size 1g (more for many shards). docker.Container: shm_size=1024 "
        "(MB). Or run the container with host IPC."
    ),
)


def _validate_pinned(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type == REMOTE_IMAGE:
        name = p.as_str(p.get(args.props, "name"))
        if name and engine_of_image(name) and not is_pinned(name):
            report(
                f"image '{name}' is not pinned: name a released version tag (or a digest), never `latest`",
                None,
            )
        return
    for server in inference_servers(args.resource_type, args.props):
        if server.image is None:
            continue
        if server.image_dynamic:
            report(
                f"{server.describe()}: the image reference is set when the script runs, so no review can "
                "see which version is served: write the version tag (or digest) literally",
                None,
            )
        elif not is_pinned(server.image):
            where = "the container's image" if _in_container(server) else "the image in its docker run"
            parsed = parse_image(server.image)
            if parsed is None:
                report(
                    f"{server.describe()}: {where} {server.image!r} is not a Docker image reference: "
                    "write [registry/]repository:<version> or repository@sha256:<digest>",
                    None,
                )
            else:
                report(
                    f"{server.describe()}: {where} has no version: pin a released tag "
                    f"({parsed.repository}:<version>) or an @sha256 digest",
                    None,
                )


pinned_image_tag = ResourceValidationPolicy(
    name="pinned-image-tag",
    display_name="Inference images are pinned",
    description=(
        "Inference server images are pinned by a version tag or a digest; `latest` or no tag is a violation."
    ),
    validate=_validate_pinned,
    enforcement_level=EnforcementLevel.MANDATORY,
    severity=Severity.MEDIUM,
    tags=["reliability", "supply-chain"],
    remediation_steps=(
        "Use a released tag (vllm/vllm-openai:v0.30.0, ghcr.io/huggingface/text-generation-inference:3.3.7, "
        "ollama/ollama:0.32.13) or an @sha256 digest, so a redeploy serves what was reviewed."
    ),
)


def _validate_user_data_readable(args: ResourceValidationArgs, report: ReportViolation) -> None:
    for view in user_data_views(args.resource_type, args.props):
        if view.unreadable == "unknown":
            report(
                f"{view.property_name} is computed at deploy time, so no policy can read it during preview: "
                "build it from settings and resource names rather than from other resources' outputs",
                None,
            )
        elif view.user_data is not None:
            for problem in view.user_data.problems:
                report(f"{problem} (until then no policy can check what it runs)", None)


user_data_inspectable = ResourceValidationPolicy(
    name="user-data-inspectable",
    display_name="User data can be checked",
    description=(
        "EC2 user data is known during preview and decodes (base64, gzip, MIME, cloud-config), so the "
        "inference-server policies can see the containers it starts."
    ),
    validate=_validate_user_data_readable,
    enforcement_level=EnforcementLevel.ADVISORY,
    severity=Severity.MEDIUM,
    tags=["reviewability"],
    remediation_steps=(
        "Render user data from configuration and names (pure functions), not inside apply() on resource "
        "outputs; base64-encode launch template user data; avoid #include URLs."
    ),
)

POLICIES = [vllm_ipc_host, tgi_shm_size, pinned_image_tag, user_data_inspectable]
