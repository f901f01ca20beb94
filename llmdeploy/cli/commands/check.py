"""`llmdeploy check STACK`: the policy pack's verdict on a stack, offline, as `pulumi preview` gives it."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from concurrent import futures
from pathlib import Path
from typing import Any

from llmdeploy.cli.check import (
    DEFAULT_PACK_DIR,
    FORMATS,
    PolicyConfigError,
    PolicyPackError,
    PolicyPackProcess,
    PolicySetting,
    format_json,
    format_text,
    read_policy_config,
    stack_policy_config,
)
from llmdeploy.cli.commands.plan import add_run_arguments, ending_line, run_stack_program
from llmdeploy.cli.mockrun import ProgramError, read_project


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "check",
        help="run the policy pack over a stack, with no cloud, CLI or Docker",
        description="Run a stack's Pulumi program in its own process against llmdeploy's offline engine, "
        "then run the policy pack in its own process over the Analyzer protocol, as `pulumi preview "
        "--policy-pack` does. Every resource the program registered is checked, however it ended. Exit 1 "
        "on any mandatory violation, 2 if the program did not run to its end (or ran past --timeout), or "
        "the pack or the policy config cannot be used.",
    )
    add_run_arguments(parser)
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
    pack_dir = Path(args.policy_pack)
    try:
        if args.policy_config:
            config, source = read_policy_config(args.policy_config), args.policy_config
        else:
            config, source = stack_policy_config(pack_dir, args.stack)
    except PolicyConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        project = str(read_project(Path(args.program).resolve())["name"])
    except ProgramError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    # The pack starts (its own Python, the policy SDK) while the program runs: two processes, two cores.
    pack = PolicyPackProcess(pack_dir, project=project, stack=args.stack)
    with futures.ThreadPoolExecutor(max_workers=1) as starter:
        started = starter.submit(pack.start)
        try:
            return _check(args, pack, started, config, source)
        finally:
            futures.wait([started])
            pack.close()


def _check(
    args: argparse.Namespace,
    pack: PolicyPackProcess,
    started: futures.Future[None],
    config: Mapping[str, PolicySetting],
    source: str,
) -> int:
    run = run_stack_program(args)
    if isinstance(run, int):
        return run
    status = run.ending.status
    if status == "timeout":
        print(ending_line(run), file=sys.stderr)
        return 2
    if status == "refused" and not run.resources:
        print(run.ending.message, file=sys.stderr)
        return 1

    # Whatever way the program ended, every resource it registered is checked.
    try:
        started.result()
        result = pack.check(run, config, source)
    except (PolicyConfigError, PolicyPackError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for line in result.pack_log:
        print(f"policy pack: {line}", file=sys.stderr)
    if args.format == "json":
        sys.stdout.write(format_json(result))
    else:
        sys.stdout.write(format_text(result, run, source))
    if status == "refused":
        print(run.ending.message, file=sys.stderr)
        return 1
    if status != "completed":
        print(ending_line(run), file=sys.stderr)
    if result.mandatory:
        return 1
    return 0 if status == "completed" else 2
