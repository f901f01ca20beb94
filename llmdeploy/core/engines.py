"""The engine catalogue: everything llmdeploy knows about Ollama, TGI, vLLM and SGLang.

Every stack takes ports, paths, images and command lines from here, so a flag
cannot drift between stacks. Facts come from the engines' own docs and source;
comments name where a value comes from.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from docker_image.reference import InvalidReference, Reference

EngineName = Literal["ollama", "tgi", "vllm", "sglang"]
ENGINE_NAMES: tuple[EngineName, ...] = ("ollama", "tgi", "vllm", "sglang")

GIB = 1024**3


@dataclass(frozen=True)
class Engine:
    name: EngineName
    image_repository: str
    # A released version, never `latest`: an image that changes under a stack
    # changes what a redeploy serves.
    default_tag: str
    container_port: int
    health_path: str
    # The Prometheus endpoint, if the engine has one, and the container port it
    # is served on (TGI has a dedicated listener; vLLM serves it on the API port).
    metrics_path: str | None
    metrics_port: int | None
    cache_mount: str
    # Shared memory the container needs: NCCL and PyTorch workers use /dev/shm,
    # and Docker's default is only 64 MB.
    min_shm_bytes: int
    wants_host_ipc: bool
    # Where the Hugging Face token goes, if the engine downloads from the hub.
    token_env: str | None
    # How long the engine drains in-flight requests after SIGTERM.
    drain_seconds: int
    # How the engine takes its API key: an environment variable it reads itself, else a flag only
    # (then the key reaches the flag through `api_key_command`, never through user data). Both
    # None: the engine has no authentication.
    api_key_env: str | None = None
    api_key_flag: str | None = None
    # The name people know it by, for descriptions and dashboards.
    label: str = ""
    # Paths that run inference or leak what is served without the key even when one is set: such an
    # engine is reached only through a load balancer or proxy forwarding the guarded paths.
    unauthenticated_paths: tuple[str, ...] = ()
    openai_path: str = "/v1"

    def image(self, tag: str | None = None) -> str:
        return f"{self.image_repository}:{tag or self.default_tag}"


OLLAMA = Engine(
    name="ollama",
    image_repository="ollama/ollama",
    # The 0.32 line's latest patch release we know of (0.32.x, late 2026).
    default_tag="0.32.13",
    container_port=11434,
    # `GET /` answers "Ollama is running"; the server is up at once, models load lazily.
    health_path="/",
    # No metrics endpoint (ollama/ollama#3144): say so rather than invent a port.
    metrics_path=None,
    metrics_port=None,
    cache_mount="/root/.ollama",
    min_shm_bytes=0,
    wants_host_ipc=False,
    token_env=None,
    # Ollama closes connections at once on SIGTERM.
    drain_seconds=0,
    # Ollama has no authentication: never published beyond localhost without a proxy in front.
    label="Ollama",
)

TGI = Engine(
    name="tgi",
    image_repository="ghcr.io/huggingface/text-generation-inference",
    # 3.3.7 is the last release (maintenance mode); it also fixes 3.3.5's
    # shard count of 1 under NVIDIA_VISIBLE_DEVICES=all.
    default_tag="3.3.7",
    # The launcher defaults to 3000 but the image sets PORT=80.
    container_port=80,
    health_path="/health",
    # A separate Prometheus listener (`--prometheus-port`, default 9000, since 3.3.0).
    metrics_path="/metrics",
    metrics_port=9000,
    cache_mount="/data",
    # TGI's docs run with `--shm-size 1g`; a missing shm shows as a shard dying with SIGBUS.
    min_shm_bytes=1 * GIB,
    wants_host_ipc=False,
    token_env="HF_TOKEN",
    # `--graceful-termination-timeout` defaults to 90 s.
    drain_seconds=90,
    # The launcher's `--api-key` is `#[clap(long, env)]`: API_KEY (launcher/src/main.rs, v3.3.7). The
    # router then guards /, /generate, /generate_stream, /v1/chat/completions, /v1/completions,
    # /vertex, /invocations and /tokenize; /health, /ping, /info, /metrics, /v1/models and
    # /chat_tokenize stay open (router/src/server.rs, v3.3.7), none of which runs inference.
    api_key_env="API_KEY",
    label="TGI",
)

VLLM = Engine(
    name="vllm",
    image_repository="vllm/vllm-openai",
    # v0.30.0: the newest release confirmed as published (vLLM tags are `vX.Y.Z`).
    default_tag="v0.30.0",
    container_port=8000,
    health_path="/health",
    # Prometheus /metrics on the API port.
    metrics_path="/metrics",
    metrics_port=8000,
    cache_mount="/root/.cache/huggingface",
    min_shm_bytes=0,
    # vLLM's docs run with `--ipc=host` so tensor-parallel workers share memory.
    wants_host_ipc=True,
    token_env="HF_TOKEN",
    # We pass `--shutdown-timeout` (vLLM >= 0.18) with this value.
    drain_seconds=120,
    # VLLM_API_KEY guards /v1/* only (run for real, ENGINE_FACTS): /invocations, /tokenize and
    # /metrics answer without it, so its port takes traffic from a proxy or load balancer only.
    api_key_env="VLLM_API_KEY",
    label="vLLM",
    unauthenticated_paths=("/invocations", "/tokenize", "/metrics"),
)

SGLANG = Engine(
    name="sglang",
    image_repository="lmsysorg/sglang",
    # A release tag of SGLang's own image (tags are `vX.Y.Z`, CUDA variants `vX.Y.Z-cu12N`).
    # Flags checked against python/sglang/srt/server_args.py (tests/data/sglang_server_flags.txt).
    default_tag="v0.5.3",
    # `--port` defaults to 30000; we pass it explicitly.
    container_port=30000,
    # `GET /health` answers 200 once the scheduler runs.
    health_path="/health",
    # Prometheus /metrics on the API port, only with `--enable-metrics` (off by default).
    metrics_path="/metrics",
    metrics_port=30000,
    cache_mount="/root/.cache/huggingface",
    min_shm_bytes=0,
    # SGLang's docs run its image with `--ipc=host` (tensor-parallel workers share memory).
    wants_host_ipc=True,
    token_env="HF_TOKEN",
    # SGLang has no drain flag: on SIGTERM the server exits; in-flight requests are cut.
    drain_seconds=0,
    # `--api-key` (server_args.py); no environment variable is read for it.
    api_key_flag="--api-key",
    label="SGLang",
    # /metrics (with --enable-metrics) takes no key.
    unauthenticated_paths=("/metrics",),
)

ENGINES: Mapping[EngineName, Engine] = {"ollama": OLLAMA, "tgi": TGI, "vllm": VLLM, "sglang": SGLANG}


# The reverse proxy in front of an engine with unguarded paths on a stack without a load balancer
# (llmdeploy/core/proxy.py): the official image, a released version (published; cited by digest in
# public Dockerfiles), never `latest`.
PROXY_IMAGE = "nginx:1.28.0-alpine"

# The variable a flag-only engine's key travels in, from the root-only env file to its flag.
API_KEY_VARIABLE = "LLMDEPLOY_API_KEY"


def api_key_command(engine: Engine, arguments: Sequence[str]) -> tuple[list[str], str]:
    """The container's arguments with the engine reading its API key, and the variable that carries it.

    An engine that reads its key from the environment keeps its arguments. A flag-only engine
    (SGLang) runs under `sh -c` so that the flag takes the variable's value inside the container:
    the key is never part of the user data, the plan or the unit file.
    """
    if engine.api_key_env:
        return list(arguments), engine.api_key_env
    if engine.api_key_flag:
        script = f'exec {shlex.join(arguments)} {engine.api_key_flag} "${API_KEY_VARIABLE}"'
        return ["sh", "-c", script], API_KEY_VARIABLE
    raise ValueError(f"{engine.label or engine.name} has no API key")


def engine(name: str) -> Engine:
    try:
        return ENGINES[name]  # type: ignore[index]
    except KeyError:
        raise ValueError(f"unknown engine {name!r}; known: {', '.join(ENGINE_NAMES)}") from None


# ---------------------------------------------------------------------------
# Image references


@dataclass(frozen=True)
class ImageReference:
    domain: str  # `docker.io` for Docker Hub names
    path: str  # `vllm/vllm-openai`, `library/ubuntu`
    tag: str | None
    digest: str | None


def image_reference(reference: str) -> ImageReference:
    """`reference` split the way Docker's distribution/reference does (`ParseNormalizedNamed`).

    The parsing is docker-image-py's, the same library the policy pack uses, so a
    tag and a digest mean the same thing to settings, stacks and policies.
    Raises ValueError naming the reference when Docker would refuse it.
    """
    try:
        parsed = Reference.parse_normalized_named(reference)
    except InvalidReference as error:
        raise ValueError(f"{reference!r} is not a Docker image reference ({error})") from None
    return ImageReference(
        domain=parsed.domain(), path=parsed.path(), tag=parsed["tag"] or None, digest=parsed["digest"] or None
    )


def image_tag(reference: str) -> str | None:
    """The tag (`v0.30.0`, also in `repo:v0.30.0@sha256:...`); None without one or when unparsable."""
    try:
        return image_reference(reference).tag
    except ValueError:
        return None


def is_pinned(reference: str) -> bool:
    """Pinned means a digest, or a tag other than `latest`; an unparsable reference is not pinned."""
    try:
        parsed = image_reference(reference)
    except ValueError:
        return False
    return parsed.digest is not None or (parsed.tag is not None and parsed.tag != "latest")


def version_tuple(tag: str) -> tuple[int, ...]:
    digits = tag.lstrip("vV").split("-", 1)[0].split(".")
    try:
        return tuple(int(part) for part in digits)
    except ValueError:
        return ()


# ---------------------------------------------------------------------------
# How settings become each engine's configuration. Pure functions, tested directly.


@dataclass(frozen=True)
class OllamaOptions:
    keep_alive: str = "5m"
    num_parallel: int = 1
    context_length: int | None = None
    max_loaded_models: int | None = None
    origins: tuple[str, ...] = ()
    https_proxy: str | None = None
    no_proxy: str | None = None


def ollama_environment(options: OllamaOptions) -> dict[str, str]:
    """Ollama is configured through OLLAMA_* variables, not flags.

    No usage-statistics switch is set because the server has none to set: its maintainers
    state that the only outgoing call is the desktop app's update check (ollama/ollama#2567),
    which the server in the container does not make. vLLM and TGI report usage unless told
    not to, and are (`vllm_environment`, `tgi_arguments`).
    """
    env = {
        # The image already listens on 0.0.0.0:11434; stating it keeps the
        # container port and the environment from disagreeing.
        "OLLAMA_HOST": f"0.0.0.0:{OLLAMA.container_port}",
        "OLLAMA_KEEP_ALIVE": options.keep_alive,
        "OLLAMA_NUM_PARALLEL": str(options.num_parallel),
    }
    if options.context_length is not None:
        env["OLLAMA_CONTEXT_LENGTH"] = str(options.context_length)
    if options.max_loaded_models is not None:
        env["OLLAMA_MAX_LOADED_MODELS"] = str(options.max_loaded_models)
    if options.origins:
        env["OLLAMA_ORIGINS"] = ",".join(options.origins)
    # Pulls go through HTTPS_PROXY; HTTP_PROXY is deliberately never set
    # (Ollama's docs: it breaks client connections to the server).
    if options.https_proxy:
        env["HTTPS_PROXY"] = options.https_proxy
    if options.no_proxy:
        env["NO_PROXY"] = options.no_proxy
    return env


@dataclass(frozen=True)
class TgiOptions:
    model_id: str
    num_shard: int
    max_input_tokens: int
    max_total_tokens: int
    max_concurrent_requests: int = 128
    max_batch_prefill_tokens: int | None = None
    quantize: str | None = None
    otlp_endpoint: str | None = None
    otlp_service_name: str = "tgi"
    # A commit hash of the model repo (`--revision`); None: whatever the hub's main branch is.
    revision: str | None = None
    # `--graceful-termination-timeout` (launcher/src/main.rs, v3.3.7); None: TGI's own 90 s.
    graceful_termination_timeout: int | None = None


def tgi_arguments(options: TgiOptions) -> list[str]:
    """The TGI launcher's arguments, after the image name in `docker run`."""
    args = [
        "--model-id", options.model_id,
        # Explicit: TGI 3.3.5 guessed 1 under NVIDIA_VISIBLE_DEVICES=all.
        "--num-shard", str(options.num_shard),
        "--max-input-tokens", str(options.max_input_tokens),
        "--max-total-tokens", str(options.max_total_tokens),
        "--max-concurrent-requests", str(options.max_concurrent_requests),
        "--prometheus-port", str(TGI.metrics_port),
        # TGI sends usage statistics unless told not to.
        "--usage-stats", "off",
    ]  # fmt: skip
    if options.max_batch_prefill_tokens is not None:
        args += ["--max-batch-prefill-tokens", str(options.max_batch_prefill_tokens)]
    if options.quantize:
        args += ["--quantize", options.quantize]
    if options.otlp_endpoint:
        args += ["--otlp-endpoint", options.otlp_endpoint, "--otlp-service-name", options.otlp_service_name]
    if options.revision:
        args += ["--revision", options.revision]
    if options.graceful_termination_timeout is not None:
        args += ["--graceful-termination-timeout", str(options.graceful_termination_timeout)]
    return args


