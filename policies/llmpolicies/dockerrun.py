"""`docker run` command lines, read the way the Docker CLI reads them.

Only the options a policy needs are interpreted (image, entrypoint, command,
IPC, shared memory, network, published ports, environment); every other option
is only skipped correctly, which needs to know whether it takes a value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from llmpolicies.shell import Command, Word

# `docker run --help` (Docker 27): options that take a value. Anything else is a flag.
# fmt: off
_VALUE_OPTIONS = frozenset((
    "--add-host", "--annotation", "--attach", "--blkio-weight", "--blkio-weight-device", "--cap-add",
    "--cap-drop", "--cgroup-parent", "--cgroupns", "--cidfile", "--cpu-count", "--cpu-percent",
    "--cpu-period", "--cpu-quota", "--cpu-rt-period", "--cpu-rt-runtime", "--cpu-shares", "--cpus",
    "--cpuset-cpus", "--cpuset-mems", "--device", "--device-cgroup-rule", "--device-read-bps",
    "--device-read-iops", "--device-write-bps", "--device-write-iops", "--detach-keys", "--dns",
    "--dns-opt", "--dns-option", "--dns-search", "--domainname", "--entrypoint", "--env", "--env-file",
    "--expose", "--gpus", "--group-add", "--health-cmd", "--health-interval", "--health-retries",
    "--health-start-interval", "--health-start-period", "--health-timeout", "--hostname",
    "--io-maxbandwidth", "--io-maxiops", "--ip", "--ip6", "--ipc", "--isolation", "--kernel-memory",
    "--label", "--label-file", "--link", "--link-local-ip", "--log-driver", "--log-opt", "--mac-address",
    "--memory", "--memory-reservation", "--memory-swap", "--memory-swappiness", "--mount", "--name",
    "--net", "--net-alias", "--network", "--network-alias", "--oom-score-adj", "--pid", "--pids-limit",
    "--platform", "--publish", "--pull", "--restart", "--runtime", "--security-opt", "--shm-size",
    "--stop-signal", "--stop-timeout", "--storage-opt", "--sysctl", "--tmpfs", "--ulimit", "--user",
    "--userns", "--uts", "--volume", "--volume-driver", "--volumes-from", "--workdir",
))
# fmt: on
_SHORT_VALUE = {
    "a": "--attach",
    "c": "--cpu-shares",
    "e": "--env",
    "h": "--hostname",
    "l": "--label",
    "m": "--memory",
    "p": "--publish",
    "u": "--user",
    "v": "--volume",
    "w": "--workdir",
}
_SHORT_FLAGS = {"d": "--detach", "i": "--interactive", "t": "--tty", "P": "--publish-all", "q": "--quiet"}
# The Docker CLI's own options before the subcommand (`docker -H host run ...`).
_GLOBAL_VALUE_OPTIONS = frozenset(
    {
        "-H",
        "--host",
        "-c",
        "--context",
        "--config",
        "-l",
        "--log-level",
        "--tlscacert",
        "--tlscert",
        "--tlskey",
    }
)
_CLIENTS = frozenset({"docker", "podman", "nvidia-docker", "nerdctl"})
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmgtp])?i?b?$", re.IGNORECASE)
_UNITS = {None: 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4, "p": 1024**5}


@dataclass(frozen=True)
class Publish:
    """One `-p` mapping. host_port None: Docker picks a free port."""

    host_ip: str
    host_port: int | None
    container_port: int
    protocol: str = "tcp"


@dataclass(frozen=True)
class EnvSetting:
    name: str
    # None: passed through from the environment `docker` runs in (`-e NAME`).
    value: str | None
    dynamic: bool = False
    source: str = "-e"


@dataclass
class DockerRun:
    origin: str
    image: Word | None = None
    entrypoint: str | None = None
    command: list[Word] = field(default_factory=list)
    ipc: str | None = None
    shm_size: str | None = None
    network: str | None = None
    publish: list[Publish] = field(default_factory=list)
    publish_all: bool = False
    env: list[EnvSetting] = field(default_factory=list)
    env_files: list[str] = field(default_factory=list)
    unreadable_ports: list[str] = field(default_factory=list)

    @property
    def shm_bytes(self) -> int | None:
        return parse_size(self.shm_size) if self.shm_size is not None else None


def parse_size(text: str) -> int | None:
    """Docker's RAMInBytes: `1g`, `1gb`, `512m`, `1073741824` (no unit: bytes); None if unreadable."""
    match = _SIZE.match(text.strip())
    if not match:
        return None
    unit = match.group(2).lower() if match.group(2) else None
    return int(float(match.group(1)) * _UNITS[unit])


