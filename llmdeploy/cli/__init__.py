"""The `llmdeploy` command: what Pulumi alone lacks (offline plan and checks, capacity, ops)."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import sys
import traceback
from collections.abc import Sequence

from llmdeploy.cli.commands import SUMMARIES
from llmdeploy.cli.masking import MASKER, MaskingStream


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; only `command`'s module is imported (None: none of them).

    The other subcommands are listed with their summaries, so `llmdeploy --help` and a
    misspelt command read the same as before, without a second of imports.
    """
    parser = argparse.ArgumentParser(
        prog="llmdeploy",
        description="Offline plan and policy checks, capacity planning, preflight, verify, rollout "
        "and load tests for LLM serving stacks built with Pulumi.",
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        help="on an unexpected error, print the Python traceback (for a bug report); "
        "may be given anywhere on the line",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, summary in SUMMARIES.items():
        if name == command:
            importlib.import_module(f"llmdeploy.cli.commands.{name}").register(subparsers)
        else:
            subparsers.add_parser(name, help=summary)
    return parser


def _command_named(arguments: Sequence[str]) -> str | None:
    """The subcommand on the line: the first argument that is not an option, if it is one."""
    first = next((argument for argument in arguments if not argument.startswith("-")), None)
    return first if first in SUMMARIES else None


# Exit codes, as the README documents them: 1 is a policy or settings verdict, 2 "could not run".
EXIT_COULD_NOT_RUN = 2


def _one_line(text: str, limit: int = 400) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    # A global flag that works after the subcommand too (`llmdeploy diff a b --debug`).
    debug = "--debug" in arguments
    arguments = [argument for argument in arguments if argument != "--debug"]
    # Every line any command prints passes the one masker (llmdeploy/cli/masking.py).
    MASKER.add_environment()
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = MaskingStream(saved[0]), MaskingStream(saved[1])
    command = "llmdeploy"
    try:
        args = build_parser(_command_named(arguments)).parse_args(arguments)
        command = args.command
        # Imported with the command's own modules, not before: `llmdeploy --help` stays fast.
        from llmdeploy.cli.deadline import DeadlineExceeded
        from llmdeploy.cli.stackfile import StackFileError

        try:
            return int(args.handler(args))
        except StackFileError as error:
            print(f"error: {MASKER.text(str(error))}", file=sys.stderr)
            return EXIT_COULD_NOT_RUN
        except DeadlineExceeded as error:
            print(f"error: {error.report()}", file=sys.stderr)
            return EXIT_COULD_NOT_RUN
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except (Exception, RecursionError, MemoryError) as error:
        if debug:
            print(MASKER.text(traceback.format_exc()), file=sys.stderr, end="")
        what = _one_line(MASKER.text(str(error))) or "no message"
        hint = "" if debug else "; run again with --debug for the traceback to report"
        print(
            f"error: {command} stopped on an unexpected {type(error).__name__}: {what}{hint}",
            file=sys.stderr,
        )
        return EXIT_COULD_NOT_RUN
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(BrokenPipeError, ValueError):
                stream.flush()
        sys.stdout, sys.stderr = saved


if __name__ == "__main__":
    sys.exit(main())
