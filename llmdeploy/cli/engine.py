"""The offline engine: llmdeploy plays Pulumi's engine for a program running in its own process.

This process serves Pulumi's `ResourceMonitor` and `Engine` gRPC services on
loopback and starts the program the way the Python language host does
(`program_host.py`, with the monitor and engine addresses, project, stack,
config, secret keys and dry run). Every `RegisterResource` is recorded here, in
the parent: the program cannot reach this memory, so whatever it does (exit
early with any code, raise, print, fork, patch modules, sleep) this side
decides what was registered and how the run ended. Its stdout and stderr are
kept as log lines, never passed to the command's output; a wall-clock limit
ends it and its whole process group.

Preview semantics, as the engine has them: new resources echo their inputs as
outputs, with an empty id (unknown in preview); what a provider computes stays
the unknown sentinel; secrets travel wrapped. Invokes are answered offline
(plan_invokes.py) through a `pulumi.runtime.mocks.Mocks` (tests pass test
doubles of the provider this way).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import grpc
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime import mocks
from pulumi.runtime.proto import engine_pb2, engine_pb2_grpc, provider_pb2, resource_pb2, resource_pb2_grpc

from llmdeploy.cli import wire

STACK_TYPE = "pulumi:pulumi:Stack"
PROGRAM_HOST = Path(__file__).resolve().with_name("program_host.py")
LLMDEPLOY_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TIMEOUT_SECONDS = 300.0
# The exit code and log prefix program_host.py uses, as the language host does.
EXIT_REPORTED = 32
UNHANDLED = "Program failed with an unhandled exception:"
# After the program's process group is killed, how long to wait for its pipes to close (only a
# process that left the group can hold them open longer; what it writes after is not heard).
_DRAIN_SECONDS = 2.0
_GRPC_OPTIONS = [("grpc.max_receive_message_length", 400 * 1024 * 1024)]

# Monitor features, as the engine reports them. outputValues is left off, as in the SDK's own
# mock monitor, so recorded inputs carry plain values where the program passed known outputs.
SUPPORTED_FEATURES = {
    "secrets": resource_pb2.RESOURCE_MONITOR_FEATURE_SECRETS,
    "resourceReferences": resource_pb2.RESOURCE_MONITOR_FEATURE_RESOURCE_REFERENCES,
    "aliasSpecs": resource_pb2.RESOURCE_MONITOR_FEATURE_ALIAS_SPECS,
    "replacementTrigger": resource_pb2.RESOURCE_MONITOR_FEATURE_REPLACEMENT_TRIGGER,
    "deletedWith": resource_pb2.RESOURCE_MONITOR_FEATURE_DELETED_WITH,
    "replaceWith": resource_pb2.RESOURCE_MONITOR_FEATURE_REPLACE_WITH,
    "transforms": resource_pb2.RESOURCE_MONITOR_FEATURE_TRANSFORMS,
    "invokeTransforms": resource_pb2.RESOURCE_MONITOR_FEATURE_INVOKE_TRANSFORMS,
    "parameterization": resource_pb2.RESOURCE_MONITOR_FEATURE_PARAMETERIZATION,
    "resourceHooks": resource_pb2.RESOURCE_MONITOR_FEATURE_RESOURCE_HOOKS,
    "errorHooks": resource_pb2.RESOURCE_MONITOR_FEATURE_ERROR_HOOKS,
}


@dataclass
class RecordedResource:
    """One `RegisterResource` request, as the engine received it."""

    urn: str
    type: str
    name: str
    parent: str
    custom: bool
    inputs: struct_pb2.Struct
    dependencies: list[str]
    property_dependencies: dict[str, list[str]]
    provider: str


@dataclass
class ProgramEnding:
    """How the program's process ended, as this side saw it."""

    # "completed": ran to its end; "refused": stopped itself with pulumi.RunError; "failed": raised,
    # exited early or with a non-zero code, or was killed; "timeout": ran past the wall-clock limit.
    status: str
    message: str = ""
    exit_code: int | None = None


@dataclass
class ProgramRun:
    project: str
    stack: str
    resources: list[RecordedResource]
    outputs: struct_pb2.Struct
    stack_urn: str
    # The engine log at warning and above, as (severity, message).
    log: list[tuple[str, str]] = field(default_factory=list)
    # What the program wrote to its stdout and stderr, line by line.
    output: list[str] = field(default_factory=list)
    ending: ProgramEnding = field(default_factory=lambda: ProgramEnding("completed"))


