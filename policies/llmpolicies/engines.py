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

from docker_image.reference import DEFAULT_DOMAIN, OFFICIAL_REPO_NAME, InvalidReference, Reference


@dataclass(frozen=True)
class EngineFacts:
    name: str
    label: str
    # The Prometheus endpoint's container port when nothing says otherwise; None: the engine has none.
    default_metrics_port: int | None
    # The flag (and its environment variable) that moves the metrics port.
    metrics_port_flag: str | None
    metrics_port_env: str | None


VLLM = EngineFacts("vllm", "vLLM", 8000, "--port", None)
TGI = EngineFacts("tgi", "TGI", 9000, "--prometheus-port", "PROMETHEUS_PORT")
OLLAMA = EngineFacts("ollama", "Ollama", None, None, None)
ENGINES = {facts.name: facts for facts in (VLLM, TGI, OLLAMA)}


@dataclass(frozen=True)
class ImageRef:
    registry: str | None
    repository: str  # without registry: `vllm/vllm-openai`
    tag: str | None
    digest: str | None


def parse_image(reference: str) -> ImageRef | None:
    """`[registry/]repository[:tag][@digest]` as Docker splits it; None when Docker would refuse it.

    The parsing is docker-image-py's (distribution/reference's `ParseNormalizedNamed`),
    the library llmdeploy's settings use too, so a digest-pinned `repo:v1@sha256:...`
    has the same tag and digest for the pack and for the project it checks.
    """
    try:
        parsed = Reference.parse_normalized_named(reference)
    except InvalidReference:
        return None
    registry, repository = parsed.domain(), parsed.path()
    if registry == DEFAULT_DOMAIN:
        registry = None
        if repository.startswith(f"{OFFICIAL_REPO_NAME}/"):
            repository = repository[len(OFFICIAL_REPO_NAME) + 1 :]
    return ImageRef(registry, repository, parsed["tag"] or None, parsed["digest"] or None)


def _name_only(reference: str) -> str:
    """The repository part: a tag set when a script runs (`repo:${VERSION}`) still names the engine."""
    name = reference.split("@", 1)[0]
    head, slash, last = name.rpartition("/")
    return f"{head}{slash}{last.split(':', 1)[0]}"


def engine_of_image(reference: str) -> EngineFacts | None:
    ref = parse_image(reference) or parse_image(_name_only(reference))
    if ref is None:
        return None
    repository = ref.repository
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


def is_pinned(reference: str) -> bool:
    """A digest, or a tag other than `latest`; a reference Docker would refuse is not pinned."""
    ref = parse_image(reference)
    if ref is None:
        return False
    return ref.digest is not None or (ref.tag is not None and ref.tag != "latest")
