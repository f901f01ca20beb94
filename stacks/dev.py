"""The dev stack: Ollama in Docker on the developer's machine."""

from __future__ import annotations

import pulumi

from components.ollama import OllamaServer, OllamaServerArgs
from llmdeploy.core.engines import OLLAMA, OllamaOptions, ollama_environment
from stacks.outputs import export_endpoint
from stacks.resolve import DevSpec
from stacks.settings import DevSettings


def ollama_args(settings: DevSettings) -> OllamaServerArgs:
    options = OllamaOptions(
        keep_alive=settings.keep_alive,
        num_parallel=settings.num_parallel,
        context_length=settings.context_length,
        max_loaded_models=settings.max_loaded_models,
        origins=tuple(settings.origins),
        https_proxy=settings.https_proxy,
        no_proxy=settings.no_proxy,
    )
    return OllamaServerArgs(
        image=settings.image_reference,
        models=settings.models,
        environment=ollama_environment(options),
        volume_name=settings.volume_name,
        bind_address=settings.bind_address,
        host_port=settings.host_port,
        gpus=settings.gpu,
        restart=settings.restart,
        pull_timeout_seconds=settings.pull_timeout_seconds,
        secret_environment=settings.is_secret("https_proxy") or settings.is_secret("no_proxy"),
        labels={"app.kubernetes.io/managed-by": "llmdeploy", "llmdeploy.stack": pulumi.get_stack()},
    )


def build(spec: DevSpec) -> None:
    settings = spec.settings
    server = OllamaServer("ollama", ollama_args(settings))
    export_endpoint(
        endpoint=server.endpoint,
        model=settings.model,
        engine=OLLAMA.name,
        health_url=server.health_url,
        # Ollama has no metrics endpoint (ollama/ollama#3144).
        metrics_url=None,
    )