def _qualified_type(urn: str) -> str:
    return urn.split("::")[2]


class MonitorService(resource_pb2_grpc.ResourceMonitorServicer):
    """The engine's resource monitor in preview, recording every registration."""

    def __init__(self, project: str, stack: str, mock: mocks.Mocks) -> None:
        self.project = project
        self.stack = stack
        self.mock = mock
        self.lock = threading.Lock()
        self.recorded: list[RecordedResource] = []
        self.states: dict[str, tuple[str, dict[str, Any]]] = {}
        self.stack_urn = ""
        self.stack_outputs = struct_pb2.Struct()
        self.stack_completed = False

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        # As the engine builds it: the parent's qualified type, then ours; the root stack is left out.
        if parent and _qualified_type(parent) != STACK_TYPE:
            type_ = f"{_qualified_type(parent)}${type_}"
        return f"urn:pulumi:{self.stack}::{self.project}::{type_}::{name}"

    def GetDeploymentInfo(self, request: Any, context: Any) -> Any:  # noqa: N802 - gRPC name
        return resource_pb2.DeploymentInfo(supportedFeatures=sorted(SUPPORTED_FEATURES.values()))

    def SupportsFeature(self, request: Any, context: Any) -> Any:  # noqa: N802
        return resource_pb2.SupportsFeatureResponse(hasSupport=request.id in SUPPORTED_FEATURES)

    def Invoke(self, request: Any, context: Any) -> Any:  # noqa: N802
        args = wire.decode_struct(request.args)
        if request.tok == "pulumi:pulumi:getResource":
            with self.lock:
                found = self.states.get(str(args.get("urn")))
            if found is None:
                failure = provider_pb2.CheckFailure(
                    property="urn", reason=f"unknown resource {args.get('urn')}"
                )
                return resource_pb2.ResourceInvokeResponse(failures=[failure])
            resource_id, state = found
            answer: dict[str, Any] = {"urn": args["urn"], "id": resource_id, "state": state}
            return resource_pb2.ResourceInvokeResponse(**{"return": wire.encode_struct(answer)})
        result = self.mock.call(mocks.MockCallArgs(token=request.tok, args=args, provider=request.provider))
        values, failures = (result, None) if isinstance(result, dict) else result
        checks = [provider_pb2.CheckFailure(property=prop, reason=reason) for prop, reason in failures or []]
        return resource_pb2.ResourceInvokeResponse(failures=checks, **{"return": wire.encode_struct(values)})

    def Call(self, request: Any, context: Any) -> Any:  # noqa: N802
        # Component methods run in the provider that hosts the component; no provider runs offline.
        return provider_pb2.CallResponse(**{"return": struct_pb2.Struct()})

    def ReadResource(self, request: Any, context: Any) -> Any:  # noqa: N802
        urn = self.make_urn(request.parent, request.type, request.name)
        inputs = wire.decode_struct(request.properties)
        args = mocks.MockResourceArgs(
            typ=request.type,
            name=request.name,
            inputs=inputs,
            provider=request.provider,
            resource_id=request.id,
        )
        _, state = self.mock.new_resource(args)
        with self.lock:
            self.states[urn] = (request.id, state)
        return resource_pb2.ReadResourceResponse(urn=urn, properties=wire.encode_struct(state))

    def ExistsResource(self, request: Any, context: Any) -> Any:  # noqa: N802
        with self.lock:
            exists = any(resource_id == request.id for resource_id, _ in self.states.values())
        return resource_pb2.ExistsResourceResponse(exists=exists)

    def RegisterResource(self, request: Any, context: Any) -> Any:  # noqa: N802
        urn = self.make_urn(request.parent, request.type, request.name)
        if request.type == STACK_TYPE:
            with self.lock:
                self.stack_urn = urn
            return resource_pb2.RegisterResourceResponse(urn=urn)
        inputs = wire.decode_struct(request.object)
        args = mocks.MockResourceArgs(
            typ=request.type,
            name=request.name,
            inputs=inputs,
            provider=request.provider,
            resource_id=request.importId,
            custom=request.custom,
        )
        resource_id, state = self.mock.new_resource(args)
        recorded_inputs = struct_pb2.Struct()
        recorded_inputs.CopyFrom(request.object)
        with self.lock:
            self.states[urn] = (resource_id or "", state)
            self.recorded.append(
                RecordedResource(
                    urn=urn,
                    type=request.type,
                    name=request.name,
                    parent=request.parent,
                    custom=bool(request.custom),
                    inputs=recorded_inputs,
                    dependencies=list(request.dependencies),
                    property_dependencies={
                        key: list(deps.urns) for key, deps in request.propertyDependencies.items()
                    },
                    provider=request.provider,
                )
            )
        return resource_pb2.RegisterResourceResponse(
            urn=urn, id=resource_id or "", object=wire.encode_struct(state)
        )

    def RegisterResourceOutputs(self, request: Any, context: Any) -> Any:  # noqa: N802
        with self.lock:
            if request.urn and request.urn == self.stack_urn:
                self.stack_outputs = struct_pb2.Struct()
                self.stack_outputs.CopyFrom(request.outputs)
        return empty_pb2.Empty()

    def RegisterStackTransform(self, request: Any, context: Any) -> Any:  # noqa: N802
        return empty_pb2.Empty()

    def RegisterStackInvokeTransform(self, request: Any, context: Any) -> Any:  # noqa: N802
        return empty_pb2.Empty()

    def RegisterResourceHook(self, request: Any, context: Any) -> Any:  # noqa: N802
        return empty_pb2.Empty()

    def RegisterErrorHook(self, request: Any, context: Any) -> Any:  # noqa: N802
        return empty_pb2.Empty()

    def RegisterPackage(self, request: Any, context: Any) -> Any:  # noqa: N802
        return resource_pb2.RegisterPackageResponse(ref=f"offline-package:{request.name}@{request.version}")

    def SignalAndWaitForShutdown(self, request: Any, context: Any) -> Any:  # noqa: N802
        # The SDK sends this once the program's function returned and every RPC and output settled:
        # the engine's sign that the program ran to its end (an exit before it is an early exit).
        with self.lock:
            self.stack_completed = True
        return empty_pb2.Empty()