def _port_range(text: str) -> list[int]:
    if "-" in text:
        low, high = text.split("-", 1)
        return list(range(int(low), int(high) + 1))
    return [int(text)]


def parse_publish(spec: str) -> list[Publish]:
    """`-p [ip:][hostPort:]containerPort[/proto]`, ranges included. Raises ValueError if unreadable."""
    spec, _, protocol = spec.partition("/")
    host_ip = "0.0.0.0"
    if spec.startswith("["):
        end = spec.index("]")
        host_ip, spec = spec[1:end], spec[end + 2 :]
    parts = spec.split(":")
    if len(parts) == 3:
        host_ip, host, container = parts
    elif len(parts) == 2:
        host, container = parts
    elif len(parts) == 1:
        host, container = "", parts[0]
    else:
        raise ValueError(spec)
    containers = _port_range(container)
    hosts: list[int | None] = list(_port_range(host)) if host else [None] * len(containers)
    if len(hosts) != len(containers):
        hosts = [hosts[0]] * len(containers) if len(hosts) == 1 else [None] * len(containers)
    return [
        Publish(host_ip or "0.0.0.0", host_port, container_port, protocol or "tcp")
        for host_port, container_port in zip(hosts, containers, strict=True)
    ]


def _apply(run: DockerRun, option: str, value: Word | None) -> None:
    text = value.text if value is not None else ""
    if option == "--ipc":
        run.ipc = text
    elif option == "--shm-size":
        run.shm_size = text
    elif option in ("--network", "--net"):
        run.network = text
    elif option == "--entrypoint":
        run.entrypoint = text
    elif option == "--publish-all":
        run.publish_all = True
    elif option == "--publish":
        try:
            run.publish.extend(parse_publish(text))
        except (ValueError, IndexError):
            run.unreadable_ports.append(text)
    elif option == "--env" and value is not None:
        name, has_value, env_value = text.partition("=")
        run.env.append(EnvSetting(name, env_value if has_value else None, value.dynamic))
    elif option == "--env-file":
        run.env_files.append(text)


def parse_docker_run(args: list[Word], origin: str) -> DockerRun:
    """The words after `docker run`: options, then the image, then the command."""
    run = DockerRun(origin)
    i = 0
    while i < len(args):
        text = args[i].text
        if text == "--":
            i += 1
            break
        if text.startswith("--"):
            name, has_value, inline = text.partition("=")
            if name in _VALUE_OPTIONS and not has_value:
                _apply(run, name, args[i + 1] if i + 1 < len(args) else None)
                i += 2
            else:
                _apply(run, name, Word(inline, args[i].dynamic) if has_value else None)
                i += 1
            continue
        if text.startswith("-") and len(text) > 1:
            # Clustered short options: `-it`, `-dp 80:80`, `-eKEY=value`.
            j = 1
            i += 1
            while j < len(text):
                letter = text[j]
                if letter in _SHORT_VALUE:
                    rest = text[j + 1 :]
                    if rest:
                        value: Word | None = Word(rest, args[i - 1].dynamic)
                    else:
                        value = args[i] if i < len(args) else None
                        i += 1
                    _apply(run, _SHORT_VALUE[letter], value)
                    break
                _apply(run, _SHORT_FLAGS.get(letter, f"-{letter}"), None)
                j += 1
            continue
        break
    if i < len(args):
        run.image = args[i]
        run.command = list(args[i + 1 :])
    return run


def docker_run_args(command: Command) -> list[Word] | None:
    """The arguments after `run` (or `create`) if this command starts a container, else None."""
    words = list(command.words)
    if not words or words[0].text.rsplit("/", 1)[-1] not in _CLIENTS:
        return None
    i = 1
    while i < len(words) and words[i].text.startswith("-"):
        i += 2 if words[i].text in _GLOBAL_VALUE_OPTIONS else 1
    if i < len(words) and words[i].text == "container":
        i += 1
    if i < len(words) and words[i].text in ("run", "create"):
        return words[i + 1 :]
    return None


def find_docker_runs(commands: list[Command]) -> list[DockerRun]:
    runs = []
    for command in commands:
        args = docker_run_args(command)
        if args is not None:
            runs.append(parse_docker_run(args, command.origin))
    return runs


def parse_env_file(content: str, expands: bool) -> list[EnvSetting]:
    """Docker's env-file format: NAME=VALUE lines (quotes kept), `#` comments, NAME alone passed through."""
    settings = []
    for raw in content.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, has_value, value = line.partition("=")
        dynamic = expands and ("$" in value or "`" in value)
        settings.append(EnvSetting(name.strip(), value if has_value else None, dynamic, "--env-file"))
    return settings
