"""`llmdeploy plan STACK`: every resource a stack declares, and its outputs, offline."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from llmdeploy.cli.check import run_secrets
from llmdeploy.cli.commands import SUMMARIES
from llmdeploy.cli.engine import DEFAULT_TIMEOUT_SECONDS
from llmdeploy.cli.masking import MASKER
from llmdeploy.cli.mockrun import ProgramError, ProgramRun, execute_program
from llmdeploy.cli.plan import FORMATS, plan_document, render


def add_program_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("stack", metavar="STACK", help="stack name, e.g. dev, staging, prod")
    parser.add_argument(
        "--program",
        default=".",
        metavar="DIR",
        help="Pulumi Python program directory (default: the current one)",
    )


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """What plan and check take to run the program: the stack, the directory, the wall-clock limit."""
    add_program_arguments(parser)
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_SECONDS,
        metavar="SECONDS",
        help=f"wall-clock limit for the program (default: {DEFAULT_TIMEOUT_SECONDS:g}); past it the "
        "program and every process it started are ended, and the command exits 2",
    )


def run_stack_program(args: argparse.Namespace) -> ProgramRun | int:
    """The program's run for plan and check (one runner), or the exit code when there is none.

    Its secrets join the masker before anything of it is printed; its own output
    and log lines go to stderr, never into the command's output.
    """
    if not args.timeout > 0:
        print(f"error: --timeout: found {args.timeout:g}; accepted: seconds above 0", file=sys.stderr)
        return 2
    try:
        run = execute_program(args.program, args.stack, timeout=args.timeout)
    except ProgramError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    MASKER.add(run_secrets(run))
    for line in run.output:
        print(f"program: {line}", file=sys.stderr)
    for level, message in run.log:
        print(f"{level}: {message}", file=sys.stderr)
    return run


def ending_line(run: ProgramRun) -> str:
    """One line on a run that did not complete."""
    if run.ending.status == "timeout":
        return f"error: {run.ending.message}; it was stopped with every process it started"
    return (
        f"error: the program failed to run to its end: {run.ending.message} "
        f"({len(run.resources)} resources registered before it ended)"
    )


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "plan",
        help=SUMMARIES["plan"],
        description="Run a stack's Pulumi program in its own process against llmdeploy's offline engine "
        "and print every resource it declares and its outputs. Secrets show as [secret], values "
        "known only after deploy as [computed]. Exit 1 if the program refuses its settings, 2 if it "
        "does not run to its end (the plan then shows what it registered before it ended) or runs past "
        "--timeout.",
    )
    add_run_arguments(parser)
    parser.add_argument("--format", choices=FORMATS, default="text")
    parser.set_defaults(handler=handle)


def warn_example_values(program: str, stack: str) -> None:
    """One stderr line per example value still in the stack file (the plan itself is unchanged)."""
    from llmdeploy.cli.examples import example_values
    from llmdeploy.cli.stackfile import load_yaml

    stack_file = Path(program) / f"Pulumi.{stack}.yaml"
    if not stack_file.is_file():
        return
    document = load_yaml(stack_file)
    for found in example_values(document if isinstance(document, dict) else {}):
        print(found.line(stack_file.name), file=sys.stderr)


def handle(args: argparse.Namespace) -> int:
    run = run_stack_program(args)
    if isinstance(run, int):
        return run
    status = run.ending.status
    if status == "refused":
        print(run.ending.message, file=sys.stderr)
        return 1
    if status == "timeout":
        print(ending_line(run), file=sys.stderr)
        return 2
    warn_example_values(args.program, args.stack)
    sys.stdout.write(render(plan_document(run), args.format))
    if status != "completed":
        print(ending_line(run), file=sys.stderr)
        return 2
    return 0
