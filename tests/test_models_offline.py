"""Offline means no network: `plan` and `check` read model configs from the bundle or the cache only;
`llmdeploy models fetch MODEL` is the one command that talks to the hub, and fills that cache.

The hub is a test double (nothing real can serve the Hugging Face hub here): a loopback HTTP server
answering `HEAD`/`GET /<org>/<name>/resolve/<revision>/config.json` with the headers huggingface_hub
reads (X-Repo-Commit, ETag, Content-Length, X-Error-Code), counting every request. The commands run
in their own processes, as a user runs them, under an audit hook that refuses any connection or name
lookup off loopback (tests/fixtures/no_network.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CANARY_TOKEN
from tests.fixtures.no_network import NON_LOOPBACK
from tests.support import REPO

GUARD = REPO / "tests" / "fixtures" / "no_network.py"
QWEN_CONFIG = (REPO / "llmdeploy/core/data/models/Qwen/Qwen2.5-7B-Instruct/config.json").read_bytes()
COMMIT = "0123456789abcdef0123456789abcdef01234567"


@dataclass
class HubTestDouble:
    endpoint: str
    # (method, path, Authorization header) of every request received.
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)


def _hub_handler(hub: HubTestDouble) -> type[BaseHTTPRequestHandler]:
    public = {"/acme/qwen-like/resolve/main/config.json": QWEN_CONFIG}
    gated = {"/gated/model/resolve/main/config.json": QWEN_CONFIG}

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, with_body: bool) -> None:
            auth = self.headers.get("Authorization")
            hub.requests.append((self.command, self.path, auth))
            path = self.path.split("?", 1)[0]
            body = public.get(path)
            error = None
            if body is None and path in gated:
                if auth == f"Bearer {CANARY_TOKEN}":
                    body = gated[path]
                else:
                    error = (401, "GatedRepo", "Access to model gated/model is restricted.")
            if body is None and error is None:
                error = (404, "RepoNotFound", "Repository Not Found")
            if error is not None:
                status, code, message = error
                payload = json.dumps({"error": message}).encode()
                self.send_response(status)
                self.send_header("X-Error-Code", code)
                self.send_header("X-Error-Message", message)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if with_body:
                    self.wfile.write(payload)
                return
            assert body is not None
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("ETag", '"config-etag-1"')
            self.send_header("X-Repo-Commit", COMMIT)
            self.end_headers()
            if with_body:
                self.wfile.write(body)

        def do_HEAD(self) -> None:
            self._answer(with_body=False)

        def do_GET(self) -> None:
            self._answer(with_body=True)

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def hub() -> Iterator[HubTestDouble]:
    double = HubTestDouble(endpoint="")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _hub_handler(double))
    double.endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield double
    server.shutdown()
    thread.join()


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "llmdeploy-cache"


def run_offline_guarded(
    *args: str, hub: HubTestDouble, cache: Path, token: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`llmdeploy ARGS` in its own process, the hub double as HF_ENDPOINT, the network fenced off."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("HF_", "HUGGINGFACE"))}
    env.update(
        HF_ENDPOINT=hub.endpoint,
        LLMDEPLOY_CACHE_DIR=str(cache),
        # huggingface_hub's own cache, token file and telemetry stay inside the test's directory.
        HF_HOME=str(cache.parent / "hf-home"),
        PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "policies")]),
    )
    if token is not None:
        env["HF_TOKEN"] = token
    return subprocess.run(
        [sys.executable, str(GUARD), *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )


def program_serving(tmp_path: Path, model: str, keep_max_model_len: bool = True) -> Path:
    """This repo's prod program, with the stack file's model replaced."""
    program = tmp_path / "program"
    program.mkdir()
    for name in ("Pulumi.yaml", "__main__.py"):
        (program / name).symlink_to(REPO / name)
    lines = (REPO / "Pulumi.prod.yaml").read_text().splitlines(keepends=True)
    kept = []
    for line in lines:
        if line.startswith("  llmdeploy:model: "):
            line = f"  llmdeploy:model: {model}\n"
        if line.startswith("  llmdeploy:maxModelLen: ") and not keep_max_model_len:
            continue
        kept.append(line)
    (program / "Pulumi.prod.yaml").write_text("".join(kept))
    return program


# ---------------------------------------------------------------------------
# Offline: plan and check


def test_plan_of_a_model_neither_bundled_nor_cached_sends_no_request(
    hub: HubTestDouble, cache: Path, tmp_path: Path
) -> None:
    program = program_serving(tmp_path, "acme/qwen-like")
    done = run_offline_guarded(
        "plan",
        "prod",
        "--program",
        str(program),
        "--format",
        "json",
        hub=hub,
        cache=cache,
        token=CANARY_TOKEN,
    )
    assert done.returncode == 0, done.stderr
    assert hub.requests == [], "an offline plan must not ask the hub"
    assert NON_LOOPBACK not in done.stderr
    capacity = json.loads(done.stdout)["outputs"]["capacity"]
    assert capacity["verdict"] == (
        "unknown: cache the model's config.json with `llmdeploy models fetch acme/qwen-like`"
    )
    assert "capacity not estimated, so not checked" in done.stderr
    assert not cache.exists(), "nothing was fetched, so nothing was cached"


def test_check_of_that_stack_stays_on_loopback_too(hub: HubTestDouble, cache: Path, tmp_path: Path) -> None:
    program = program_serving(tmp_path, "acme/qwen-like")
    done = run_offline_guarded(
        "check", "prod", "--program", str(program), "--format", "json", hub=hub, cache=cache
    )
    assert done.returncode in (0, 1), done.stderr  # a verdict, not a failure to run
    assert isinstance(json.loads(done.stdout), list), "the pack's violations, as JSON"
    # The audit hook fences this process (the program run); the pack's own process evaluates
    # resources only and imports no model code.
    assert hub.requests == [] and NON_LOOPBACK not in done.stderr


def test_the_guard_itself_refuses_the_network(hub: HubTestDouble, cache: Path) -> None:
    # The audit hook is what makes the tests above mean "no network": show it catches a lookup.
    done = run_offline_guarded("models", "fetch", "acme/qwen-like", hub=hub, cache=cache)
    assert done.returncode == 0, done.stderr  # loopback: allowed
    env_endpoint = {"HF_ENDPOINT": "http://hub.invalid"}
    env = {**os.environ, **env_endpoint, "LLMDEPLOY_CACHE_DIR": str(cache), "PYTHONPATH": str(REPO)}
    env.pop("HF_HUB_OFFLINE", None)
    refused = subprocess.run(
        [sys.executable, str(GUARD), "models", "fetch", "acme/other"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert NON_LOOPBACK in refused.stderr and refused.returncode != 0


# ---------------------------------------------------------------------------
# models fetch


def test_models_fetch_fills_the_documented_cache_and_the_plan_then_sizes_the_model(
    hub: HubTestDouble, cache: Path, tmp_path: Path
) -> None:
    done = run_offline_guarded("models", "fetch", "acme/qwen-like", hub=hub, cache=cache)
    assert done.returncode == 0, done.stderr
    cached = cache / "models" / "acme" / "qwen-like" / "main" / "config.json"
    assert json.loads(cached.read_text()) == json.loads(QWEN_CONFIG)
    assert done.stdout.startswith(f"cached {cached}: qwen2, 28 layers, context 32768")
    assert {path for _, path, _ in hub.requests} == {"/acme/qwen-like/resolve/main/config.json"}
    assert all(auth is None for _, _, auth in hub.requests), "no HF_TOKEN, so no Authorization header"

    hub.requests.clear()
    program = program_serving(tmp_path, "acme/qwen-like", keep_max_model_len=False)
    plan = run_offline_guarded(
        "plan", "prod", "--program", str(program), "--format", "json", hub=hub, cache=cache
    )
    assert plan.returncode == 0, plan.stderr
    assert hub.requests == []
    capacity = json.loads(plan.stdout)["outputs"]["capacity"]
    assert capacity["verdict"].startswith("fits: ") and capacity["max_model_len_source"] == "chosen to fit"


def test_models_fetch_of_a_gated_model_sends_hf_token_and_never_shows_it(
    hub: HubTestDouble, cache: Path
) -> None:
    refused = run_offline_guarded("models", "fetch", "gated/model", hub=hub, cache=cache)
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        f"error: gated/model: the hub at {hub.endpoint} refused config.json (gated; set HF_TOKEN to a "
        "token with access)"
    )
    wrong = "hf_WRONGwrongWRONGwrong0000000000000"
    refused = run_offline_guarded("models", "fetch", "gated/model", hub=hub, cache=cache, token=wrong)
    assert refused.returncode == 1 and "HF_TOKEN has no access to it" in refused.stderr
    assert wrong not in refused.stderr + refused.stdout

    hub.requests.clear()
    done = run_offline_guarded("models", "fetch", "gated/model", hub=hub, cache=cache, token=CANARY_TOKEN)
    assert done.returncode == 0, done.stderr
    assert CANARY_TOKEN not in done.stdout + done.stderr
    assert hub.requests and all(auth == f"Bearer {CANARY_TOKEN}" for _, _, auth in hub.requests)
    assert (cache / "models" / "gated" / "model" / "main" / "config.json").is_file()


def test_models_fetch_errors_are_one_line(hub: HubTestDouble, cache: Path) -> None:
    missing = run_offline_guarded("models", "fetch", "acme/missing", hub=hub, cache=cache)
    assert missing.returncode == 1
    assert missing.stderr.strip() == (
        f"error: acme/missing: no such model on the hub at {hub.endpoint} (or it is private: set HF_TOKEN)"
    )
    bad = run_offline_guarded("models", "fetch", "not a repo", hub=hub, cache=cache)
    assert bad.returncode == 2
    assert (
        bad.stderr.strip() == "error: MODEL: found 'not a repo'; accepted: a Hugging Face repo id (org/name)"
    )
    bundled = run_offline_guarded("models", "fetch", "Qwen/Qwen2.5-7B-Instruct", hub=hub, cache=cache)
    assert bundled.returncode == 0 and "bundled with llmdeploy" in bundled.stdout
    assert [path for _, path, _ in hub.requests if "Qwen2.5" in path] == []
