"""The `llmdeploy` command: what Pulumi alone lacks (offline plan and checks, capacity, ops)."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import sys
import traceback
from collections.abc import Sequence

from llmdeploy.cli.masking import MASKER, MaskingStream

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
    "llmdeploy.cli.commands.bench",
)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line, or only the subcommand `only` (each module is named as its command).

    Importing every command costs a second (openai, boto3) that `plan` and `check` do not need.
    """
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
        if only is None or module_name.rsplit(".", 1)[1] == only:
            importlib.import_module(module_name).register(subparsers)
    return parser


# Exit codes, as the README documents them: 1 is a policy or settings verdict, 2 "could not run".
EXIT_COULD_NOT_RUN = 2


def _one_line(text: str, limit: int = 400) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    # A global flag that works after the subcommand too (`llmdeploy diff a b --debug`).
    debug = "--debug" in arguments
    words = [argument for argument in arguments if argument != "--debug"]
    # Every line any command prints passes the one masker (llmdeploy/cli/masking.py).
    MASKER.add_environment()
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = MaskingStream(saved[0]), MaskingStream(saved[1])
    command = "llmdeploy"
    # Imported here, with the command's own modules: `llmdeploy --help` stays fast.
    from llmdeploy.cli.deadline import DeadlineExceeded
    from llmdeploy.cli.stackfile import StackFileError

    try:
        known = {name.rsplit(".", 1)[1] for name in COMMAND_MODULES}
        args = build_parser(words[0] if words and words[0] in known else None).parse_args(words)
        command = args.command
        return int(args.handler(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except StackFileError as error:
        print(f"error: {MASKER.text(str(error))}", file=sys.stderr)
        return EXIT_COULD_NOT_RUN
    except DeadlineExceeded as error:
        print(f"error: {error.report()}", file=sys.stderr)
        return EXIT_COULD_NOT_RUN
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
