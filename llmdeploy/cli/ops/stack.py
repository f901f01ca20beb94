"""What the ops commands read of a stack: its config file, kind, region and settings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from llmdeploy.cli.ops.aws import OpsError
from llmdeploy.cli.stackfile import project_file, read_project, read_stack_config
from stacks.settings import PROJECT, SettingsError, load_settings, stack_kind

AWS_KINDS = ("staging", "prod")
T = TypeVar("T")


@dataclass(frozen=True)
class StackConfig:
    project: str
    stack: str
    # None when neither `llmdeploy:kind` nor the stack name says; `kind_problem` says why.
    kind: str | None
    kind_problem: str
    # `aws:region` from the stack config; None when the stack leaves it to the environment.
    region: str | None
    values: dict[str, str]
    secret_keys: frozenset[str]
    has_stack_file: bool


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
    prefix = f"{PROJECT}:"
    raw = {key[len(prefix) :]: value for key, value in config.values.items() if key.startswith(prefix)}
    kind: str | None
    try:
        kind, kind_problem = stack_kind(stack, raw), ""
    except SettingsError as error:
        kind, kind_problem = None, str(error)
    return StackConfig(
        project=str(project["name"]),
        stack=stack,
        kind=kind,
        kind_problem=kind_problem,
        region=config.values.get("aws:region"),
        values=config.values,
        secret_keys=frozenset(config.secret_keys),
        has_stack_file=(program_dir / f"Pulumi.{stack}.yaml").is_file(),
    )


def resolve_kind(config: StackConfig | None, stack: str, kind_argument: str | None, command: str) -> str:
    """--kind, else the stack config's kind, else the stack's name; staging or prod only."""
    kind = kind_argument or (config.kind if config else (stack if stack in AWS_KINDS else None))
    if kind is None:
        problem = (
            config.kind_problem
            if config
            else (
                f"{PROJECT}:kind: found nothing (no Pulumi.yaml here), and the stack name {stack!r} "
                f"is not a stack kind; accepted: one of {', '.join(AWS_KINDS)}"
            )
        )
        raise OpsError(problem, "pass --kind staging or --kind prod")
    if kind not in AWS_KINDS:
        raise OpsError(
            f"{PROJECT}:kind: found {kind!r}; accepted: one of {', '.join(AWS_KINDS)} "
            f"(`llmdeploy {command}` works on the AWS stacks; dev runs on this machine)"
        )
    return kind


def load_stack_settings(program_dir: Path, config: StackConfig) -> Any:
    """The stack's validated settings model; bad settings raise `OpsError`, one line per problem."""
    if not config.has_stack_file:
        raise OpsError(
            f"Pulumi.{config.stack}.yaml: not found in {program_dir}",
            f"create the stack (`pulumi stack init {config.stack}`) and its config, or pass --program DIR",
        )
    try:
        return load_settings(config.stack, config.values, config.secret_keys)
    except SettingsError as error:
        raise OpsError(str(error), f"fix Pulumi.{config.stack}.yaml") from None