@dataclass(frozen=True)
class VllmOptions:
    model: str
    served_model_name: str
    tensor_parallel_size: int
    max_model_len: int
    gpu_memory_utilization: float
    max_num_seqs: int
    # `vllm` applies no generation_config.json from the model repo, so default
    # sampling is explicit; `auto` takes the model's own (and may cap max tokens).
    generation_config: Literal["vllm", "auto"] = "vllm"
    shutdown_timeout: int = VLLM.drain_seconds
    otlp_traces_endpoint: str | None = None
    max_num_batched_tokens: int | None = None
    image_tag: str = VLLM.default_tag
    # uvicorn's keep-alive (VLLM_HTTP_TIMEOUT_KEEP_ALIVE, default 5 s). Behind a
    # load balancer it must outlast the balancer's idle timeout, or the target
    # closes a connection the balancer is about to reuse and clients see 502s.
    http_keep_alive_seconds: int | None = None
    otlp_service_name: str = "vllm"
    # SSE comments on a silent stream (a long prefill, a queued request) so that no
    # idle timeout in front cuts it; vLLM sends none unless asked (off by default in 0.30.0).
    sse_keep_alive_seconds: int | None = None
    # `runai_streamer` when `model` is an s3:// prefix: vLLM's Run:ai model streamer reads the
    # safetensors from S3 with concurrent ranged GETs straight into GPU memory (vLLM docs,
    # "Loading models with Run:ai Model Streamer"). None: vLLM's default (`auto`).
    load_format: str | None = None
    # A commit hash of the model repo (`--revision`); None: the hub's main branch that day.
    revision: str | None = None


