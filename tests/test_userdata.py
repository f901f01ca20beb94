"""The user data renderers (llmdeploy/core/userdata.py), tested as pure functions and as real bash."""

from __future__ import annotations

import os
import stat
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from llmdeploy.core.userdata import (
    HEREDOC_DELIMITER,
    USER_DATA_LIMIT_BYTES,
    AwsLogs,
    ContainerService,
    DockerRun,
    SecretEnv,
    docker_run_argv,
    fetch_secrets_script,
    render_user_data,
    service_docker_argv,
    shell_join,
    start_script,
    systemd_unit,
)
from tests.support import shellcheck

CANARY = "hf_" + "Zq7" * 11 + "x"  # "hf_" + 34 letters and digits: the shape of a real token


def service(**overrides: object) -> ContainerService:
    values: dict[str, object] = {
        "name": "llmdeploy-engine",
        "description": "an engine on a GPU",
        "run": DockerRun(
            image="ghcr.io/example/engine:1.2.3",
            arguments=["--model-id", "org/model name"],
            shm_size="1g",
            ports=[(8080, 80), (9000, 9000)],
            volumes=[("/opt/engine/data", "/data")],
        ),
        "drain_seconds": 90,
        "secrets": [SecretEnv(variable="HF_TOKEN", secret_name="llmdeploy/staging/hf-token")],
        "host_directories": ["/opt/engine/data"],
    }
    values.update(overrides)
    return ContainerService(**values)  # type: ignore[arg-type]


def test_docker_run_argv_puts_options_before_the_image_and_engine_arguments_after() -> None:
    argv = docker_run_argv(
        DockerRun(
            image="img:1",
            arguments=["--flag", "x"],
            shm_size="2g",
            ipc_host=True,
            ports=[(1, 2)],
            volumes=[("/a", "/b")],
            env_file="/run/x/secrets.env",
            environment={"B": "2", "A": "1"},
            container_name="x",
            remove_on_exit=True,
        )
    )
    assert argv == [
        "docker", "run", "--gpus", "all", "--shm-size", "2g", "--ipc=host", "-p", "1:2",
        "-v", "/a:/b", "--env-file", "/run/x/secrets.env", "-e", "A=1", "-e", "B=2",
        "--name", "x", "--rm", "img:1", "--flag", "x",
    ]  # fmt: skip


def test_service_docker_run_reads_secrets_only_from_the_env_file() -> None:
    argv = service_docker_argv(service())
    assert argv[argv.index("--env-file") + 1] == "/run/llmdeploy-engine/secrets.env"
    assert argv[argv.index("--name") + 1] == "llmdeploy-engine"
    assert "--rm" in argv
    assert "HF_TOKEN" not in " ".join(argv), "the token variable travels in the env file, not on the line"


def test_service_without_secrets_has_no_env_file_and_no_fetch_step() -> None:
    plain = service(secrets=[])
    assert "--env-file" not in service_docker_argv(plain)
    assert "fetch-secrets" not in systemd_unit(plain)
    assert "fetch-secrets" not in render_user_data(plain)
    with pytest.raises(ValueError, match="no secrets"):
        fetch_secrets_script(plain)


def test_shell_join_quotes_only_what_needs_it() -> None:
    assert shell_join(["docker", "run", "a b", "org/model"]) == "docker run 'a b' org/model"


def test_start_script_execs_the_quoted_docker_run() -> None:
    script = start_script(service())
    assert f"exec {shell_join(service_docker_argv(service()))}\n" in script
    assert "'org/model name'" in script


def test_unit_restarts_on_failure_and_stops_after_the_engine_drains() -> None:
    unit = systemd_unit(service(drain_seconds=90))
    assert "Restart=on-failure" in unit
    assert "ExecStop=/usr/bin/docker stop --time 100 llmdeploy-engine" in unit
    stop = int(next(line for line in unit.splitlines() if line.startswith("TimeoutStopSec=")).split("=")[1])
    assert stop > 100 > 90, f"systemd must wait longer ({stop}s) than docker stop (100s) > drain (90s)"
    assert "ExecStartPre=/usr/local/libexec/llmdeploy/llmdeploy-engine-fetch-secrets" in unit
    assert "RuntimeDirectoryMode=0700" in unit


def test_user_data_installs_the_files_and_starts_without_blocking_cloud_init() -> None:
    user_data = render_user_data(service())
    assert user_data.startswith("#!/bin/bash\n")
    assert "set -euo pipefail" in user_data
    assert "install -d -m 0755 /opt/engine/data" in user_data
    for path, mode in (
        ("/usr/local/libexec/llmdeploy/llmdeploy-engine-fetch-secrets", "0700"),
        ("/usr/local/libexec/llmdeploy/llmdeploy-engine-start", "0700"),
        ("/etc/systemd/system/llmdeploy-engine.service", "0644"),
    ):
        assert f"cat > {path} <<'{HEREDOC_DELIMITER}'" in user_data
        assert f"chmod {mode} {path}" in user_data
    assert user_data.rstrip().endswith("systemctl start --no-block llmdeploy-engine.service")
    assert '--secret-id "$2"' in user_data and "llmdeploy/staging/hf-token" in user_data


