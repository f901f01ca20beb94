"""`llmdeploy plan STACK`: every resource a stack declares, and its outputs, offline."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from llmdeploy.cli.commands import SUMMARIES
from llmdeploy.cli.mockrun import ProgramError, ProgramRefused, run_program
from llmdeploy.cli.plan import FORMATS, plan_document, render


def add_program_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("stack", metavar="STACK", help="stack name, e.g. dev, staging, prod")
    parser.add_argument(
        "--program",
        default=".",
        metavar="DIR",
        help="Pulumi Python program directory (default: the current one)",
    )


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "plan",
        help=SUMMARIES["plan"],
        description="Run a stack's Pulumi program under the SDK's mock monitor and print "
        "every resource it declares and its outputs. Secrets show as [secret], values "
        "known only after deploy as [computed].",
    )
    add_program_arguments(parser)
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
    try:
        run = run_program(args.program, args.stack)
    except ProgramRefused as refusal:
        print(str(refusal), file=sys.stderr)
        return 1
    except ProgramError as error:
        print(f"error: the program failed to run: {error}", file=sys.stderr)
        return 2
    for level, message in run.log:
        print(f"{level}: {message}", file=sys.stderr)
    warn_example_values(args.program, args.stack)
    sys.stdout.write(render(plan_document(run), args.format))
    return 0