# The stacks' vLLM defaults, one home: prod's settings, staging with vLLM and `llmdeploy capacity`
# all start from these, so a recommendation plans as it was computed. (vLLM's own defaults
# differ: 0.92 since 0.11 and 256 sequences on small GPUs.)
VLLM_STACK_GPU_MEMORY_UTILIZATION = 0.9
VLLM_STACK_MAX_NUM_SEQS = 128


# `--shutdown-timeout` (stop taking requests, drain up to N s) exists from 0.18;
# before it, SIGTERM aborted in-flight requests.
VLLM_DRAIN_SINCE = (0, 18)


# SSE keep-alive comments on streamed responses (vLLM 0.30.0's argument parser; off by default).
VLLM_SSE_KEEP_ALIVE_FLAG = "--sse-keep-alive-interval"


def vllm_drains(image_tag: str) -> bool:
    """Whether this vLLM release drains on SIGTERM (`--shutdown-timeout`)."""
    return version_tuple(image_tag) >= VLLM_DRAIN_SINCE


def vllm_environment(options: VllmOptions) -> dict[str, str]:
    """Environment for the vLLM container that is configuration, not secrets.

    The API key (VLLM_API_KEY) and the Hugging Face token are deliberately not
    here: they reach the container through a root-only env file written at boot.
    """
    # vLLM reports usage statistics to its maintainers unless told not to (checked in
    # vllm/usage/usage_lib.py of 0.30.0: either variable turns it off); the instances have
    # outbound internet through the NAT gateway.
    env: dict[str, str] = {"VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1"}
    if options.http_keep_alive_seconds is not None:
        env["VLLM_HTTP_TIMEOUT_KEEP_ALIVE"] = str(options.http_keep_alive_seconds)
    if options.otlp_traces_endpoint:
        # vLLM names its spans' service from the standard OTel variable.
        env["OTEL_SERVICE_NAME"] = options.otlp_service_name
    return env


