"""Which inference engine a container runs, and where it serves metrics.

The pack checks any program, so it keeps its own small copy of the engine
facts it needs rather than importing the project that happens to sit next to
it. Sources: vLLM docs (OpenAI server, `--port` default 8000, Prometheus
`/metrics` on the API port); TGI launcher (`--prometheus-port`, env
`PROMETHEUS_PORT`, default 9000, a separate listener since 3.3.0); Ollama has
no metrics endpoint (ollama/ollama#3144).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class EngineFacts:
    name: str
    label: str
    # The Prometheus endpoint's container port when nothing says otherwise; None: the engine has none.
    default_metrics_port: int | None
    # The flag (and its environment variable) that moves the metrics port.
    metrics_port_flag: str | None
    metrics_port_env: str | None
    # The API port in the container when nothing says otherwise, and what moves it.
    default_api_port: int | None = None
    api_port_flag: str | None = None
    # Paths that run inference (or leak what the model serves) with no key even when the engine has
    # one set. Empty: every inference path honours the key.
    unauthenticated_paths: tuple[str, ...] = ()


# vLLM 0.30.0, run for real: VLLM_API_KEY guards /v1/* only; POST /invocations answered a full chat
# completion with no key, and /tokenize, /metrics need none. Ollama has no authentication at all.
# TGI's --api-key guards its generate and chat routes, so it is not listed.
VLLM = EngineFacts(
    "vllm",
    "vLLM",
    8000,
    "--port",
    None,
    default_api_port=8000,
    api_port_flag="--port",
    unauthenticated_paths=("/invocations", "/tokenize", "/metrics"),
)
TGI = EngineFacts("tgi", "TGI", 9000, "--prometheus-port", "PROMETHEUS_PORT", default_api_port=80)
OLLAMA = EngineFacts(
    "ollama", "Ollama", None, None, None, default_api_port=11434, unauthenticated_paths=("every path",)
)
ENGINES = {facts.name: facts for facts in (VLLM, TGI, OLLAMA)}


@dataclass(frozen=True)
class ImageRef:
    registry: str | None
    repository: str  # without registry: `vllm/vllm-openai`
    tag: str | None
    digest: str | None


def parse_image(reference: str) -> ImageRef:
    """`[registry/]repository[:tag][@digest]`, the way Docker splits a reference."""
    rest, _, digest = reference.partition("@")
    registry = None
    first, slash, remainder = rest.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        registry, rest = first, remainder
    repository, tag = rest, None
    last_slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > last_slash:
        repository, tag = rest[:colon], rest[colon + 1 :]
    if registry in (None, "docker.io", "index.docker.io") and repository.startswith("library/"):
        repository = repository[len("library/") :]
    return ImageRef(registry, repository, tag or None, digest or None)


def engine_of_image(reference: str) -> EngineFacts | None:
    repository = parse_image(reference).repository.lower()
    name = repository.rsplit("/", 1)[-1]
    # Mirrors and private registries keep the repository name: `123.dkr.ecr.../vllm/vllm-openai`.
    if name.startswith("vllm-openai"):
        return VLLM
    if name.startswith("text-generation-inference"):
        return TGI
    if repository == "ollama/ollama" or repository.endswith("/ollama/ollama"):
        return OLLAMA
    return None


def engine_of_command(words: Sequence[str]) -> EngineFacts | None:
    """`vllm serve`, `-m vllm.entrypoints.openai.api_server`, `text-generation-launcher`, `ollama serve`"""
    names = [word.rsplit("/", 1)[-1] for word in words]
    for index, name in enumerate(names):
        following = names[index + 1] if index + 1 < len(names) else ""
        if (name == "vllm" and following == "serve") or name.startswith("vllm.entrypoints.openai"):
            return VLLM
        if name == "text-generation-launcher":
            return TGI
        if name == "ollama" and following == "serve":
            return OLLAMA
    return None


def detect_engine(image: str | None, entrypoint: Sequence[str], command: Sequence[str]) -> EngineFacts | None:
    by_image = engine_of_image(image) if image else None
    return by_image or engine_of_command([*entrypoint, *command])


def flag_value(args: Sequence[str], flag: str) -> str | None:
    """The value of `--flag V` or `--flag=V` (the last one wins, as with argparse and clap)."""
    value = None
    for index, arg in enumerate(args):
        if arg == flag and index + 1 < len(args):
            value = args[index + 1]
        elif arg.startswith(flag + "="):
            value = arg[len(flag) + 1 :]
    return value


def metrics_port(engine: EngineFacts, args: Sequence[str], env: Mapping[str, str | None]) -> int | None:
    """The container port the engine serves Prometheus metrics on, None if it has none or it is unreadable."""
    if engine.default_metrics_port is None:
        return None
    value = flag_value(args, engine.metrics_port_flag) if engine.metrics_port_flag else None
    if value is None and engine.metrics_port_env:
        value = env.get(engine.metrics_port_env)
    if value is None:
        return engine.default_metrics_port
    return int(value) if value.isdigit() else None


def api_port(engine: EngineFacts, args: Sequence[str]) -> int | None:
    """The container port the engine serves its API on, None if unreadable."""
    if engine.default_api_port is None:
        return None
    value = flag_value(args, engine.api_port_flag) if engine.api_port_flag else None
    if value is None:
        return engine.default_api_port
    return int(value) if value.isdigit() else None


def is_pinned(reference: str) -> bool:
    """A digest, or a tag other than `latest`."""
    ref = parse_image(reference)
    if ref.digest and ref.digest.startswith("sha256:"):
        return True
    return bool(ref.tag) and ref.tag != "latest"
