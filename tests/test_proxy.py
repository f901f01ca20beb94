"""Staging's reverse proxy and the API-key wiring: pure functions, tested directly.

No nginx runs here; the config is checked for the contract prod's ALB keeps (only the OpenAI path
and /health reach the engine, streaming unbuffered, the ALB's idle timeout)."""

from __future__ import annotations

import re
import shlex

import pytest

from llmdeploy.core.engines import (
    API_KEY_VARIABLE,
    ENGINES,
    PROXY_IMAGE,
    SGLANG,
    TGI,
    VLLM,
    api_key_command,
    is_pinned,
)
from llmdeploy.core.proxy import needs_proxy, nginx_config, proxy_service
from llmdeploy.core.userdata import docker_run_argv


def test_only_engines_with_unguarded_paths_get_the_proxy() -> None:
    assert needs_proxy(VLLM) and needs_proxy(SGLANG) and not needs_proxy(TGI)


@pytest.mark.parametrize("engine", [VLLM, SGLANG])
def test_the_api_listener_forwards_the_openai_path_and_health_only(engine: object) -> None:
    config = nginx_config(engine, api_port=8080)  # type: ignore[arg-type]
    # One listener: /metrics is the collector's (port 9464), never the proxy's.
    (api,) = config.split("  server {")[1:]
    assert "listen 8080;" in api and config.count("listen ") == 1
    assert re.findall(r"location ([^{]+) \{", api) == ["/v1/", "= /health", "/"]
    assert "location / { return 404; }" in api and "/metrics" not in config
    port = ENGINES[engine.name].container_port  # type: ignore[attr-defined]
    assert config.count(f"proxy_pass http://127.0.0.1:{port};") == 2
    for line in ("proxy_buffering off;", "proxy_request_buffering off;", "proxy_read_timeout 300s;"):
        assert line in api


def test_the_proxy_runs_a_pinned_image_on_the_host_network_with_its_config_read_only() -> None:
    assert is_pinned(PROXY_IMAGE)
    argv = docker_run_argv(proxy_service(VLLM, api_port=8080).run)
    assert argv[argv.index("--network") + 1] == "host" and "--gpus" not in argv
    assert argv[argv.index("-v") + 1].endswith(":/etc/nginx/nginx.conf:ro") and argv[-1] == PROXY_IMAGE


def test_engines_reading_their_key_from_the_environment_keep_their_arguments() -> None:
    assert api_key_command(VLLM, ["m"]) == (["m"], "VLLM_API_KEY")
    assert api_key_command(TGI, ["--model-id", "m"]) == (["--model-id", "m"], "API_KEY")


def test_a_flag_only_engine_expands_the_variable_inside_the_container() -> None:
    argv, variable = api_key_command(SGLANG, ["python3", "-m", "sglang.launch_server", "--model-path", "a b"])
    assert variable == API_KEY_VARIABLE and argv[:2] == ["sh", "-c"]
    assert shlex.split(argv[2]) == [
        "exec", "python3", "-m", "sglang.launch_server", "--model-path", "a b", "--api-key", f"${API_KEY_VARIABLE}"
    ]  # fmt: skip


def test_an_engine_without_authentication_is_refused() -> None:
    with pytest.raises(ValueError, match="Ollama has no API key"):
        api_key_command(ENGINES["ollama"], ["serve"])
