"""Inference servers: host IPC for vLLM and SGLang, shared memory for TGI, pinned images, user data."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)

from llmpolicies import props as p
from llmpolicies.engines import (
    ENGINE_IMAGES_SCHEMA,
    SGLANG,
    TGI,
    VLLM,
    engine_of_image,
    is_pinned,
    parse_image,
)
from llmpolicies.servers import (
    CONTAINER,
    InferenceServer,
    extra_images,
    inference_servers,
    resolve_image,
    user_data_views,
)

REMOTE_IMAGE = "docker:index/remoteImage:RemoteImage"
REGISTRY_IMAGE = "docker:index/registryImage:RegistryImage"
GIB = 1024**3


# Stack policies: a container's image is resolved through the dependency graph (AnalyzeStack).
ENGINE_IMAGES = {"engineImages": ENGINE_IMAGES_SCHEMA}


def _in_container(server: InferenceServer) -> bool:
    return server.origin == "the container"


def _servers(args: StackValidationArgs) -> Iterator[tuple[Any, InferenceServer]]:
    images = extra_images(args.get_config())
    for resource in args.resources:
        for server in inference_servers(resource, images):
            yield resource, server


# Engines whose tensor-parallel workers share memory through /dev/shm; their docs run with --ipc=host.
HOST_IPC_ENGINES = (VLLM, SGLANG)


def _validate_vllm_ipc(args: StackValidationArgs, report: ReportViolation) -> None:
    for resource, server in _servers(args):
        if server.engine not in HOST_IPC_ENGINES or server.host_ipc:
            continue
        fix = (
            'set ipc_mode="host" on the container'
            if _in_container(server)
            else "add --ipc=host to its docker run"
        )
        current = f"IPC mode '{server.ipc}'" if server.ipc else "Docker's default private IPC namespace"
        report(
            f"{server.describe()} runs with {current}: {fix}. {server.engine.label}'s workers share "
            "tensors through /dev/shm, which is 64 MB under Docker's default.",
            resource.urn,
        )


vllm_ipc_host = StackValidationPolicy(
    name="vllm-ipc-host",
    display_name="vLLM and SGLang run with host IPC",
    description="Every vLLM or SGLang server container runs with host IPC "
    '(ipc_mode="host", --ipc=host, --ipc host).',
    validate=_validate_vllm_ipc,
    enforcement_level=EnforcementLevel.MANDATORY,
    severity=Severity.HIGH,
    tags=["reliability", "inference"],
    config_schema=PolicyConfigSchema(properties=dict(ENGINE_IMAGES)),
    remediation_steps=(
        'docker.Container: ipc_mode="host". docker run (user data): add --ipc=host before the image. '
        "vLLM's and SGLang's docs run their servers this way; without it tensor-parallel workers fail with "
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


def _validate_tgi_shm(args: StackValidationArgs, report: ReportViolation) -> None:
    minimum = _minimum_bytes(args.get_config())
    for resource, server in _servers(args):
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
            resource.urn,
        )


tgi_shm_size = StackValidationPolicy(
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
            },
            **ENGINE_IMAGES,
        }
    ),
    remediation_steps=(
        "docker run (user data): add --shm-size 1g (more for many shards). docker.Container: shm_size=1024 "
        "(MB). Or run the container with host IPC."
    ),
)


def _validate_pinned(args: StackValidationArgs, report: ReportViolation) -> None:
    images = extra_images(args.get_config())
    for resource in args.resources:
        if resource.resource_type in (REMOTE_IMAGE, REGISTRY_IMAGE):
            name = p.as_str(p.get(resource.props, "name"))
            if name and engine_of_image(name, images) and not is_pinned(name):
                report(
                    f"image '{name}' is not pinned: name a released version tag (or a digest), never a "
                    "moving tag (latest, nightly, main, dev) or none",
                    resource.urn,
                )
        elif resource.resource_type == CONTAINER and resolve_image(resource)[0] is None:
            # Nothing says what runs here, so nothing can say it is not an inference server.
            report(
                p.cannot_verify(
                    "the container's image",
                    "pass a literal reference or a docker.RemoteImage/RegistryImage's image_id",
                ),
                resource.urn,
            )
    for resource, server in _servers(args):
        if server.image is None:
            continue
        if server.image_from and engine_of_image(server.image, images):
            continue  # Reported at the image resource itself.
        if server.image_dynamic:
            report(
                f"{server.describe()}: the image reference is set when the script runs, so no review can "
                "see which version is served: write the version tag (or digest) literally",
                resource.urn,
            )
        elif not is_pinned(server.image):
            where = "the container's image" if _in_container(server) else "the image in its docker run"
            if server.image_from:
                where = f"the image of '{server.image_from}'"
            parsed = parse_image(server.image)
            if parsed is None:
                report(
                    f"{server.describe()}: {where} {server.image!r} is not a Docker image reference: "
                    "write [registry/]repository:<version> or repository@sha256:<digest>",
                    resource.urn,
                )
            else:
                report(
                    f"{server.describe()}: {where} has no version (a moving tag or none): pin a released "
                    f"tag ({parsed.repository}:<version>) or an @sha256 digest",
                    resource.urn,
                )


pinned_image_tag = StackValidationPolicy(
    name="pinned-image-tag",
    display_name="Inference images are pinned",
    description=(
        "Inference server images are pinned by a version tag or a digest; a moving tag (latest, nightly, "
        "main, dev) or no tag is a violation, and a container whose image cannot be known is reported."
    ),
    validate=_validate_pinned,
    config_schema=PolicyConfigSchema(properties=dict(ENGINE_IMAGES)),
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
            for problem in dict.fromkeys(view.unresolved):
                report(
                    f"{p.CANNOT_VERIFY}: {problem}: write the command, the binary and the image literally "
                    "(plain VAR=value assignments are followed) so the inference-server policies can check "
                    "what it runs",
                    None,
                )


user_data_inspectable = ResourceValidationPolicy(
    name="user-data-inspectable",
    display_name="User data can be checked",
    description=(
        "EC2 user data is known during preview and decodes (base64, gzip, MIME, cloud-config), and runs "
        "nothing in a form no static reading can follow (a command or image named by a run-time variable, "
        "eval, a script fetched or not written by the user data), so the inference-server policies can see "
        "the containers it starts."
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


def _validate_model_revision(args: StackValidationArgs, report: ReportViolation) -> None:
    for resource, server in _servers(args):
        # Ollama pulls tags from its own registry; it has no revision flag.
        if server.engine.name == "ollama" or server.revision is not None:
            continue
        report(
            f"{server.describe()} loads its model without --revision: a redeploy or a scale-out loads "
            "whatever the hub's main branch holds that day, not the weights that were reviewed.",
            resource.urn,
        )


model_revision_pinned = StackValidationPolicy(
    name="model-revision-pinned",
    display_name="Model weights pinned to a commit",
    description="Every vLLM, SGLang or TGI server names the model repo commit it loads (--revision).",
    validate=_validate_model_revision,
    enforcement_level=EnforcementLevel.ADVISORY,
    severity=Severity.MEDIUM,
    tags=["reliability", "inference"],
    config_schema=PolicyConfigSchema(properties=dict(ENGINE_IMAGES)),
    remediation_steps=(
        "Pass the commit hash of the model repo: `--revision <40 hex digits>` (llmdeploy: "
        "`pulumi config set modelRevision <commit>`), as an image is pinned by a tag or digest."
    ),
)


POLICIES = [vllm_ipc_host, tgi_shm_size, pinned_image_tag, user_data_inspectable, model_revision_pinned]