def vllm_arguments(options: VllmOptions) -> list[str]:
    """`vllm serve`'s arguments, after the image name in `docker run` (the image's entrypoint).

    The model is the positional argument: `--model` is deprecated in 0.30.0.
    `--disable-log-requests` is deliberately absent: it was removed, and
    request logging is off by default.
    """
    args = [
        options.model,
        "--served-model-name", options.served_model_name,
        "--port", str(VLLM.container_port),
        "--tensor-parallel-size", str(options.tensor_parallel_size),
        "--max-model-len", str(options.max_model_len),
        "--gpu-memory-utilization", f"{options.gpu_memory_utilization:g}",
        "--max-num-seqs", str(options.max_num_seqs),
        "--generation-config", options.generation_config,
    ]  # fmt: skip
    if options.max_num_batched_tokens is not None:
        args += ["--max-num-batched-tokens", str(options.max_num_batched_tokens)]
    # Before 0.18, SIGTERM aborted in-flight requests; from 0.18 this drains.
    if vllm_drains(options.image_tag):
        args += ["--shutdown-timeout", str(options.shutdown_timeout)]
    if options.otlp_traces_endpoint:
        args += ["--otlp-traces-endpoint", options.otlp_traces_endpoint]
    if options.sse_keep_alive_seconds is not None:
        args += [VLLM_SSE_KEEP_ALIVE_FLAG, str(options.sse_keep_alive_seconds)]
    if options.load_format:
        args += ["--load-format", options.load_format]
    if options.revision:
        args += ["--revision", options.revision]
    return args


