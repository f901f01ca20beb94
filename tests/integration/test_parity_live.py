"""`llmdeploy parity --live` against two real local servers: llama.cpp's (llama-cpp-python, a tiny
GGUF) and the real vLLM CPU build started with the prod stack's own command line and API key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmdeploy.cli import main
from tests.conftest import REPO
from tests.fixtures.llama_server import LlamaServer
from tests.fixtures.vllm_server import TEST_API_KEY, RealVllm

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def model_only(tmp_path: Path) -> Path:
    """A parity config that asks only for the same model (the examples pin no revision)."""
    config = tmp_path / "parity.json"
    config.write_text(json.dumps({"mustMatch": [{"stacks": ["staging", "prod"], "fields": ["model"]}]}))
    return config


def parity(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict, str]:
    code = main(["parity", "staging", "prod", "--program", str(REPO), "--live", "--format", "json", *args])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out else {}), err


def test_one_server_twice_answers_the_same(
    llama_server: LlamaServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, document, err = parity(
        capsys,
        "--config", str(model_only(tmp_path)),
        "--endpoint", f"staging={llama_server.endpoint}",
        "--endpoint", f"prod={llama_server.endpoint}",
        "--served-model", f"staging={llama_server.model}",
        "--served-model", f"prod={llama_server.model}",
    )  # fmt: skip
    assert code == 0, err
    assert document["live"] == []


def test_two_engines_with_other_weights_answer_differently_and_the_key_is_sent(
    llama_server: LlamaServer,
    real_vllm: RealVllm,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PARITY_PROD_KEY", TEST_API_KEY)
    args = [
        "--config", str(model_only(tmp_path)),
        "--endpoint", f"staging={llama_server.endpoint}",
        "--endpoint", f"prod={real_vllm.endpoint}",
        "--served-model", f"staging={llama_server.model}",
        "--served-model", f"prod={real_vllm.served_name}",
    ]  # fmt: skip
    code, document, err = parity(capsys, *args, "--api-key-env", "prod=PARITY_PROD_KEY")
    assert code == 1, err
    assert document["live"], "different weights gave the same answers to every golden prompt"
    for item in document["live"]:
        # vLLM answered (the key was sent): no error in brackets from either server.
        assert not any(answer.startswith("[") for answer in item["answers"].values()), item
    assert TEST_API_KEY not in json.dumps(document) + err
    # Without the key, vLLM refuses: the answers show it.
    code, document, _ = parity(capsys, *args)
    assert code == 1
    assert all(item["answers"]["prod"] == "[HTTP 401]" for item in document["live"]), document["live"]
