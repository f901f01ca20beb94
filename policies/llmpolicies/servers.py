"""Inference servers a program declares: Docker containers, and `docker run` lines in EC2 user data."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from llmpolicies import props as p
from llmpolicies.dockerrun import DockerRun, Publish
from llmpolicies.engines import EngineFacts, api_port, detect_engine, flag_value, metrics_port, server_args
from llmpolicies.userdata import UserData, read_user_data

CONTAINER = "docker:index/container:Container"
# Resources a container's `image` may come from (`image=docker.RemoteImage(...).image_id`): the id is
# unknown during preview, the dependency graph (AnalyzeStack's property dependencies) names the resource.
IMAGE_RESOURCES: dict[str, tuple[str, ...]] = {
    "docker:index/remoteImage:RemoteImage": ("name",),
    "docker:index/registryImage:RegistryImage": ("name",),
    "docker:index/image:Image": ("imageName",),
}
INSTANCE = "aws:ec2/instance:Instance"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
SPOT_INSTANCE_REQUEST = "aws:ec2/spotInstanceRequest:SpotInstanceRequest"
LAUNCH_CONFIGURATION = "aws:ec2/launchConfiguration:LaunchConfiguration"

# Where each EC2 resource type takes user data, and whether that property is base64.
# (`aws.ec2.LaunchTemplate.user_data` must be base64-encoded by the caller; `Instance.user_data` is plain.)
USER_DATA_PROPERTIES: dict[str, tuple[tuple[str, bool], ...]] = {
    INSTANCE: (("userData", False), ("userDataBase64", True)),
    SPOT_INSTANCE_REQUEST: (("userData", False), ("userDataBase64", True)),
    LAUNCH_CONFIGURATION: (("userData", False), ("userDataBase64", True)),
    LAUNCH_TEMPLATE: (("userData", True),),
}
MIB = 1024**2


def is_loopback(host_ip: str) -> bool:
    """127.0.0.0/8 or ::1 (Docker's `-p [::1]:...` form too); an unreadable address is not."""
    try:
        return ipaddress.ip_address(host_ip.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class InferenceServer:
    engine: EngineFacts
    image: str | None
    # The image reference holds a run-time value (`vllm/vllm-openai:${VERSION}`).
    image_dynamic: bool
    origin: str
    ipc: str | None
    shm_bytes: int | None
    shm_setting: str | None
    network_host: bool
    publish: tuple[Publish, ...]
    metrics_port: int | None
    # The image resource (RemoteImage, RegistryImage) the container's image was resolved through.
    image_from: str | None = None
    api_port: int | None = None
    # The model repo commit the engine loads (`--revision`, TGI's REVISION too); None: unpinned or unreadable.
    revision: str | None = None

    def describe(self) -> str:
        return f"{self.engine.label} ({self.image or 'image unknown until deploy'}) in {self.origin}"

    @property
    def host_ipc(self) -> bool:
        return self.ipc == "host"

    def api_publishing(self) -> list[Publish]:
        """How the API port reaches the network: host networking exposes it as is; a publish bound to
        the host's loopback (`-p 127.0.0.1:8000:8000`) reaches processes on the host only (a proxy),
        never the network, so it is not counted."""
        if self.api_port is None:
            return []
        if self.network_host:
            return [Publish("0.0.0.0", self.api_port, self.api_port)]
        return [
            pub
            for pub in self.publish
            if pub.container_port == self.api_port and pub.protocol == "tcp" and not is_loopback(pub.host_ip)
        ]

    def metrics_publishing(self) -> list[Publish]:
        """How the metrics port reaches the host: host networking exposes it as is."""
        if self.metrics_port is None:
            return []
        if self.network_host:
            return [Publish("0.0.0.0", self.metrics_port, self.metrics_port)]
        return [
            publish
            for publish in self.publish
            if publish.container_port == self.metrics_port and publish.protocol == "tcp"
        ]


@dataclass
class UserDataView:
    """What a resource's user data holds, or why it cannot be read."""

    property_name: str
    user_data: UserData | None
    # "unknown" (computed at deploy), or None.
    unreadable: str | None = None
    servers: list[InferenceServer] = field(default_factory=list)
    # What the script runs in a form no static reading can follow (a dynamic command, eval, ...).
    unresolved: list[str] = field(default_factory=list)


def resolve_image(resource: Any) -> tuple[str | None, str | None]:
    """A container's image reference, and the name of the image resource it came from (if any).

    A literal reference is taken as it is; an image id (`sha256:...`, or unknown during preview) is
    followed through the property dependencies to the RemoteImage/RegistryImage/Image that made it."""
    image = p.as_str(p.get(resource.props, "image"))
    if image and not image.startswith("sha256:"):
        return image, None
    for dependency in getattr(resource, "property_dependencies", {}).get("image", []):
        for key in IMAGE_RESOURCES.get(dependency.resource_type, ()):
            name = p.as_str(p.get(dependency.props, key))
            if name:
                return name, dependency.name
    return image, None


def model_revision(engine: EngineFacts, args: list[str], env: dict[str, str | None]) -> str | None:
    """`--revision` (vLLM, SGLang, TGI), or TGI's REVISION variable (clap reads the flag's env)."""
    value = flag_value(args, "--revision")
    if value is None and engine.name == "tgi":
        value = env.get("REVISION")
    return value or None


def server_from_container(
    props: Any,
    image: str | None = None,
    image_from: str | None = None,
    extra_images: dict[str, str] | None = None,
) -> InferenceServer | None:
    """A `docker.Container`, if it runs an inference engine (`image` when resolved through the graph)."""
    image = image or p.as_str(p.get(props, "image"))
    entrypoint = [str(word) for word in p.as_list(p.get(props, "entrypoints")) if not p.is_unknown(word)]
    command = [str(word) for word in p.as_list(p.get(props, "command")) if not p.is_unknown(word)]
    engine = detect_engine(image, entrypoint, command, extra_images)
    if engine is None:
        return None
    env_items = [str(item) for item in p.as_list(p.get(props, "envs")) if not p.is_unknown(item)]
    env: dict[str, str | None] = {item.partition("=")[0]: item.partition("=")[2] for item in env_items}
    shm_mb = p.as_int(p.get(props, "shmSize"))
    ports = []
    for port in p.as_list(p.get(props, "ports")):
        internal = p.as_int(p.get(port, "internal"))
        if internal is None:
            continue
        ports.append(
            Publish(
                p.as_str(p.get(port, "ip")) or "0.0.0.0",
                p.as_int(p.get(port, "external")),
                internal,
                p.as_str(p.get(port, "protocol")) or "tcp",
            )
        )
    return InferenceServer(
        engine=engine,
        image=image,
        image_dynamic=False,
        origin="the container",
        ipc=p.as_str(p.get(props, "ipcMode")),
        # docker.Container.shm_size is in MB.
        shm_bytes=shm_mb * MIB if shm_mb is not None else None,
        shm_setting=f"shm_size={shm_mb}" if shm_mb is not None else None,
        network_host=p.as_str(p.get(props, "networkMode")) == "host",
        publish=tuple(ports),
        metrics_port=metrics_port(engine, server_args([*entrypoint, *command]), env),
        image_from=image_from,
        api_port=api_port(engine, server_args([*entrypoint, *command])),
        revision=model_revision(engine, server_args([*entrypoint, *command]), env),
    )


def server_from_docker_run(
    run: DockerRun, extra_images: dict[str, str] | None = None
) -> InferenceServer | None:
    image = run.image.text if run.image is not None else None
    command = [word.text for word in run.command]
    entrypoint = [run.entrypoint] if run.entrypoint else []
    engine = detect_engine(image, entrypoint, command, extra_images)
    if engine is None:
        return None
    env = {setting.name: setting.value for setting in run.env}
    return InferenceServer(
        engine=engine,
        image=image,
        image_dynamic=bool(run.image and run.image.dynamic),
        origin=run.origin,
        ipc=run.ipc,
        shm_bytes=run.shm_bytes,
        shm_setting=f"--shm-size {run.shm_size}" if run.shm_size is not None else None,
        network_host=run.network == "host",
        publish=tuple(run.publish),
        metrics_port=metrics_port(engine, server_args(command), env),
        api_port=api_port(engine, server_args(command)),
        revision=model_revision(engine, server_args(command), env),
    )


def user_data_views(
    resource_type: str, props: Any, extra_images: dict[str, str] | None = None
) -> list[UserDataView]:
    """Each user-data property the resource sets, decoded."""
    views: list[UserDataView] = []
    properties = p.reveal(props)
    if not isinstance(properties, dict):
        return views
    for name, base64_encoded in USER_DATA_PROPERTIES.get(resource_type, ()):
        # Secret or not: what the instance receives is what matters.
        value = properties.get(name)
        if value is None or value == "":
            continue
        if p.is_unknown(value):
            views.append(UserDataView(name, None, "unknown"))
            continue
        user_data = read_user_data(str(value), base64_encoded=base64_encoded, origin=name)
        view = UserDataView(name, user_data)
        for run in user_data.docker_runs:
            server = server_from_docker_run(run, extra_images)
            if server is not None:
                view.servers.append(server)
            elif run.image is None or run.image.dynamic:
                # Fail closed: a container whose image is set at run time may be any engine.
                image = run.image.text if run.image is not None else "no image"
                view.unresolved.append(
                    f"{run.origin} starts a container whose image is only known when the script runs "
                    f"({image}), so no policy can tell which server it is"
                )
        view.unresolved.extend(user_data.script.unresolved)
        views.append(view)
    return views


def inference_servers(resource: Any, extra_images: dict[str, str] | None = None) -> list[InferenceServer]:
    """Every inference server this resource runs (a container, or `docker run` lines in its user data).

    `resource` is a stack policy's PolicyResource: its property dependencies resolve container images."""
    if resource.resource_type == CONTAINER:
        image, image_from = resolve_image(resource)
        server = server_from_container(resource.props, image, image_from, extra_images)
        return [server] if server else []
    views = user_data_views(resource.resource_type, resource.props, extra_images)
    return [server for view in views for server in view.servers]


def extra_images(config: Any) -> dict[str, str]:
    """A policy's `engineImages` config."""
    value = p.known((config or {}).get("engineImages"))
    return {str(key): str(item) for key, item in value.items()} if isinstance(value, dict) else {}