# SGLang's static memory fraction (weights plus the KV pool; activations live outside it).
# SGLang picks one from the GPU when unset; we state one so the capacity planner and the
# server use the same number.
SGLANG_DEFAULT_MEM_FRACTION = 0.85

# The server module the image runs (`python3 -m sglang.launch_server`): the image has no
# server entrypoint of its own.
SGLANG_SERVER_COMMAND: tuple[str, ...] = ("python3", "-m", "sglang.launch_server")


@dataclass(frozen=True)
class SglangOptions:
    model: str
    served_model_name: str
    tensor_parallel_size: int
    context_length: int
    mem_fraction_static: float = SGLANG_DEFAULT_MEM_FRACTION
    max_running_requests: int | None = None
    revision: str | None = None


def sglang_arguments(options: SglangOptions) -> list[str]:
    """`python3 -m sglang.launch_server` and its flags, after the image name in `docker run`.

    Every flag is one of server_args.py's (tests/data/sglang_server_flags.txt): the
    server binds 127.0.0.1 unless told, and serves no /metrics without --enable-metrics.
    """
    args = [
        *SGLANG_SERVER_COMMAND,
        "--model-path", options.model,
        "--served-model-name", options.served_model_name,
        "--host", "0.0.0.0",
        "--port", str(SGLANG.container_port),
        "--tp-size", str(options.tensor_parallel_size),
        "--context-length", str(options.context_length),
        "--mem-fraction-static", f"{options.mem_fraction_static:g}",
        "--enable-metrics",
    ]  # fmt: skip
    if options.max_running_requests is not None:
        args += ["--max-running-requests", str(options.max_running_requests)]
    if options.revision:
        args += ["--revision", options.revision]
    return args
