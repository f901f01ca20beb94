"""SGLang in the engine catalogue: its command line parses with the release's own flags.

SGLang cannot be installed here (CUDA wheels, GPU), so its argument parser is rebuilt from
the flags read in its server_args.py (tests/data/sglang_server_flags.txt, which cites the
commit): a flag SGLang does not have fails the parse, as the real launch_server would.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from llmdeploy.core.engines import (
    ENGINES,
    SGLANG,
    SGLANG_SERVER_COMMAND,
    SglangOptions,
    engine,
    is_pinned,
    sglang_arguments,
)

FLAGS_FILE = Path(__file__).parent / "data" / "sglang_server_flags.txt"


def sglang_flag_parser() -> argparse.ArgumentParser:
    """One argparse entry per flag read from SGLang's source. No abbreviations: SGLang's parser takes
    them, but an abbreviation in our argv breaks when a release adds a flag with the same prefix."""
    parser = argparse.ArgumentParser(prog="sglang.launch_server", allow_abbrev=False, exit_on_error=False)
    for line in FLAGS_FILE.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        flag, kind = line.split()
        if kind == "switch":
            parser.add_argument(flag, action="store_true")
        else:
            parser.add_argument(flag)
    return parser


def parse(argv: list[str]) -> argparse.Namespace:
    """Parse what follows `python3 -m sglang.launch_server`; an unknown flag raises."""
    assert tuple(argv[: len(SGLANG_SERVER_COMMAND)]) == SGLANG_SERVER_COMMAND
    namespace, unknown = sglang_flag_parser().parse_known_args(argv[len(SGLANG_SERVER_COMMAND) :])
    if unknown:
        raise ValueError(f"flags SGLang does not have: {unknown}")
    return namespace


OPTIONS = SglangOptions(
    model="Qwen/Qwen2.5-7B-Instruct",
    served_model_name="qwen2.5-7b-instruct",
    tensor_parallel_size=4,
    context_length=16384,
    max_running_requests=64,
    revision="a09a35458c702b33eeacc393d103063234e8bc28",
)


def test_sglang_is_in_the_catalogue_pinned() -> None:
    assert engine("sglang") is SGLANG and ENGINES["sglang"] is SGLANG
    assert SGLANG.image().startswith("lmsysorg/sglang:v") and is_pinned(SGLANG.image())
    assert (SGLANG.container_port, SGLANG.health_path, SGLANG.metrics_path) == (30000, "/health", "/metrics")
    assert SGLANG.metrics_port == SGLANG.container_port and SGLANG.wants_host_ipc


def test_every_flag_we_pass_parses_with_the_values_we_mean() -> None:
    parsed = parse(sglang_arguments(OPTIONS))
    assert parsed.model_path == "Qwen/Qwen2.5-7B-Instruct"
    assert parsed.served_model_name == "qwen2.5-7b-instruct"
    # SGLang binds 127.0.0.1 by default: unreachable through the published port.
    assert parsed.host == "0.0.0.0" and parsed.port == str(SGLANG.container_port)
    assert parsed.tp_size == "4" and parsed.context_length == "16384"
    assert float(parsed.mem_fraction_static) == pytest.approx(0.85)
    assert parsed.max_running_requests == "64"
    assert parsed.revision == OPTIONS.revision
    # No /metrics without it.
    assert parsed.enable_metrics is True


def test_minimal_options_parse_and_leave_out_what_is_unset() -> None:
    argv = sglang_arguments(
        SglangOptions(model="m", served_model_name="m", tensor_parallel_size=1, context_length=8)
    )
    parsed = parse(argv)
    assert parsed.revision is None and parsed.max_running_requests is None


@pytest.mark.parametrize(
    "wrong",
    [
        ["--model", "m", "--tensor-parallel", "2"],  # vLLM-ish, not SGLang's
        ["--max-model-len", "8192"],  # vLLM's name; SGLang's is --context-length
        ["--gpu-memory-utilization", "0.9"],  # vLLM's; SGLang's is --mem-fraction-static
        ["--mem-fraction", "0.8"],  # an abbreviation: full names only
        ["--enable-metric"],
    ],
)
def test_a_wrong_flag_fails(wrong: list[str]) -> None:
    with pytest.raises((ValueError, argparse.ArgumentError)):
        parse([*SGLANG_SERVER_COMMAND, *wrong])