def test_log_options_send_the_output_to_the_group_without_blocking_the_engine() -> None:
    argv = docker_run_argv(DockerRun(image="img:1", arguments=["--flag"], logs=AwsLogs(group="/p/s/engine")))
    assert argv[argv.index("--log-driver") :] == [
        "--log-driver", "awslogs",
        "--log-opt", "awslogs-group=/p/s/engine",
        "--log-opt", "mode=non-blocking",
        "--log-opt", "max-buffer-size=4m",
        "img:1", "--flag",
    ]  # fmt: skip
    # The stack creates the group with a retention; the instance's region and the container's id suffice.
    assert not [word for word in argv if word.startswith(("awslogs-create-group", "awslogs-region"))]
    assert "--log-driver" not in docker_run_argv(DockerRun(image="img:1"))


@pytest.mark.parametrize("with_secrets", [True, False])
def test_every_rendered_script_passes_shellcheck(tmp_path: Path, with_secrets: bool) -> None:
    svc = service() if with_secrets else service(secrets=[])
    # With the engine's log options too (the stacks' case).
    svc = replace(svc, run=replace(svc.run, logs=AwsLogs(group="/llmdeploy/staging/engine")))
    shellcheck(render_user_data(svc), tmp_path, "user-data.sh")
    shellcheck(start_script(svc), tmp_path, "start.sh")
    if with_secrets:
        shellcheck(fetch_secrets_script(svc), tmp_path, "fetch-secrets.sh")


def test_a_file_containing_the_heredoc_delimiter_is_refused() -> None:
    bad = service(description="x", run=DockerRun(image="i:1", arguments=["\n" + HEREDOC_DELIMITER + "\n"]))
    with pytest.raises(ValueError, match="heredoc delimiter"):
        render_user_data(bad)


def test_user_data_above_the_ec2_limit_is_refused() -> None:
    huge = service(run=DockerRun(image="i:1", arguments=["x" * USER_DATA_LIMIT_BYTES]))
    with pytest.raises(ValueError, match="EC2 accepts at most"):
        render_user_data(huge)


# ---------------------------------------------------------------------------
# The fetch script, run for real by bash with test doubles for `curl` (IMDSv2)
# and `aws` (Secrets Manager) on PATH, since neither exists here.


def _fake_tools(bin_dir: Path, secret_value: str) -> None:
    bin_dir.mkdir()
    (bin_dir / "curl").write_text(
        "#!/bin/bash\n"
        "# Test double for IMDSv2: a token for PUT /api/token, the region otherwise.\n"
        'for arg in "$@"; do [[ "$arg" == */api/token ]] && { echo imds-token; exit 0; }; done\n'
        'for arg in "$@"; do [[ "$arg" == "X-aws-ec2-metadata-token: imds-token" ]] && '
        "{ echo eu-west-1; exit 0; }; done\n"
        "exit 22\n"
    )
    (bin_dir / "aws").write_text(
        "#!/bin/bash\n"
        "# Test double for the AWS CLI: answers get-secret-value for one name in one region.\n"
        'expected="secretsmanager get-secret-value --region eu-west-1 --secret-id '
        'llmdeploy/staging/hf-token --query SecretString --output text"\n'
        '[[ "$*" == "$expected" ]] || { echo "unexpected: $*" >&2; exit 3; }\n'
        f"printf '%s\\n' {secret_value!r}\n"
    )
    for tool in ("curl", "aws"):
        (bin_dir / tool).chmod(0o755)


def _run_fetch(tmp_path: Path, secret_value: str) -> subprocess.CompletedProcess[str]:
    svc = service(runtime_root=str(tmp_path / "run"))
    Path(svc.runtime_directory).mkdir(parents=True)
    script = tmp_path / "fetch.sh"
    script.write_text(fetch_secrets_script(svc))
    _fake_tools(tmp_path / "bin", secret_value)
    env = {**os.environ, "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}"}
    return subprocess.run(["bash", str(script)], capture_output=True, text=True, env=env, check=False)


def test_fetch_script_writes_the_secret_to_a_root_only_env_file(tmp_path: Path) -> None:
    result = _run_fetch(tmp_path, CANARY)
    assert result.returncode == 0, result.stderr
    env_file = tmp_path / "run" / "llmdeploy-engine" / "secrets.env"
    assert env_file.read_text() == f"HF_TOKEN={CANARY}\n"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600, "the env file must be readable by root only"
    assert CANARY not in result.stdout + result.stderr, "the token must not reach the journal"
    leftovers = [p.name for p in env_file.parent.iterdir() if p.name != "secrets.env"]
    assert leftovers == [], f"temporary files left behind: {leftovers}"


def test_fetch_script_refuses_an_empty_secret_and_writes_nothing(tmp_path: Path) -> None:
    result = _run_fetch(tmp_path, "")
    assert result.returncode != 0
    assert "is empty or spans several lines" in result.stderr
    assert not (tmp_path / "run" / "llmdeploy-engine" / "secrets.env").exists()
