"""`llmdeploy check STACK`: the policy pack's verdict on a stack, offline, as `pulumi preview` gives it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from llmdeploy.cli.check import (
    DEFAULT_PACK_DIR,
    FORMATS,
    PolicyConfigError,
    PolicyPackError,
    check_program_run,
    format_json,
    format_text,
    read_policy_config,
    run_secrets,
    stack_policy_config,
)
from llmdeploy.cli.commands.plan import add_program_arguments
from llmdeploy.cli.masking import MASKER
from llmdeploy.cli.mockrun import ProgramError, ProgramRefused, run_program


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "check",
        help="run the policy pack over a stack, with no cloud, CLI or Docker",
        description="Run a stack's Pulumi program under the SDK's mock monitor, then run the policy pack "
        "in its own process over the Analyzer protocol, as `pulumi preview --policy-pack` does. Exit 1 on "
        "any mandatory violation, 2 if the program, the pack or the policy config cannot be used.",
    )
    add_program_arguments(parser)
    parser.add_argument(
        "--policy-config",
        metavar="FILE",
        help="policy config JSON (as for `pulumi preview --policy-pack-config`); default: the pack's "
        "config/<stack>.json for dev, staging and prod, every policy mandatory for other stacks",
    )
    parser.add_argument(
        "--policy-pack",
        metavar="DIR",
        default=str(DEFAULT_PACK_DIR),
        help="policy pack directory (default: the llm-serving pack in policies/)",
    )
    parser.add_argument("--format", choices=FORMATS, default="text")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    try:
        run = run_program(args.program, args.stack)
    except ProgramRefused as refusal:
        print(str(refusal), file=sys.stderr)
        return 1
    except ProgramError as error:
        print(f"error: the program failed to run: {error}", file=sys.stderr)
        return 2
    MASKER.add(run_secrets(run))
    for level, message in run.log:
        print(f"{level}: {message}", file=sys.stderr)

    pack_dir = Path(args.policy_pack)
    try:
        if args.policy_config:
            config, source = read_policy_config(args.policy_config), args.policy_config
        else:
            config, source = stack_policy_config(pack_dir, args.stack)
        result = check_program_run(run, config, source, pack_dir)
    except (PolicyConfigError, PolicyPackError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for line in result.pack_log:
        print(f"policy pack: {line}", file=sys.stderr)
    if args.format == "json":
        sys.stdout.write(format_json(result))
    else:
        sys.stdout.write(format_text(result, run, source))
    return 1 if result.mandatory else 0
