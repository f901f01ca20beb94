"""EC2 user data for an engine container: pure renderers, shared by TGI and vLLM.

The user data is a bash script that cloud-init runs once, as root, at first
boot. It installs three files and starts a systemd unit:

- `<libexec>/<name>-fetch-secrets` (only when the service has secrets): runs
  before every start of the unit, looks up the region with IMDSv2, reads each
  secret BY NAME from AWS Secrets Manager with the instance role, and writes
  them to `/run/<name>/secrets.env` (tmpfs, so never on the EBS volume; mode
  600, root only). `docker run --env-file` reads that file. A restart picks up
  a rotated secret.
- `<libexec>/<name>-start`: `exec docker run ...` in the foreground, one line
  built by `docker_run_argv` and quoted by `shell_join`.
- `/etc/systemd/system/<name>.service`: restarts on failure, and stops with a
  timeout above the engine's drain time (Docker's own default is 10 s).

No secret value is ever part of the user data, so the plan shows it in full.
Every rendered script passes shellcheck (tests/test_userdata.py).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

IMDS = "http://169.254.169.254/latest"
LIBEXEC_DIR = "/usr/local/libexec/llmdeploy"
SYSTEMD_DIR = "/etc/systemd/system"
# EC2 rejects user data above 16 KB (before base64).
USER_DATA_LIMIT_BYTES = 16 * 1024
HEREDOC_DELIMITER = "LLMDEPLOY_EOF"
# Seconds `docker stop` waits beyond the engine's own drain before SIGKILL, and
# systemd beyond that before it kills the unit.
DOCKER_STOP_GRACE_SECONDS = 10
SYSTEMD_STOP_GRACE_SECONDS = 30
# Docker's awslogs driver in non-blocking mode holds at most this much of the container's output in
# memory while CloudWatch Logs is slow or unreachable; lines beyond it are dropped. Docker's default
# is 1m; 4m holds minutes of an engine's request log at a few hundred lines a second, and is
# nothing beside a GPU host's memory.
ENGINE_LOG_BUFFER_SIZE = "4m"


def shell_join(argv: Sequence[str]) -> str:
    """One shell command line; every argument quoted only where it needs to be."""
    return shlex.join(argv)


@dataclass(frozen=True)
class SecretEnv:
    """A secret fetched at boot by its Secrets Manager name, given to the container as `variable`."""

    variable: str
    secret_name: str


@dataclass(frozen=True)
class AwsLogs:
    """The container's stdout and stderr to one CloudWatch Logs group, by Docker's awslogs driver.

    Docker's awslogs documentation: with no `awslogs-region`, a daemon on EC2 takes the instance's
    own region, where the stack created the group. No `awslogs-stream`: it takes a fixed string
    only, the same on every instance of a group; Docker's default, the container's id, gives each
    container start its own stream. No `awslogs-create-group`: the stack creates the group, with a
    retention, so the role needs only CreateLogStream and PutLogEvents. `mode=non-blocking`: the
    engine's writes to stdout never wait on CloudWatch (blocking mode, Docker's default, stalls
    the writer when the driver falls behind); the price is that lines beyond the buffer are lost.
    `docker logs` keeps working through Docker's dual logging (its local cache of the output).
    """

    group: str
    max_buffer_size: str = ENGINE_LOG_BUFFER_SIZE


def log_options(logs: AwsLogs) -> list[str]:
    """`docker run` options that send the container's output to CloudWatch Logs."""
    options = {
        "awslogs-group": logs.group,
        "mode": "non-blocking",
        "max-buffer-size": logs.max_buffer_size,
    }
    argv = ["--log-driver", "awslogs"]
    for key, value in options.items():
        argv += ["--log-opt", f"{key}={value}"]
    return argv


