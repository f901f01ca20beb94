"""What the ops commands read of a stack: its config file, kind, region and settings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from llmdeploy.cli.ops.aws import OpsError
from llmdeploy.cli.program import ProgramModuleError, import_from_program
from llmdeploy.cli.stackfile import project_file, read_project, read_stack_config
from llmdeploy.core.stack_kinds import AWS_STACK_KINDS

AWS_KINDS = AWS_STACK_KINDS


@dataclass(frozen=True)
class StackConfig:
    project: str
    # The program's config namespace (`<namespace>:kind`), from its settings.
    namespace: str
    stack: str
    # None when neither `llmdeploy:kind` nor the stack name says; `kind_problem` says why.
    kind: str | None
    kind_problem: str
    # `aws:region` from the stack config; None when the stack leaves it to the environment.
    region: str | None
    values: dict[str, str]
    secret_keys: frozenset[str]
    has_stack_file: bool


def program_module(program_dir: Path, name: str) -> ModuleType:
    """One of the program's own modules, imported from its directory (the wheel ships no `stacks`)."""
    try:
        return import_from_program(program_dir, name)
    except ProgramModuleError as error:
        raise OpsError(str(error), "run from the Pulumi program directory or pass --program DIR") from None


def program_settings(program_dir: Path) -> ModuleType:
    return program_module(program_dir, "stacks.settings")


def has_project(program_dir: Path) -> bool:
    return project_file(program_dir) is not None


def read_stack(program_dir: Path, stack: str) -> StackConfig:
    """The stack's config (Pulumi.yaml defaults under Pulumi.<stack>.yaml) and its kind.

    A file that is there but malformed raises `StackFileError` (the command exits 2).
    """
    if not has_project(program_dir):
        raise OpsError(
            f"{program_dir}: no Pulumi.yaml, so not a Pulumi program directory",
            "run from the Pulumi program directory or pass --program DIR",
        )
    project = read_project(program_dir)
    config = read_stack_config(program_dir, project, stack)
    settings = program_settings(program_dir)
    prefix = f"{settings.PROJECT}:"
    raw = {key[len(prefix) :]: value for key, value in config.values.items() if key.startswith(prefix)}
    kind: str | None
    try:
        kind, kind_problem = settings.stack_kind(stack, raw), ""
    except settings.SettingsError as error:
        kind, kind_problem = None, str(error)
    return StackConfig(
        project=str(project["name"]),
        namespace=settings.PROJECT,
        stack=stack,
        kind=kind,
        kind_problem=kind_problem,
        region=config.values.get("aws:region"),
        values=config.values,
        secret_keys=frozenset(config.secret_keys),
        has_stack_file=(program_dir / f"Pulumi.{stack}.yaml").is_file(),
    )


def resolve_kind(
    config: StackConfig | None,
    stack: str,
    kind_argument: str | None,
    command: str,
    accepted: tuple[str, ...] = AWS_KINDS,
) -> str:
    """--kind, else the stack config's kind, else the stack's name; one of `accepted`."""
    kind = kind_argument or (config.kind if config else (stack if stack in accepted else None))
    choices = ", ".join(accepted)
    if kind is None:
        problem = (
            config.kind_problem
            if config
            else (
                f"--kind: found nothing (no Pulumi.yaml here), and the stack name {stack!r} "
                f"is not a stack kind; accepted: one of {choices}"
            )
        )
        raise OpsError(problem, f"pass --kind ({choices})")
    if kind not in accepted:
        where = f"{config.namespace}:kind" if config and not kind_argument else "--kind"
        why = (
            ""
            if "dev" in accepted
            else f" (`llmdeploy {command}` works on the AWS stacks; dev runs on this machine)"
        )
        raise OpsError(f"{where}: found {kind!r}; accepted: one of {choices}{why}")
    return kind


def load_stack_spec(program_dir: Path, config: StackConfig) -> Any:
    """The stack's resolved spec (`stacks.resolve`), as its program resolves it; bad settings raise
    `OpsError`, one line per problem."""
    if not config.has_stack_file:
        raise OpsError(
            f"Pulumi.{config.stack}.yaml: not found in {program_dir}",
            f"create the stack (`pulumi stack init {config.stack}`) and its config, or pass --program DIR",
        )
    settings = program_settings(program_dir)
    resolve = program_module(program_dir, "stacks.resolve")
    try:
        return resolve.load_stack(config.stack, config.values, config.secret_keys, project=config.project)
    except settings.SettingsError as error:
        raise OpsError(str(error), f"fix Pulumi.{config.stack}.yaml") from None
