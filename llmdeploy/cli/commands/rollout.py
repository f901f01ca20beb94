"""`llmdeploy rollout STACK`: start or follow an instance refresh of the prod Auto Scaling group."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from llmdeploy.cli.args import add_deadline_argument, is_positive_seconds
from llmdeploy.cli.commands import SUMMARIES
from llmdeploy.cli.commands.plan import add_program_arguments
from llmdeploy.cli.commands.preflight import add_aws_arguments
from llmdeploy.cli.deadline import deadline
from llmdeploy.cli.ops.aws import OpsError, open_aws
from llmdeploy.cli.ops.outputs import stack_outputs
from llmdeploy.cli.ops.rollout import (
    ASG_OUTPUT,
    Action,
    ProgressReporter,
    RefreshPreferences,
    RolloutTarget,
    run_rollout,
)
from llmdeploy.cli.ops.stack import has_project, read_stack

DEFAULTS = RefreshPreferences()


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "rollout",
        help=SUMMARIES["rollout"],
        description="Replace the prod stack's instances with an Auto Scaling instance refresh and show "
        "its progress (a bar on a terminal, one line per change otherwise). With a refresh already "
        "under way, follow it instead of starting one. Exits 0 when the refresh ends as asked "
        "(Successful; Cancelled for --cancel; RollbackSuccessful for --rollback), else 1.",
    )
    add_program_arguments(parser)
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--follow", action="store_true", help="only follow a refresh under way")
    what.add_argument("--cancel", action="store_true", help="cancel the refresh under way")
    what.add_argument(
        "--rollback", action="store_true", help="roll the refresh under way back to the previous setup"
    )
    parser.add_argument(
        "--asg", metavar="NAME", help=f"Auto Scaling group (default: the {ASG_OUTPUT} output)"
    )
    parser.add_argument("--outputs", type=Path, metavar="FILE", help="`pulumi stack output --json` saved")
    parser.add_argument("--no-wait", action="store_true", help="return once the request is accepted")
    parser.add_argument(
        "--min-healthy-percentage",
        type=int,
        default=DEFAULTS.min_healthy_percentage,
        metavar="PERCENT",
        help=f"capacity kept in service (default {DEFAULTS.min_healthy_percentage})",
    )
    parser.add_argument(
        "--max-healthy-percentage",
        type=int,
        default=DEFAULTS.max_healthy_percentage,
        metavar="PERCENT",
        help=f"capacity allowed during replacement (default {DEFAULTS.max_healthy_percentage}: new "
        "instances start before old ones stop, which needs GPU quota above the group's size)",
    )
    parser.add_argument(
        "--instance-warmup", type=int, metavar="SECONDS", help="default: the group's own warmup"
    )
    parser.add_argument("--poll-seconds", type=float, default=15.0, metavar="SECONDS", help="default 15")
    add_aws_arguments(parser)
    add_deadline_argument(parser, 4 * 3600, "starting and following the refresh")
    parser.set_defaults(handler=handle)


def _action(args: argparse.Namespace) -> Action:
    if args.cancel:
        return "cancel"
    if args.rollback:
        return "rollback"
    return "follow" if args.follow else "start"


def _target(args: argparse.Namespace) -> RolloutTarget:
    program_dir = Path(args.program)
    config = read_stack(program_dir, args.stack) if has_project(program_dir) else None
    if config is not None and config.kind == "staging":
        raise OpsError(
            f"stack {args.stack} is a staging stack: one instance, no Auto Scaling group to refresh",
            "`pulumi up` replaces the staging instance; rollout applies to prod",
        )
    name = args.asg
    if name is None:
        outputs = stack_outputs(args.stack, program_dir, args.outputs)
        name = outputs.get(ASG_OUTPUT)
        if not name:
            raise OpsError(
                f"{ASG_OUTPUT}: found nothing in the stack outputs; accepted: the Auto Scaling group name",
                "pass --asg NAME",
            )
    return RolloutTarget(args.stack, str(name), args.region or (config.region if config else None))


def handle(args: argparse.Namespace) -> int:
    preferences = RefreshPreferences(
        min_healthy_percentage=args.min_healthy_percentage,
        max_healthy_percentage=args.max_healthy_percentage,
        instance_warmup_seconds=args.instance_warmup,
    )
    problems = preferences.problems()
    if not is_positive_seconds(args.poll_seconds):
        problems.append(f"--poll-seconds: found {args.poll_seconds:g}; accepted: seconds above 0")
    if problems:
        print("\n".join(f"error: {line}" for line in problems), file=sys.stderr)
        return 1
    reporter = ProgressReporter(sys.stdout)
    remedy = (
        f"the instance refresh goes on: `llmdeploy rollout {args.stack} --follow` watches it again; "
        "raise --deadline for a longer watch"
    )
    try:
        with deadline(args.deadline, "llmdeploy rollout", remedy):
            return _rollout(args, preferences, reporter)
    finally:
        reporter.finish()


def _rollout(args: argparse.Namespace, preferences: RefreshPreferences, reporter: ProgressReporter) -> int:
    try:
        target = _target(args)
        aws = open_aws(target.region, args.profile)
        result = run_rollout(
            aws,
            target,
            _action(args),
            reporter,
            preferences=preferences,
            wait=not args.no_wait,
            poll_seconds=args.poll_seconds,
        )
    except OpsError as error:
        reporter.finish()
        print(error.report(), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        reporter.finish()
        print(
            f"stopped watching; the instance refresh goes on. `llmdeploy rollout {args.stack} --follow` "
            "watches it again, --cancel cancels it.",
            file=sys.stderr,
        )
        return 130
    print(result.summary)
    return result.exit_code
