"""`llmdeploy capacity` as a user runs it (its own process, offline)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def capacity(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "LLMDEPLOY_CACHE_DIR": str(tmp_path)}
    return subprocess.run(
        [sys.executable, "-m", "llmdeploy", "capacity", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def test_a_fitting_model_prints_the_breakdown_and_cost(tmp_path: Path) -> None:
    done = capacity(
        "--model",
        "meta-llama/Llama-3.1-8B-Instruct",
        "--instance-type",
        "g6e.xlarge",
        "--max-model-len",
        "8192",
        "--min-size",
        "1",
        "--max-size",
        "4",
        tmp_path=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    for expected in (
        "- weights",
        "14.99 GiB",
        "KV per token        128.0 KiB",
        "verdict             fits:",
        "$1.861 at 1 instance(s), $7.444 at 4",
    ):
        assert expected in done.stdout, f"missing {expected!r} in:\n{done.stdout}"
    assert done.stderr == ""


def test_an_oversize_context_exits_1_with_the_settings_line(tmp_path: Path) -> None:
    done = capacity(
        "--model",
        "meta-llama/Llama-3.1-8B-Instruct",
        "--instance-type",
        "g5.xlarge",
        "--max-model-len",
        "131072",
        tmp_path=tmp_path,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("llmdeploy:maxModelLen: found 131072; accepted: at most ")
    assert "does not fit" in done.stdout and "Traceback" not in done.stderr


def test_json_output_chooses_max_model_len(tmp_path: Path) -> None:
    done = capacity(
        "--model",
        "Qwen/Qwen2.5-7B-Instruct",
        "--instance-type",
        "g6.xlarge",
        "--format",
        "json",
        tmp_path=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["max_model_len_source"] == "chosen to fit" and document["problems"] == []
    assert document["max_model_len"] == 32768  # Qwen2.5-7B's own fits an L4
    breakdown = document["breakdown_gib_per_gpu"]
    total = (
        breakdown["weights"] + breakdown["non_torch"] + breakdown["activation_peak"] + breakdown["kv_cache"]
    )
    assert abs(total - breakdown["budget"]) < 0.01


def test_an_unknown_model_offline_is_one_line(tmp_path: Path) -> None:
    done = capacity(
        "--model", "acme/unknown", "--instance-type", "g6e.xlarge", "--offline", tmp_path=tmp_path
    )
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("llmdeploy:model: found 'acme/unknown'")


def test_max_model_len_is_never_called_set_when_nobody_set_it(tmp_path: Path) -> None:
    """70B on one A10G fits at no length: the estimate at the shortest tried says so, not "set"."""
    unset = capacity(
        "--model", "meta-llama/Llama-3.1-70B-Instruct", "--instance-type", "g5.xlarge", tmp_path=tmp_path
    )
    line = next(line for line in unset.stdout.splitlines() if "max-model-len " in line)
    assert "(not set; the shortest llmdeploy tries, which does not fit;" in line, unset.stdout
    given = capacity(
        "--model",
        "meta-llama/Llama-3.1-70B-Instruct",
        "--instance-type",
        "g5.xlarge",
        "--max-model-len",
        "2048",
        tmp_path=tmp_path,
    )
    line = next(line for line in given.stdout.splitlines() if "max-model-len " in line)
    assert "2,048 (set;" in line, given.stdout


def test_capacity_uses_the_stacks_defaults_so_its_recommendation_plans(tmp_path: Path) -> None:
    """The issue's trap: the CLI at vLLM's 0.92 and 256 sequences recommended a length the prod stack
    (0.9, 128) then refused. Now the CLI's choice is the prod stack's own choice, and plans."""
    from stacks.resolve import prod_capacity
    from stacks.settings import load_settings
    from tests.test_prod_stack import CANARY_API_KEY, minimal_prod_config, prod

    model, instance = "meta-llama/Llama-3.1-8B-Instruct", "g5.2xlarge"
    done = capacity("--model", model, "--instance-type", instance, "--format", "json", tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    recommended = json.loads(done.stdout)["max_model_len"]
    # Unset in the stack: the stack chooses the same length.
    config = minimal_prod_config(model=model, instanceType=instance, apiKey=CANARY_API_KEY)
    del config["llmdeploy:maxModelLen"]
    settings = load_settings("prod", config, {"llmdeploy:apiKey"})
    chosen = prod_capacity(settings).max_model_len  # type: ignore[arg-type]
    assert recommended == chosen
    # Copied into the stack file: it plans.
    run = prod(model=model, instanceType=instance, maxModelLen=str(recommended))
    assert run.outputs["capacity"]["max_model_len"] == recommended