@dataclass(frozen=True)
class DockerRun:
    image: str
    # The engine's arguments, after the image.
    arguments: Sequence[str] = ()
    # A Docker runtime by name, e.g. "nvidia" (vLLM's docs run with `--runtime nvidia --gpus all`).
    runtime: str | None = None
    gpus: str | None = "all"
    shm_size: str | None = None
    ipc_host: bool = False
    # (host port, container port), on every interface of the host
    ports: Sequence[tuple[int, int]] = ()
    # (host port, container port), on the host's loopback only: reached by a proxy on the host.
    loopback_ports: Sequence[tuple[int, int]] = ()
    # `--network host`: the container listens on the host's interfaces (a proxy reaching loopback).
    host_network: bool = False
    # (host path, container path)
    volumes: Sequence[tuple[str, str]] = ()
    env_file: str | None = None
    # Plain (non-secret) environment; secrets only ever travel through env_file.
    environment: Mapping[str, str] = field(default_factory=dict)
    container_name: str | None = None
    remove_on_exit: bool = False
    # The container's output to CloudWatch Logs; None: Docker's default driver (json-file, on the host).
    logs: AwsLogs | None = None


def docker_run_argv(run: DockerRun) -> list[str]:
    argv = ["docker", "run"]
    if run.runtime:
        argv += ["--runtime", run.runtime]
    if run.gpus:
        argv += ["--gpus", run.gpus]
    if run.shm_size:
        argv += ["--shm-size", run.shm_size]
    if run.ipc_host:
        argv.append("--ipc=host")
    if run.host_network:
        argv += ["--network", "host"]
    for host_port, container_port in run.ports:
        argv += ["-p", f"{host_port}:{container_port}"]
    for host_port, container_port in run.loopback_ports:
        argv += ["-p", f"127.0.0.1:{host_port}:{container_port}"]
    for host_path, container_path in run.volumes:
        argv += ["-v", f"{host_path}:{container_path}"]
    if run.env_file:
        argv += ["--env-file", run.env_file]
    for key, value in sorted(run.environment.items()):
        argv += ["-e", f"{key}={value}"]
    if run.container_name:
        argv += ["--name", run.container_name]
    if run.remove_on_exit:
        argv.append("--rm")
    if run.logs is not None:
        argv += log_options(run.logs)
    return [*argv, run.image, *run.arguments]


@dataclass(frozen=True)
class ContainerService:
    """One engine container run by systemd on an EC2 instance."""

    # The systemd unit and the container are both named this, e.g. llmdeploy-tgi.
    name: str
    description: str
    run: DockerRun
    # How long the engine drains in-flight requests after SIGTERM.
    drain_seconds: int
    secrets: Sequence[SecretEnv] = ()
    # Host directories the container mounts (created 0755, root-owned).
    host_directories: Sequence[str] = ()
    # systemd's RuntimeDirectory= root (tmpfs); only tests point it elsewhere.
    runtime_root: str = "/run"
    # More scripts (path, content) run before every start, after the secrets (e.g. copying weights from S3).
    pre_start_scripts: Sequence[tuple[str, str]] = ()
    # Configuration files (path, content) the container mounts, written 0644 (never a secret).
    config_files: Sequence[tuple[str, str]] = ()

    @property
    def runtime_directory(self) -> str:
        return f"{self.runtime_root}/{self.name}"

    @property
    def secrets_env_file(self) -> str | None:
        return f"{self.runtime_directory}/secrets.env" if self.secrets else None

    @property
    def fetch_secrets_path(self) -> str:
        return f"{LIBEXEC_DIR}/{self.name}-fetch-secrets"

    @property
    def start_path(self) -> str:
        return f"{LIBEXEC_DIR}/{self.name}-start"

    @property
    def unit_path(self) -> str:
        return f"{SYSTEMD_DIR}/{self.name}.service"

    @property
    def docker_stop_seconds(self) -> int:
        return self.drain_seconds + DOCKER_STOP_GRACE_SECONDS

    @property
    def systemd_stop_seconds(self) -> int:
        return self.docker_stop_seconds + SYSTEMD_STOP_GRACE_SECONDS


