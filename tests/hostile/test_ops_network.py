"""preflight, verify, rollout and capacity against broken endpoints: they end, in one line, on time.

The endpoints are the hostile loopback servers of `tests.hostile.servers` (real sockets);
the commands run in their own processes as a user runs them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import CANARY_TOKEN
from tests.hostile.servers import hostile_server
from tests.hostile.support import CANARY_API_KEY, Finished, assert_no_canary, assert_refused, run_cli
from tests.support import REPO

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "AKIDEXAMPLEHOSTILE",
    "AWS_SECRET_ACCESS_KEY": "hostile-test-secret",
    "AWS_REGION": "us-east-1",
}


def aws_at(url: str, **extra: str) -> dict[str, str]:
    return {**FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": url, "AWS_MAX_ATTEMPTS": "1", **extra}


def assert_clean(result: Finished) -> None:
    shown = f"exit {result.code}\nstdout:\n{result.stdout[-3000:]}\nstderr:\n{result.stderr[-3000:]}"
    assert "Traceback" not in result.stdout + result.stderr, shown
    assert_no_canary(result)


def test_preflight_against_a_silent_endpoint_ends_at_its_deadline() -> None:
    with hostile_server("silent") as url:
        result = run_cli("preflight", "staging", "--program", str(REPO), "--deadline", "4", env=aws_at(url))
    assert_refused(result, 2, "llmdeploy preflight: stopped after 4 s without an end", lines=2)
    assert result.seconds < 40, f"took {result.seconds:.1f} s"


def test_rollout_against_a_dripping_endpoint_ends_at_its_deadline() -> None:
    with hostile_server("drip") as url:
        result = run_cli(
            "rollout", "prod", "--asg", "g", "--deadline", "4", "--program", str(REPO), env=aws_at(url)
        )
    assert_refused(result, 2, "llmdeploy rollout: stopped after 4 s without an end", lines=2)
    assert result.seconds < 40, f"took {result.seconds:.1f} s"


def test_preflight_reads_a_non_xml_answer_as_a_failed_check() -> None:
    with hostile_server("not_xml") as url:
        result = run_cli("preflight", "staging", "--program", str(REPO), "--format", "json", env=aws_at(url))
    assert_clean(result)
    assert result.code == 1, result.stderr
    checks = {check["name"]: check for check in json.loads(result.stdout)["checks"]}
    first = next(iter(checks.values()))
    assert first["status"] == "fail"
    assert "the answer was not an AWS API response" in first["detail"]


def test_half_a_key_pair_is_a_failed_check_not_a_crash() -> None:
    with hostile_server("silent") as url:
        env = {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLEHOSTILE", "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": url}
        result = run_cli("preflight", "staging", "--program", str(REPO), "--format", "json", env=env)
    assert_clean(result)
    assert result.code == 1, result.stderr
    details = [check["detail"] for check in json.loads(result.stdout)["checks"]]
    assert any("no usable AWS credentials" in detail for detail in details), details


def verify(url: str, *extra: str, env: dict[str, str] | None = None, tmp: Path) -> Finished:
    return run_cli(
        "verify", "staging", "--program", str(tmp), "--kind", "staging",
        "--endpoint", f"{url}/v1", "--model", "m", "--health-url", f"{url}/health",
        "--format", "json", *extra, env=env,
    )  # fmt: skip


def checks_of(result: Finished) -> dict[str, dict[str, str]]:
    return {check["name"]: check for check in json.loads(result.stdout)["checks"]}


def test_verify_against_a_dripping_server_ends_per_request(tmp_path: Path) -> None:
    with hostile_server("drip") as url:
        result = verify(url, "--timeout", "3", tmp=tmp_path)
    assert_clean(result)
    assert result.code == 1
    checks = checks_of(result)
    assert checks["models"]["detail"] == f"GET /models: no complete answer from {url}/v1 within 3 s"
    assert checks["health"]["detail"] == f"GET health URL: no complete answer from {url}/v1 within 3 s"
    # models (3 s) + health (3 s); chat and stream are skipped without models. The bound leaves
    # room for a loaded 2-core machine; without the per-request deadline the drip never ends.
    assert result.seconds < 40, f"took {result.seconds:.1f} s"


def test_verify_against_an_endless_body_stops_at_its_bound(tmp_path: Path) -> None:
    with hostile_server("endless") as url:
        result = verify(url, "--timeout", "20", tmp=tmp_path)
    assert_clean(result)
    assert result.code == 1
    assert checks_of(result)["models"]["detail"] == f"GET /models: {url}/v1: the answer is over 8 MiB"


def test_verify_masks_the_api_key_a_server_echoes(tmp_path: Path) -> None:
    with hostile_server("echo") as url:
        result = verify(url, env={"LLMDEPLOY_API_KEY": CANARY_API_KEY}, tmp=tmp_path)
    assert_clean(result)
    assert result.code == 1
    assert "Bearer [secret]" in checks_of(result)["models"]["detail"]


@pytest.mark.parametrize("flags", [("--timeout", "nan"), ("--timeout=-inf",)])
def test_verify_refuses_a_timeout_that_is_not_a_number_of_seconds(
    tmp_path: Path, flags: tuple[str, ...]
) -> None:
    result = verify("http://127.0.0.1:9", *flags, tmp=tmp_path)
    found = flags[-1].rsplit("=", 1)[-1]
    assert_refused(result, 1, f"--timeout: found {float(found):g}; accepted: seconds above 0")


def test_binary_outputs_file_is_one_line(tmp_path: Path) -> None:
    outputs = tmp_path / "outputs.json"
    outputs.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    result = run_cli(
        "verify", "staging", "--kind", "staging", "--program", str(tmp_path), "--outputs", str(outputs)
    )
    assert_refused(result, 1, "found a byte that is not UTF-8 text (0x89 at byte 0)", lines=2)


def test_binary_policy_config_is_one_line(tmp_path: Path) -> None:
    config = tmp_path / "policy.json"
    config.write_bytes(bytes(range(128, 256)))
    result = run_cli("check", "dev", "--policy-config", str(config))
    assert_refused(result, 2, "the policy config: found a byte that is not UTF-8 text (0x80 at byte 0)")


def capacity(env: dict[str, str], *extra: str) -> Finished:
    return run_cli(
        "capacity", "--model", "example-org/hostile-model", "--instance-type", "g6e.xlarge", *extra, env=env
    )


def test_capacity_refuses_a_hub_that_reflects_the_token(tmp_path: Path) -> None:
    with hostile_server("echo") as url:
        result = capacity(
            {"HF_ENDPOINT": url, "HF_TOKEN": CANARY_TOKEN, "LLMDEPLOY_CACHE_DIR": str(tmp_path)}
        )
    assert_clean(result)
    assert result.code == 1
    assert "the hub's config.json contains the token that was sent; refused, not cached" in result.stderr
    cached = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert not any(CANARY_TOKEN in path.read_text(errors="replace") for path in cached), cached


def test_capacity_against_a_dripping_hub_ends(tmp_path: Path) -> None:
    with hostile_server("drip") as url:
        result = capacity({"HF_ENDPOINT": url, "LLMDEPLOY_CACHE_DIR": str(tmp_path)}, "--deadline", "30")
    assert_clean(result)
    assert result.code == 1
    assert "the hub's config.json did not arrive within 10 s" in result.stderr
    assert result.seconds < 40, f"took {result.seconds:.1f} s"


def test_capacity_against_an_endless_hub_stops_at_its_bound(tmp_path: Path) -> None:
    with hostile_server("endless") as url:
        result = capacity({"HF_ENDPOINT": url, "LLMDEPLOY_CACHE_DIR": str(tmp_path)})
    assert_clean(result)
    assert result.code == 1
    assert "the hub's config.json is over 1024 KiB" in result.stderr


def test_capacity_refuses_nan_for_a_fraction() -> None:
    result = capacity({}, "--gpu-memory-utilization", "nan", "--offline")
    assert result.code == 2
    assert "Traceback" not in result.stderr
    assert result.error_lines[-1].endswith(
        "--gpu-memory-utilization: found 'nan'; accepted: a number above 0, at most 1"
    )
