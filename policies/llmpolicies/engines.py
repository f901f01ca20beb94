"""Which inference engine a container runs, and where it serves metrics.

The pack checks any program, so it keeps its own small copy of the engine
facts it needs rather than importing the project that happens to sit next to
it. Sources: vLLM docs (OpenAI server, `--port` default 8000, Prometheus
`/metrics` on the API port); TGI launcher (`--prometheus-port`, env
`PROMETHEUS_PORT`, default 9000, a separate listener since 3.3.0); Ollama has
no metrics endpoint (ollama/ollama#3144); SGLang (`python -m sglang.launch_server`,
server_args.py: `--port` default 30000, Prometheus `/metrics` on the API port with
`--enable-metrics`, docs run its image with `--ipc=host`).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

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
# SGLang: `--port` (default 30000) serves the API and, with --enable-metrics, /metrics, which
# takes no key.
SGLANG = EngineFacts(
    "sglang",
    "SGLang",
    30000,
    "--port",
    None,
    default_api_port=30000,
    api_port_flag="--port",
    unauthenticated_paths=("/metrics",),
)
ENGINES = {facts.name: facts for facts in (VLLM, TGI, OLLAMA, SGLANG)}


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


# Which engine an image runs, by the last segment of its repository, wherever it is pulled from: Docker
# Hub, GHCR, a mirror, an ECR copy (`*`: a prefix, for variants such as vllm-openai-rocm). The AWS Deep
# Learning Containers name their repositories `huggingface-pytorch-tgi-inference` (TGI) and `vllm`
# (763104351884.dkr.ecr.<region>.amazonaws.com). Policies take more entries in their `engineImages`
# config (`{"my-registry/llm-server": "vllm"}`: a whole repository, or a last segment).
DEFAULT_IMAGE_MAP: dict[str, str] = {
    "vllm-openai*": "vllm",
    "vllm": "vllm",
    "text-generation-inference*": "tgi",
    "huggingface-pytorch-tgi-inference": "tgi",
    "ollama": "ollama",
    "sglang*": "sglang",
}
ENGINE_IMAGES_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "More images to recognise: repository (or its last path segment, a prefix) -> engine "
    "(vllm, tgi, sglang or ollama), for private builds and renamed mirrors.",
}
# Tags that move: a redeploy may serve something no one reviewed.
MOVING_TAGS = frozenset({"latest", "nightly", "main", "master", "dev", "edge", "head", "stable", "rolling"})


def engine_of_image(reference: str, extra: Mapping[str, str] | None = None) -> EngineFacts | None:
    """The engine an image runs, from its repository (extra entries first, then DEFAULT_IMAGE_MAP)."""
    ref = parse_image(reference) or parse_image(_name_only(reference))
    if ref is None:
        return None
    repository = ref.repository.lower()
    name = repository.rsplit("/", 1)[-1]
    for pattern, engine in [*(extra or {}).items(), *DEFAULT_IMAGE_MAP.items()]:
        pattern = pattern.lower()
        if pattern.endswith("*"):
            matches = name.startswith(pattern[:-1])
        elif "/" in pattern:
            matches = repository == pattern or repository.endswith("/" + pattern)
        else:
            matches = name == pattern
        if matches:
            return ENGINES.get(str(engine).lower())
    return None


_SHELLS = frozenset({"sh", "bash", "dash", "zsh"})


def shell_c_script(words: Sequence[str]) -> str | None:
    """The script of `sh -c '...'` / `bash -ec "..."` anywhere in an argv (an entrypoint, a command)."""
    for index, word in enumerate(words):
        if word.rsplit("/", 1)[-1] not in _SHELLS:
            continue
        for offset, option in enumerate(words[index + 1 :], start=index + 1):
            if option.startswith("-") and not option.startswith("--") and "c" in option[1:]:
                return words[offset + 1] if offset + 1 < len(words) else None
            if not option.startswith("-"):
                break
    return None


def engine_of_command(words: Sequence[str]) -> EngineFacts | None:
    """`vllm serve`, `-m vllm.entrypoints.openai.api_server`, `text-generation-launcher`, `ollama serve`,
    `-m sglang.launch_server`,
    also inside a `sh -c '...'` string."""
    names = [word.rsplit("/", 1)[-1] for word in words]
    for index, name in enumerate(names):
        following = names[index + 1] if index + 1 < len(names) else ""
        if (name == "vllm" and following == "serve") or name.startswith("vllm.entrypoints.openai"):
            return VLLM
        if name == "text-generation-launcher":
            return TGI
        if name == "ollama" and following == "serve":
            return OLLAMA
        if name.startswith("sglang.launch_server"):
            return SGLANG
    script = shell_c_script(words)
    if script is not None:
        try:
            inner = shlex.split(script, comments=True)
        except ValueError:
            inner = script.split()
        return engine_of_command([word for word in inner if word not in ("&&", "||", ";", "exec")])
    return None


def server_args(words: Sequence[str]) -> list[str]:
    """The engine's arguments: the argv itself, or the words of its `sh -c` script."""
    script = shell_c_script(words)
    if script is None:
        return list(words)
    try:
        return shlex.split(script, comments=True)
    except ValueError:
        return script.split()


def detect_engine(
    image: str | None,
    entrypoint: Sequence[str],
    command: Sequence[str],
    extra_images: Mapping[str, str] | None = None,
) -> EngineFacts | None:
    by_image = engine_of_image(image, extra_images) if image else None
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
    """A digest, or a version tag (not a moving one such as `latest`, `nightly`, `main`, `dev`); a
    reference Docker would refuse is not pinned."""
    ref = parse_image(reference)
    if ref is None:
        return False
    if ref.digest and ref.digest.startswith("sha256:"):
        return True
    return bool(ref.tag) and str(ref.tag).lower() not in MOVING_TAGS
