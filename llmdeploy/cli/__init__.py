"""The `llmdeploy` command: what Pulumi alone lacks (offline plan and checks, capacity, ops)."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from collections.abc import Sequence

# Each module registers one subcommand; its handler returns the exit code.
COMMAND_MODULES = (
    "llmdeploy.cli.commands.plan",
    "llmdeploy.cli.commands.diff",
    "llmdeploy.cli.commands.catalog",
    "llmdeploy.cli.commands.capacity",
    "llmdeploy.cli.commands.models",
    "llmdeploy.cli.commands.check",
    "llmdeploy.cli.commands.preflight",
    "llmdeploy.cli.commands.verify",
    "llmdeploy.cli.commands.rollout",
    "llmdeploy.cli.commands.parity",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llmdeploy",
        description="Offline plan and policy checks, capacity planning, preflight, verify "
        "and rollout for LLM serving stacks built with Pulumi.",
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        help="on an unexpected error, print the Python traceback (for a bug report); "
        "may be given anywhere on the line",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


# Environment variables whose values are credentials: masked in every error line and traceback.
SECRET_ENVIRONMENT = (
    "LLMDEPLOY_API_KEY",
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
)
# Exit codes, as the README documents them: 1 is a policy or settings verdict, 2 "could not run".
EXIT_COULD_NOT_RUN = 2


def mask_secrets(text: str) -> str:
    """`text` with credential shapes and the values of `SECRET_ENVIRONMENT` masked."""
    from llmdeploy.cli.diff import redact_text

    for name in SECRET_ENVIRONMENT:
        value = os.environ.get(name, "")
        if len(value) >= 4:
            text = text.replace(value, "[secret]")
    return redact_text(text)


def _one_line(text: str, limit: int = 400) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    # A global flag that works after the subcommand too (`llmdeploy diff a b --debug`).
    debug = "--debug" in arguments
    arguments = [argument for argument in arguments if argument != "--debug"]
    args = build_parser().parse_args(arguments)
    from llmdeploy.cli.deadline import DeadlineExceeded
    from llmdeploy.cli.stackfile import StackFileError

    try:
        return int(args.handler(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except StackFileError as error:
        print(f"error: {mask_secrets(str(error))}", file=sys.stderr)
        return EXIT_COULD_NOT_RUN
    except DeadlineExceeded as error:
        print(f"error: {error.report()}", file=sys.stderr)
        return EXIT_COULD_NOT_RUN
    except (Exception, RecursionError, MemoryError) as error:
        if debug:
            print(mask_secrets(traceback.format_exc()), file=sys.stderr, end="")
        what = _one_line(mask_secrets(str(error))) or "no message"
        hint = "" if debug else "; run again with --debug for the traceback to report"
        print(
            f"error: {args.command} stopped on an unexpected {type(error).__name__}: {what}{hint}",
            file=sys.stderr,
        )
        return EXIT_COULD_NOT_RUN


if __name__ == "__main__":
    sys.exit(main())