def service_docker_argv(service: ContainerService) -> list[str]:
    """The service's `docker run`: named after the unit, removed on exit, secrets from the env file."""
    return docker_run_argv(
        replace(
            service.run,
            env_file=service.secrets_env_file,
            container_name=service.name,
            remove_on_exit=True,
        )
    )


def fetch_secrets_script(service: ContainerService) -> str:
    """Bash: read the service's secrets by name into its root-only env file (tmpfs)."""
    if not service.secrets:
        raise ValueError(f"{service.name}: no secrets to fetch")
    return fetch_secrets_to_env_file(service.name, service.secrets_env_file or "", service.secrets)


def fetch_secrets_to_env_file(
    owner: str, env_file_path: str, secrets: Sequence[SecretEnv], for_systemd: bool = False
) -> str:
    """Bash: read secrets by name into a root-only env file (tmpfs), for Docker or systemd.

    `docker run --env-file` takes each line verbatim; systemd's `EnvironmentFile=` unquotes and
    unescapes, so for systemd each value is single-quoted (kept literally) and may not hold a `'`.
    """
    env_file = shlex.quote(env_file_path)
    reader = "systemd's EnvironmentFile=" if for_systemd else "`docker run --env-file`"
    lines = [
        "#!/bin/bash",
        f"# Fetch {owner}'s secrets from AWS Secrets Manager, by name, into {env_file}",
        f"# (tmpfs, mode 600) for {reader}. Runs before every start of the unit,",
        "# so a restart picks up a rotated secret. Generated by llmdeploy.",
        "set -euo pipefail",
        "umask 077",
        "imds_token=\"$(curl -fsS --retry 5 -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' "
        f'{IMDS}/api/token)"',
        'region="$(curl -fsS --retry 5 -H "X-aws-ec2-metadata-token: ${imds_token}" '
        f'{IMDS}/meta-data/placement/region)"',
        f"env_file={env_file}",
        'tmp="$(mktemp "${env_file}.XXXXXX")"',
        "trap 'rm -f \"${tmp}\"' EXIT",
        "",
        "# fetch_secret VARIABLE SECRET_NAME: append VARIABLE=<value> to the env file.",
        "fetch_secret() {",
        "  local value",
        '  value="$(aws secretsmanager get-secret-value --region "${region}" --secret-id "$2" '
        '--query SecretString --output text)"',
        '  if [[ -z "${value}" || "${value}" == *$\'\\n\'* ]]; then',
        '    echo "secret $2 is empty or spans several lines; docker --env-file needs one line" >&2',
        "    return 1",
        "  fi",
        *(
            [
                '  if [[ "${value}" == *\\\'* ]]; then',
                '    echo "secret $2 holds a single quote; systemd\'s EnvironmentFile= cannot keep it" >&2',
                "    return 1",
                "  fi",
                '  printf "%s=\'%s\'\\n" "$1" "${value}" >> "${tmp}"',
            ]
            if for_systemd
            else ['  printf \'%s=%s\\n\' "$1" "${value}" >> "${tmp}"']
        ),
        "}",
        "",
    ]
    lines += [
        f"fetch_secret {shlex.quote(secret.variable)} {shlex.quote(secret.secret_name)}" for secret in secrets
    ]
    lines += ['mv -f "${tmp}" "${env_file}"', ""]
    return "\n".join(lines)


def start_script(service: ContainerService) -> str:
    """Bash: the engine container in the foreground, for systemd to supervise."""
    return "\n".join(
        [
            "#!/bin/bash",
            f"# Run {service.name} in the foreground for systemd. Generated by llmdeploy.",
            "set -euo pipefail",
            f"exec {shell_join(service_docker_argv(service))}",
            "",
        ]
    )


