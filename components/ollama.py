"""`OllamaServer`: Ollama in Docker, with its models pulled, as one component."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_docker as docker

from components.ollama_model import OllamaModel
from llmdeploy.core.engines import OLLAMA


@dataclass(frozen=True)
class OllamaServerArgs:
    image: str
    models: Sequence[str]
    environment: Mapping[str, str]
    volume_name: str
    bind_address: str = "127.0.0.1"
    host_port: int = OLLAMA.container_port
    gpus: bool = False
    restart: str = "unless-stopped"
    pull_timeout_seconds: int = 3600
    labels: Mapping[str, str] = field(default_factory=dict)
    # True when a value in `environment` came from a secret (a proxy URL with
    # credentials): the whole list is then stored and shown as a secret.
    secret_environment: bool = False


def client_host(bind_address: str) -> str:
    """The address a client on the Docker host uses to reach a port published on `bind_address`."""
    if bind_address in ("0.0.0.0", "::"):
        return "127.0.0.1"
    return f"[{bind_address}]" if ":" in bind_address else bind_address


def resource_suffix(model: str) -> str:
    """A model name as a resource name: `llama3.2:1b` -> `llama3.2-1b`."""
    return "".join(ch if ch.isalnum() or ch in "._-" else "-" for ch in model)


def container_environment(environment: Mapping[str, str]) -> list[str]:
    return [f"{key}={value}" for key, value in sorted(environment.items())]


class OllamaServer(pulumi.ComponentResource):
    """An Ollama server container, its model volume, and the models it serves."""

    base_url: pulumi.Output[str]
    endpoint: pulumi.Output[str]
    health_url: pulumi.Output[str]
    container_name: pulumi.Output[str]

    def __init__(self, name: str, args: OllamaServerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llmdeploy:components:OllamaServer", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        image = docker.RemoteImage(
            f"{name}-image",
            name=args.image,
            # Keep the image on `destroy`: it is large and other containers may use it.
            keep_locally=True,
            opts=child,
        )
        volume = docker.Volume(f"{name}-models", name=args.volume_name, opts=child)
        container = docker.Container(
            f"{name}-container",
            name=name,
            # The reference, not the image id, so reviewers and policies see the pinned tag;
            # depends_on keeps the pull first.
            image=args.image,
            envs=(
                pulumi.Output.secret(container_environment(args.environment))
                if args.secret_environment
                else container_environment(args.environment)
            ),
            ports=[
                docker.ContainerPortArgs(
                    internal=OLLAMA.container_port,
                    external=args.host_port,
                    ip=args.bind_address,
                    protocol="tcp",
                )
            ],
            volumes=[docker.ContainerVolumeArgs(volume_name=volume.name, container_path=OLLAMA.cache_mount)],
            gpus="all" if args.gpus else None,
            restart=args.restart,
            # `ollama list` talks to the server over its API: it fails until the server answers.
            healthcheck=docker.ContainerHealthcheckArgs(
                tests=["CMD", "ollama", "list"],
                interval="10s",
                timeout="5s",
                retries=5,
                start_period="10s",
            ),
            # Wait for a healthy container so the model pulls that follow find a server.
            wait=True,
            wait_timeout=120,
            labels=[
                docker.ContainerLabelArgs(label=key, value=value)
                for key, value in sorted(args.labels.items())
            ],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[image]),
        )

        host = client_host(args.bind_address)
        base_url = f"http://{host}:{args.host_port}"
        for model in args.models:
            OllamaModel(
                f"{name}-model-{resource_suffix(model)}",
                base_url=base_url,
                model=model,
                timeout_seconds=args.pull_timeout_seconds,
                opts=pulumi.ResourceOptions(
                    parent=self,
                    depends_on=[container],
                    custom_timeouts=pulumi.CustomTimeouts(create=f"{args.pull_timeout_seconds + 120}s"),
                ),
            )

        self.base_url = pulumi.Output.from_input(base_url)
        self.endpoint = pulumi.Output.from_input(f"{base_url}{OLLAMA.openai_path}")
        self.health_url = pulumi.Output.from_input(f"{base_url}{OLLAMA.health_path}")
        self.container_name = container.name
        self.register_outputs({"endpoint": self.endpoint, "health_url": self.health_url})
