"""`llmdeploy check STACK`: the policy pack's verdict on a stack, offline, as `pulumi preview` gives it."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from llmdeploy.cli.check import (
    DEFAULT_PACK_DIR,
    FORMATS,
    PolicyConfigError,
    PolicyPackError,
    Redactor,
    check_program_run,
    format_json,
    format_text,
    read_policy_config,
    stack_policy_config,
)
from llmdeploy.cli.commands import SUMMARIES
from llmdeploy.cli.commands.plan import add_program_arguments
from llmdeploy.cli.mockrun import ProgramError, ProgramRefused, run_program


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "check",
        help=SUMMARIES["check"],
        description="Run a stack's Pulumi program under the SDK's mock monitor, then run the policy pack "
        "in its own process over the Analyzer protocol, as `pulumi preview --policy-pack` does. Exit 1 on "
        "any mandatory violation, 2 if the program, the pack or the policy config cannot be used.",
    )
    add_program_arguments(parser)
    parser.add_argument(
        "--policy-config",
        metavar="FILE",
        action="append",
        help="policy config JSON (as for `pulumi preview --policy-pack-config`), repeatable: the n-th "
        "goes to the n-th --policy-pack; default: each pack's config/<stack>.json for dev, staging and "
        "prod, every policy mandatory for other stacks",
    )
    parser.add_argument(
        "--policy-pack",
        metavar="DIR",
        action="append",
        help="policy pack directory, Python or Node.js (run `npm ci` in a Node.js pack first), "
        "repeatable; default: the llm-serving pack in policies/",
    )
    parser.add_argument("--format", choices=FORMATS, default="text")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    try:
        run = run_program(args.program, args.stack)
    except ProgramRefused as refusal:
        print(Redactor()(str(refusal)), file=sys.stderr)
        return 1
    except ProgramError as error:
        print(f"error: the program failed to run: {Redactor()(str(error))}", file=sys.stderr)
        return 2
    redact = Redactor.for_run(run)
    for level, message in run.log:
        print(redact(f"{level}: {message}"), file=sys.stderr)

    pack_dirs = [Path(directory) for directory in args.policy_pack or [DEFAULT_PACK_DIR]]
    config_files = list(args.policy_config or [])
    if len(config_files) > len(pack_dirs):
        print(
            f"error: --policy-config: found {len(config_files)} files for {len(pack_dirs)} packs; accepted: "
            "at most one per --policy-pack, in the same order",
            file=sys.stderr,
        )
        return 2
    outcomes = []
    for index, pack_dir in enumerate(pack_dirs):
        try:
            if index < len(config_files):
                config, source = read_policy_config(config_files[index]), config_files[index]
            else:
                config, source = stack_policy_config(pack_dir, args.stack)
            result = check_program_run(run, config, source, pack_dir)
        except (PolicyConfigError, PolicyPackError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        for line in result.pack_log:
            print(f"policy pack {result.pack}: {line}", file=sys.stderr)
        outcomes.append((result, source))
    if args.format == "json":
        if len(outcomes) == 1:
            sys.stdout.write(format_json(outcomes[0][0]))
        else:
            # Several packs: each violation says which pack reported it.
            items = [{"pack": r.pack, **v.as_dict()} for r, _ in outcomes for v in r.violations]
            sys.stdout.write(json.dumps(items, indent=2) + "\n")
    else:
        sys.stdout.write("\n".join(format_text(result, run, source) for result, source in outcomes))
    return 1 if any(result.mandatory for result, _ in outcomes) else 0
