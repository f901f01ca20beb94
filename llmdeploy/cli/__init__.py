"""The `llmdeploy` command: what Pulumi alone lacks (offline plan and checks, capacity, ops)."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

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
    "llmdeploy.cli.commands.bench",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llmdeploy",
        description="Offline plan and policy checks, capacity planning, preflight, verify "
        "and rollout for LLM serving stacks built with Pulumi.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
