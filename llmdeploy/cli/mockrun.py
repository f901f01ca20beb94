"""Run any Pulumi Python program offline: the program in its own process, llmdeploy as its engine.

This is the one runner behind `llmdeploy plan` and `llmdeploy check`: no Pulumi
CLI, no Docker, no cloud credentials, no network. `engine.py` serves the
resource monitor and engine on loopback and starts the program as the Python
language host does; every `RegisterResource` request is recorded in this
process as the engine receives it: the provider's own (camelCase) property
names, secrets still wrapped, unknowns still unknown.

Config comes from the program's `Pulumi.yaml` (project defaults) and
`Pulumi.<stack>.yaml`. `secure:` values are never decrypted: a masked stand-in,
marked secret, takes their place.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from google.protobuf import struct_pb2
from pulumi.runtime import mocks

from llmdeploy.cli import wire
from llmdeploy.cli.engine import (
    DEFAULT_TIMEOUT_SECONDS,
    STACK_TYPE,
    ProgramEnding,
    ProgramRun,
    RecordedResource,
    run_offline,
)
from llmdeploy.cli.masking import MASKER, SECRET_MARK

# Stack files are read in one place (strict YAML, one line per problem); re-exported for the
# runner's callers.
from llmdeploy.cli.stackfile import (  # noqa: F401
    SECRET_STAND_IN,
    ProgramConfig,
    StackFileError,
    read_project,
    read_stack_config,
)

__all__ = ["STACK_TYPE", "ProgramEnding", "ProgramRun", "RecordedResource"]


class ProgramError(Exception):
    """The program could not be loaded, or did not run to its end (plan exits 2)."""

    def __init__(self, message: str, run: ProgramRun | None = None) -> None:
        super().__init__(message)
        self.run = run  # what it registered before it ended, when it ran at all


class ProgramRefused(Exception):
    """The program stopped itself with `pulumi.RunError`, e.g. bad settings (plan exits 1)."""

    def __init__(self, message: str, run: ProgramRun | None = None) -> None:
        super().__init__(message)
        self.run = run


def describe_resource_count(declared: int) -> str:
    """How every command counts a stack's resources: as `pulumi preview` does, the stack included.

    `declared` is what the program registers (the plan's list); the root `pulumi:pulumi:Stack`
    resource is the one more that Pulumi creates and the policy pack analyzes.
    """
    return f"{declared + 1} resources (the stack and the {declared} it declares)"


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


def _program_entry(program_dir: Path, project: Mapping[str, Any]) -> Path:
    main = project.get("main")
    entry = program_dir / main if main else program_dir
    if entry.is_dir():
        entry = entry / "__main__.py"
    if not entry.is_file():
        raise ProgramError(f"{program_dir}: no program entry point ({entry} not found)")
    return entry


def execute_program(
    program_dir: str | os.PathLike[str],
    stack: str,
    *,
    config: Mapping[str, str] | None = None,
    secret_keys: list[str] | None = None,
    mock: mocks.Mocks | None = None,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> ProgramRun:
    """Run the program at `program_dir` for `stack`; `run.ending` says how it ended.

    Raises ProgramError only when there is no program to run. `config` and
    `secret_keys` are added to (and override) the stack file's, the way the CLI
    passes decrypted `secure:` values to a real run: tests use them to feed a
    canary secret through the exact path a real secret takes.
    """
    program_path = Path(program_dir).resolve()
    project = read_project(program_path)
    entry = _program_entry(program_path, project)
    stack_config = read_stack_config(program_path, project, stack)
    values = {**stack_config.values, **(config or {})}
    secrets = sorted({*stack_config.secret_keys, *(secret_keys or [])})
    # Config secrets are masked wherever they show up, whether or not the program keeps them secret.
    MASKER.add(values[key] for key in secrets if key in values)
    return run_offline(
        entry,
        program_path,
        project=str(project["name"]),
        stack=stack,
        config=values,
        secret_keys=secrets,
        mock=mock or OfflineMocks(),
        timeout=timeout,
    )


def run_program(
    program_dir: str | os.PathLike[str],
    stack: str,
    *,
    config: Mapping[str, str] | None = None,
    secret_keys: list[str] | None = None,
    mock: mocks.Mocks | None = None,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> ProgramRun:
    """`execute_program`, raising unless the program ran to its end (ProgramRefused, ProgramError)."""
    run = execute_program(
        program_dir, stack, config=config, secret_keys=secret_keys, mock=mock, timeout=timeout
    )
    if run.ending.status == "refused":
        raise ProgramRefused(run.ending.message, run)
    if run.ending.status != "completed":
        raise ProgramError(run.ending.message, run)
    return run


# ---------------------------------------------------------------------------
# Turning recorded protobuf values into plain, masked data for people and diffs.

COMPUTED_MARK = "[computed]"
DYNAMIC_PROVIDER_MARK = "[dynamic provider]"


def _presented(value: Any) -> Any:
    if value is wire.UNKNOWN_VALUE:
        return COMPUTED_MARK
    if isinstance(value, list):
        return [_presented(item) for item in value]
    if isinstance(value, wire.Secret):
        return SECRET_MARK
    if isinstance(value, wire.OutputValue):
        return SECRET_MARK if value.secret else _presented(value.value)
    if isinstance(value, wire.ResourceReference):
        return value.urn
    if isinstance(value, wire.AssetOrArchive):
        for key in ("path", "uri", "text"):
            if key in value.keys:
                return f"<{'archive' if value.archive else 'asset'} {key}>"
        return "<archive>"
    if isinstance(value, dict):
        return _presented_struct(value)
    return value


def _presented_struct(values: dict[str, Any]) -> dict[str, Any]:
    # A dynamic resource carries its pickled provider; it is code, not config.
    return {
        key: DYNAMIC_PROVIDER_MARK if key == "__provider" else _presented(values[key])
        for key in sorted(values)
    }


def plain_value(value: struct_pb2.Value) -> Any:
    """A recorded value as plain data: secrets masked, unknowns marked."""
    return _presented(wire.decode(value))


def plain_struct(struct: struct_pb2.Struct) -> dict[str, Any]:
    return _presented_struct(wire.decode_struct(struct))


def is_secret_value(value: struct_pb2.Value) -> bool:
    return isinstance(wire.decode(value), wire.Secret)
