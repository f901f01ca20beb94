"""Run any Pulumi Python program offline, under the SDK's own mock monitor.

This is the engine behind `llmdeploy plan` and `llmdeploy check`: no Pulumi CLI,
no Docker, no cloud credentials, no network. The program runs exactly as the
Python language host runs it (`run_in_stack` over its `__main__.py`), in preview
mode, against a `MockMonitor` that records every `RegisterResource` request as
the engine would receive it: the provider's own (camelCase) property names,
secrets still wrapped, unknowns still unknown.

Config comes from the program's `Pulumi.yaml` (project defaults) and
`Pulumi.<stack>.yaml`. `secure:` values are never decrypted: a masked stand-in,
marked secret, takes their place.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import runpy
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from google.protobuf import struct_pb2
from pulumi.runtime import config as runtime_config
from pulumi.runtime import mocks, rpc, settings
from pulumi.runtime.stack import run_in_stack

# Stack files are read in one place; re-exported for the runner's callers.
from llmdeploy.cli.stackfile import (  # noqa: F401
    SECRET_STAND_IN,
    ProgramConfig,
    StackFileError,
    read_project,
    read_stack_config,
)

_SECRET_SIG = rpc._special_secret_sig
_SIG_KEY = rpc._special_sig_key
_RESOURCE_SIG = rpc._special_resource_sig
_ASSET_SIG = rpc._special_asset_sig
_ARCHIVE_SIG = rpc._special_archive_sig
_OUTPUT_SIG = rpc._special_output_value_sig

STACK_TYPE = "pulumi:pulumi:Stack"


class ProgramError(Exception):
    """The program could not be loaded or crashed while running (plan exits 2)."""


class ProgramRefused(Exception):
    """The program stopped itself with `pulumi.RunError`, e.g. bad settings (plan exits 1)."""


@dataclass
class RecordedResource:
    """One `RegisterResource` request, as the engine would have received it."""

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
class ProgramRun:
    project: str
    stack: str
    resources: list[RecordedResource]
    outputs: struct_pb2.Struct
    stack_urn: str
    log: list[tuple[str, str]] = field(default_factory=list)


def describe_resource_count(declared: int) -> str:
    """How every command counts a stack's resources: as `pulumi preview` does, the stack included.

    `declared` is what the program registers (the plan's list); the root `pulumi:pulumi:Stack`
    resource is the one more that Pulumi creates and the policy pack analyzes.
    """
    return f"{declared + 1} resources (the stack and the {declared} it declares)"


def _is_secret(value: struct_pb2.Value) -> bool:
    return (
        value.WhichOneof("kind") == "struct_value"
        and _SIG_KEY in value.struct_value.fields
        and value.struct_value.fields[_SIG_KEY].string_value == _SECRET_SIG
    )


class _RecordingMonitor(mocks.MockMonitor):
    """The SDK's MockMonitor, keeping each request as the engine would see it."""

    def __init__(self, mock: mocks.Mocks) -> None:
        super().__init__(mock)
        self.recorded: list[RecordedResource] = []
        self.stack_outputs = struct_pb2.Struct()
        self.stack_urn = ""

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        # The engine leaves the root stack out of its children's qualified types
        # (`urn:pulumi:dev::proj::aws:s3/bucket:Bucket::b`); the mock would not.
        if parent and parent.split("::")[2] == STACK_TYPE:
            parent = ""
        return super().make_urn(parent, type_, name)

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        response = super().RegisterResource(request)
        if request.type == STACK_TYPE:
            self.stack_urn = response.urn
            return response
        inputs = struct_pb2.Struct()
        inputs.CopyFrom(request.object)
        self.recorded.append(
            RecordedResource(
                urn=response.urn,
                type=request.type,
                name=request.name,
                parent=request.parent,
                custom=bool(request.custom),
                inputs=inputs,
                dependencies=list(request.dependencies),
                property_dependencies={
                    key: list(deps.urns) for key, deps in request.propertyDependencies.items()
                },
                provider=request.provider,
            )
        )
        return response

    def RegisterResourceOutputs(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        if request.urn == self.stack_urn:
            self.stack_outputs = struct_pb2.Struct()
            self.stack_outputs.CopyFrom(request.outputs)
        return super().RegisterResourceOutputs(request)


class OfflineMocks(mocks.Mocks):
    """What a provider would answer during preview, for any program.

    New resources echo their inputs; everything a provider computes (ids, ARNs,
    addresses) stays unknown, as it is in a real preview. Invokes answer with
    clearly marked placeholders, since nothing can be looked up offline.
    """

    def new_resource(self, args: mocks.MockResourceArgs) -> tuple[str | None, dict]:
        return "", dict(args.inputs)

    def call(self, args: mocks.MockCallArgs) -> tuple[dict, list[tuple[str, str]] | None]:
        from llmdeploy.cli.plan_invokes import answer_invoke

        # The SDK's MockMonitor iterates the failures: an empty list, not None.
        return answer_invoke(args.token, args.args), []


class _LogCollector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.WARNING:
            self.records.append((record.levelname.lower(), record.getMessage()))


@contextmanager
def _program_on_path(program_dir: Path) -> Iterator[None]:
    # The language host runs the program with its directory first on sys.path
    # and as the working directory; do the same, and put both back after.
    saved_path, saved_cwd = list(sys.path), os.getcwd()
    sys.path.insert(0, str(program_dir))
    os.chdir(program_dir)
    try:
        yield
    finally:
        sys.path[:] = saved_path
        os.chdir(saved_cwd)


def _program_entry(program_dir: Path, project: Mapping[str, Any]) -> Path:
    main = project.get("main")
    entry = program_dir / main if main else program_dir
    if entry.is_dir():
        entry = entry / "__main__.py"
    if not entry.is_file():
        raise ProgramError(f"{program_dir}: no program entry point ({entry} not found)")
    return entry


def _run_entry(entry: Path) -> None:
    runpy.run_path(str(entry), run_name="__main__")


def run_program(
    program_dir: str | os.PathLike[str],
    stack: str,
    *,
    config: Mapping[str, str] | None = None,
    secret_keys: list[str] | None = None,
    mock: mocks.Mocks | None = None,
) -> ProgramRun:
    """Run the program at `program_dir` for `stack` under the mock monitor.

    `config` and `secret_keys` are added to (and override) the stack file's, the
    way the CLI passes decrypted `secure:` values to a real run: tests use them
    to feed a canary secret through the exact path a real secret takes.
    """
    program_path = Path(program_dir).resolve()
    project = read_project(program_path)
    entry = _program_entry(program_path, project)
    stack_config = read_stack_config(program_path, project, stack)
    values = {**stack_config.values, **(config or {})}
    secrets = sorted({*stack_config.secret_keys, *(secret_keys or [])})

    monitor = _RecordingMonitor(mock or OfflineMocks())
    collector = _LogCollector()
    logger = logging.getLogger(f"llmdeploy.offline.{id(monitor)}")
    logger.propagate = False
    logger.addHandler(collector)

    def run() -> None:
        settings.configure(
            mocks.MockSettings(
                monitor=monitor,
                monitor_features=set(monitor.GetDeploymentInfo(None).supportedFeatures),
                engine=mocks.MockEngine(logger),
                project=str(project["name"]),
                stack=stack,
                dry_run=True,
                organization="organization",
                callbacks=None,
            )
        )
        settings.ROOT.set(None)
        runtime_config.set_all_config(values, secrets)
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            with _program_on_path(program_path):
                loop.run_until_complete(run_in_stack(lambda: _run_entry(entry)))
        finally:
            for task in asyncio.all_tasks(loop):
                task.cancel()
            loop.run_until_complete(asyncio.sleep(0))
            loop.close()
            asyncio.set_event_loop(None)

    try:
        contextvars.copy_context().run(run)
    except pulumi.RunError as exc:
        raise ProgramRefused(str(exc)) from None
    except ProgramError:
        raise
    except Exception as exc:
        raise ProgramError(f"{type(exc).__name__}: {exc}") from exc
    return ProgramRun(
        project=str(project["name"]),
        stack=stack,
        resources=monitor.recorded,
        outputs=monitor.stack_outputs,
        stack_urn=monitor.stack_urn,
        log=collector.records,
    )


# ---------------------------------------------------------------------------
# Turning recorded protobuf values into plain, masked data for people and diffs.

SECRET_MARK = "[secret]"
COMPUTED_MARK = "[computed]"
DYNAMIC_PROVIDER_MARK = "[dynamic provider]"


def plain_value(value: struct_pb2.Value) -> Any:
    """A recorded value as plain data: secrets masked, unknowns marked."""
    kind = value.WhichOneof("kind")
    if kind == "null_value" or kind is None:
        return None
    if kind == "bool_value":
        return value.bool_value
    if kind == "number_value":
        number = value.number_value
        return int(number) if number.is_integer() else number
    if kind == "string_value":
        return COMPUTED_MARK if value.string_value == rpc.UNKNOWN else value.string_value
    if kind == "list_value":
        return [plain_value(item) for item in value.list_value.values]
    fields = value.struct_value.fields
    signature = fields[_SIG_KEY].string_value if _SIG_KEY in fields else None
    if signature == _SECRET_SIG:
        return SECRET_MARK
    if signature == _RESOURCE_SIG:
        return fields["urn"].string_value
    if signature in (_ASSET_SIG, _ARCHIVE_SIG):
        for key in ("path", "uri", "text"):
            if key in fields:
                return f"<{'asset' if signature == _ASSET_SIG else 'archive'} {key}>"
        return "<archive>"
    if signature == _OUTPUT_SIG:
        if fields.get("secret") and fields["secret"].bool_value:
            return SECRET_MARK
        return plain_value(fields["value"]) if "value" in fields else COMPUTED_MARK
    return plain_struct(value.struct_value)


def plain_struct(struct: struct_pb2.Struct) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key in sorted(struct.fields):
        if key == "__provider":
            # A dynamic resource carries its pickled provider; it is code, not config.
            result[key] = DYNAMIC_PROVIDER_MARK
            continue
        result[key] = plain_value(struct.fields[key])
    return result


def is_secret_value(value: struct_pb2.Value) -> bool:
    return _is_secret(value)