def systemd_unit(service: ContainerService) -> str:
    pre_start = [f"ExecStartPre=-/usr/bin/docker rm --force {service.name}"]
    if service.secrets:
        pre_start.append(f"ExecStartPre={service.fetch_secrets_path}")
    pre_start += [f"ExecStartPre={path}" for path, _ in service.pre_start_scripts]
    return "\n".join(
        [
            "[Unit]",
            f"Description={service.description}",
            "Wants=network-online.target",
            "After=network-online.target docker.service",
            "Requires=docker.service",
            # Keep retrying while downloads or the hub fail: no start rate limit.
            "StartLimitIntervalSec=0",
            "",
            "[Service]",
            "Type=simple",
            f"RuntimeDirectory={service.name}",
            "RuntimeDirectoryMode=0700",
            *pre_start,
            f"ExecStart={service.start_path}",
            # SIGTERM, then the engine drains for up to drain_seconds.
            f"ExecStop=/usr/bin/docker stop --time {service.docker_stop_seconds} {service.name}",
            f"TimeoutStopSec={service.systemd_stop_seconds}",
            "Restart=on-failure",
            "RestartSec=10",
            "",
            "[Install]",
            "WantedBy=multi-user.target",
            "",
        ]
    )


def write_file(path: str, content: str, mode: str) -> list[str]:
    """Shell lines that write `content` to `path` verbatim (a quoted heredoc) and set its mode."""
    if any(line == HEREDOC_DELIMITER for line in content.splitlines()):
        raise ValueError(f"{path}: content contains the heredoc delimiter {HEREDOC_DELIMITER}")
    quoted = shlex.quote(path)
    # A quoted delimiter: the shell expands nothing inside, so the file is written verbatim.
    return [
        f"cat > {quoted} <<'{HEREDOC_DELIMITER}'",
        content.rstrip("\n"),
        HEREDOC_DELIMITER,
        f"chmod {mode} {quoted}",
    ]


def render_user_data(
    service: ContainerService, extra_steps: Sequence[str] = (), more_services: Sequence[ContainerService] = ()
) -> str:
    """The instance's user data: install the service's files, then start it without waiting.

    `extra_steps`: more shell lines, run after the service is started (e.g. a
    metrics agent); the size limit covers them too. `more_services`: containers beside
    the engine (a reverse proxy), installed and started the same way.
    """
    lines = [
        "#!/bin/bash",
        f"# llmdeploy: {service.description}.",
        "# Holds no secret: secrets are read by name at every start of the unit.",
        "set -euo pipefail",
        "",
    ]
    for each in (service, *more_services):
        lines += service_lines(each)
    if extra_steps:
        lines += [*extra_steps, ""]
    script = "\n".join(lines)
    size = len(script.encode())
    if size > USER_DATA_LIMIT_BYTES:
        raise ValueError(
            f"{service.name}: user data is {size} bytes; EC2 accepts at most {USER_DATA_LIMIT_BYTES}"
        )
    return script


def service_lines(service: ContainerService) -> list[str]:
    """Shell lines that install one service's files and start its unit without waiting."""
    lines: list[str] = []
    for directory in (*service.host_directories, LIBEXEC_DIR):
        lines.append(f"install -d -m 0755 {shlex.quote(directory)}")
    lines.append("")
    if service.secrets:
        lines += write_file(service.fetch_secrets_path, fetch_secrets_script(service), "0700")
        lines.append("")
    for path, content in service.pre_start_scripts:
        lines += [*write_file(path, content, "0700"), ""]
    for path, content in service.config_files:
        lines += [*write_file(path, content, "0644"), ""]
    lines += write_file(service.start_path, start_script(service), "0700")
    lines.append("")
    lines += write_file(service.unit_path, systemd_unit(service), "0644")
    lines += [
        "",
        "systemctl daemon-reload",
        f"systemctl enable {service.name}.service",
        # --no-block: cloud-init's own unit may be ordered before docker.service;
        # waiting for our start job here could deadlock first boot.
        f"systemctl start --no-block {service.name}.service",
        "",
    ]
    return lines