class EngineService(engine_pb2_grpc.EngineServicer):
    """The engine's own service: the log and the root resource."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.log: list[tuple[str, str]] = []
        self.root = ""

    def Log(self, request: Any, context: Any) -> Any:  # noqa: N802
        severity = engine_pb2.LogSeverity.Name(request.severity).lower()
        with self.lock:
            self.log.append((severity, request.message))
        return empty_pb2.Empty()

    def GetRootResource(self, request: Any, context: Any) -> Any:  # noqa: N802
        with self.lock:
            return engine_pb2.GetRootResourceResponse(urn=self.root)

    def SetRootResource(self, request: Any, context: Any) -> Any:  # noqa: N802
        with self.lock:
            self.root = request.urn
        return engine_pb2.SetRootResourceResponse()


def _collect(stream: IO[bytes], lines: list[str], lock: threading.Lock) -> None:
    for raw in iter(stream.readline, b""):
        with lock:
            lines.append(raw.decode(errors="replace").rstrip("\n"))


def wait_for_exit(process: subprocess.Popen[bytes], timeout: float) -> int | None:
    """The exit code, or None when `timeout` passes first.

    A pidfd wakes this the moment the process exits; `Popen.wait(timeout)` polls, by then every
    50 ms, so a plan would wait a further 25 ms on average for nothing.
    """
    try:
        pidfd = os.pidfd_open(process.pid)
    except (AttributeError, OSError):  # not Linux 5.3+: poll
        try:
            return process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
    try:
        readable, _, _ = select.select([pidfd], [], [], timeout)
    finally:
        os.close(pidfd)
    return process.wait() if readable else process.poll()


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def _ending(
    exit_code: int | None, timed_out: bool, timeout: float, completed: bool, log: list[tuple[str, str]]
) -> ProgramEnding:
    errors = [message for severity, message in log if severity == "error"]
    if timed_out:
        return ProgramEnding("timeout", f"the program did not finish within {timeout:g} s (--timeout)", None)
    if exit_code == 0 and completed:
        return ProgramEnding("completed", "", 0)
    if exit_code == EXIT_REPORTED and errors:
        crash = next((m for m in errors if m.startswith(UNHANDLED)), None)
        if crash is None:
            return ProgramEnding("refused", "\n".join(errors), exit_code)
        lines = [line for line in crash[len(UNHANDLED) :].strip().splitlines() if line.strip()]
        return ProgramEnding("failed", lines[-1] if lines else "unhandled exception", exit_code)
    if exit_code is not None and exit_code < 0:
        return ProgramEnding("failed", f"the program was killed by signal {-exit_code}", exit_code)
    return ProgramEnding("failed", f"the program exited with code {exit_code} before it finished", exit_code)


def run_offline(
    entry: Path,
    program_dir: Path,
    *,
    project: str,
    stack: str,
    config: Mapping[str, str],
    secret_keys: list[str],
    mock: mocks.Mocks,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> ProgramRun:
    """Run the program at `entry` in its own process against this process's monitor and engine."""
    monitor = MonitorService(project, stack, mock)
    engine = EngineService()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8), options=_GRPC_OPTIONS)
    resource_pb2_grpc.add_ResourceMonitorServicer_to_server(monitor, server)
    engine_pb2_grpc.add_EngineServicer_to_server(engine, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    address = f"127.0.0.1:{port}"

    env = {key: value for key, value in os.environ.items() if not key.startswith("PULUMI_")}
    env.update(
        {
            "PULUMI_MONITOR": address,
            "PULUMI_ENGINE": address,
            "PULUMI_PROJECT": project,
            "PULUMI_STACK": stack,
            "PULUMI_ORGANIZATION": "organization",
            "PULUMI_DRY_RUN": "true",
            "PULUMI_PARALLEL": "48",
            "PULUMI_ROOT_DIRECTORY": str(program_dir),
            "PULUMI_CONFIG": json.dumps(dict(config)),
            "PULUMI_CONFIG_SECRET_KEYS": json.dumps(secret_keys),
            "PYTHONUNBUFFERED": "1",
            # After the program's own directory: the llmdeploy that runs it, as when it ran in-process
            # (a checkout's program imports its llmdeploy.core, whatever editable install the venv has).
            "PYTHONPATH": os.pathsep.join(
                [str(LLMDEPLOY_ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
            ),
        }
    )
    command = [
        sys.executable,
        "-u",
        # No script directory on sys.path: the program sees its own directory, not llmdeploy's modules.
        "-P",
        str(PROGRAM_HOST),
        f"--monitor={address}",
        f"--engine={address}",
        f"--project={project}",
        f"--stack={stack}",
        f"--pwd={program_dir}",
        "--dry_run=true",
        "--parallel=48",
        "--organization=organization",
        f"--root_directory={program_dir}",
        str(entry),
    ]
    output: list[str] = []
    output_lock = threading.Lock()
    # Its own session and process group: the limit, or its end, takes every process it started.
    process = subprocess.Popen(
        command,
        cwd=program_dir,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    readers = [
        threading.Thread(target=_collect, args=(stream, output, output_lock), daemon=True)
        for stream in (process.stdout, process.stderr)
        if stream is not None
    ]
    for reader in readers:
        reader.start()
    exit_code: int | None = None
    try:
        exit_code = wait_for_exit(process, timeout)
    finally:
        timed_out = exit_code is None
        _kill_group(process)
        if exit_code is None:
            process.wait()
    deadline = time.monotonic() + _DRAIN_SECONDS
    for reader in readers:
        reader.join(max(0.0, deadline - time.monotonic()))
    # Whatever still calls in (a process that left the group) is no longer heard.
    server.stop(grace=None)
    with monitor.lock:
        resources = list(monitor.recorded)
        outputs = struct_pb2.Struct()
        outputs.CopyFrom(monitor.stack_outputs)
        completed, stack_urn = monitor.stack_completed, monitor.stack_urn
    with engine.lock:
        log = list(engine.log)
    with output_lock:
        lines = list(output)
    ending = _ending(exit_code, timed_out, timeout, completed, log)
    # The errors that say how it ended are the ending's message, not log lines as well.
    shown = [
        (severity, message)
        for severity, message in log
        if severity == "warning"
        or (severity == "error" and ending.status != "refused" and not message.startswith(UNHANDLED))
    ]
    return ProgramRun(
        project=project,
        stack=stack,
        resources=resources,
        outputs=outputs,
        stack_urn=stack_urn,
        log=shown,
        output=lines,
        ending=ending,
    )
