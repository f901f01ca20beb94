"""`llmdeploy check STACK`: the policy packs' verdict on a stack, offline, as `pulumi preview` gives it."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from concurrent import futures
from pathlib import Path
from typing import Any

from llmdeploy.cli.check import (
    DEFAULT_PACK_DIR,
    FORMATS,
    CheckResult,
    PolicyConfigError,
    PolicyPackError,
    PolicyPackProcess,
    PolicySetting,
    format_json,
    format_text,
    read_policy_config,
    stack_policy_config,
)
from llmdeploy.cli.commands import SUMMARIES
from llmdeploy.cli.commands.plan import add_run_arguments, ending_line, run_stack_program
from llmdeploy.cli.mockrun import read_project


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "check",
        help=SUMMARIES["check"],
        description="Run a stack's Pulumi program in its own process against llmdeploy's offline engine, "
        "then run each policy pack in its own process over the Analyzer protocol, as `pulumi preview "
        "--policy-pack` does. Every resource the program registered is checked, however it ended. Exit 1 "
        "on any mandatory violation, 2 if the program did not run to its end (or ran past --timeout), or "
        "a pack or a policy config cannot be used.",
    )
    add_run_arguments(parser)
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


Configured = tuple[PolicyPackProcess, Mapping[str, PolicySetting], str]


def _configured_packs(args: argparse.Namespace, project: str) -> list[Configured]:
    """Each pack with its policy config; raises PolicyConfigError."""
    pack_dirs = [Path(directory) for directory in args.policy_pack or [DEFAULT_PACK_DIR]]
    config_files = list(args.policy_config or [])
    if len(config_files) > len(pack_dirs):
        raise PolicyConfigError(
            f"--policy-config: found {len(config_files)} files for {len(pack_dirs)} packs; accepted: "
            "at most one per --policy-pack, in the same order"
        )
    packs: list[Configured] = []
    for index, pack_dir in enumerate(pack_dirs):
        if index < len(config_files):
            config, source = read_policy_config(config_files[index]), config_files[index]
        else:
            config, source = stack_policy_config(pack_dir, args.stack)
        packs.append((PolicyPackProcess(pack_dir, project=project, stack=args.stack), config, source))
    return packs


def handle(args: argparse.Namespace) -> int:
    project = str(read_project(Path(args.program).resolve())["name"])
    try:
        packs = _configured_packs(args, project)
    except PolicyConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    # The packs start (their own processes) while the program runs: the work spreads over the cores.
    with futures.ThreadPoolExecutor(max_workers=len(packs)) as starter:
        started = [starter.submit(pack.start) for pack, _, _ in packs]
        try:
            return _check(args, packs, started)
        finally:
            futures.wait(started)
            for pack, _, _ in packs:
                pack.close()


def _check(args: argparse.Namespace, packs: list[Configured], started: list[futures.Future[None]]) -> int:
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
    outcomes: list[tuple[CheckResult, str]] = []
    for (pack, config, source), start in zip(packs, started, strict=True):
        try:
            start.result()
            result = pack.check(run, config, source)
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
    if status == "refused":
        print(run.ending.message, file=sys.stderr)
        return 1
    if status != "completed":
        print(ending_line(run), file=sys.stderr)
    if any(result.mandatory for result, _ in outcomes):
        return 1
    return 0 if status == "completed" else 2
