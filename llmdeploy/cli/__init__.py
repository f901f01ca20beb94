"""The `llmdeploy` command: what Pulumi alone lacks (offline plan and checks, capacity, ops)."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import sys
from collections.abc import Sequence

from llmdeploy.cli.masking import MASKER, MaskingStream

# Each module registers one subcommand; its handler returns the exit code.
COMMAND_MODULES = (
    "llmdeploy.cli.commands.plan",
    "llmdeploy.cli.commands.diff",
    "llmdeploy.cli.commands.catalog",
    "llmdeploy.cli.commands.capacity",
    "llmdeploy.cli.commands.check",
    "llmdeploy.cli.commands.preflight",
    "llmdeploy.cli.commands.verify",
    "llmdeploy.cli.commands.rollout",
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
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        if only is None or module_name.rsplit(".", 1)[1] == only:
            importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # Every line any command prints passes the one masker (llmdeploy/cli/masking.py).
    MASKER.add_environment()
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = MaskingStream(saved[0]), MaskingStream(saved[1])
    try:
        words = list(sys.argv[1:] if argv is None else argv)
        known = {name.rsplit(".", 1)[1] for name in COMMAND_MODULES}
        args = build_parser(words[0] if words and words[0] in known else None).parse_args(words)
        return int(args.handler(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(BrokenPipeError, ValueError):
                stream.flush()
        sys.stdout, sys.stderr = saved


if __name__ == "__main__":
    sys.exit(main())
