"""`llmdeploy preflight STACK`: check with boto3 what would make `pulumi up` fail late."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from llmdeploy.cli.args import add_deadline_argument
from llmdeploy.cli.commands import SUMMARIES
from llmdeploy.cli.commands.plan import add_program_arguments
from llmdeploy.cli.deadline import deadline
from llmdeploy.cli.ops.aws import OpsError, open_aws
from llmdeploy.cli.ops.checks import any_failed, render_json, render_table
from llmdeploy.cli.ops.preflight import preflight_target_from_spec, run_preflight
from llmdeploy.cli.ops.stack import load_stack_spec, read_stack, resolve_kind
from llmdeploy.core.stack_kinds import AWS_STACK_KINDS


def add_aws_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--region", help="AWS region (default: the stack's aws:region, else AWS_REGION)")
    parser.add_argument("--profile", help="AWS profile (default: AWS_PROFILE or the default chain)")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "preflight",
        help=SUMMARIES["preflight"],
        description="Check with the AWS APIs what would make `pulumi up` of a staging or prod stack "
        "fail late: credentials and region, the instance type offered in the chosen zones, the GPU "
        "vCPU quota against the stack's size, the DLAMI parameter in the region and the Hugging Face "
        "token secret. Prints a table with what to do about each failure; exits 1 on any failure.",
    )
    add_program_arguments(parser)
    add_aws_arguments(parser)
    parser.add_argument("--format", choices=("text", "json"), default="text")
    add_deadline_argument(parser, 300, "all the checks")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    with deadline(
        args.deadline, "llmdeploy preflight", "raise --deadline, or check the network and AWS endpoint"
    ):
        return _preflight(args)


def _preflight(args: argparse.Namespace) -> int:
    program_dir = Path(args.program)
    try:
        config = read_stack(program_dir, args.stack)
        resolve_kind(config, args.stack, None, "preflight")
        spec = load_stack_spec(program_dir, config)
        if spec.settings.kind not in AWS_STACK_KINDS:  # resolve_kind refused dev already
            raise OpsError(
                f"{config.namespace}:kind: found {spec.settings.kind!r}; "
                f"accepted: one of {', '.join(AWS_STACK_KINDS)}"
            )
        target = preflight_target_from_spec(spec, args.region or config.region)
        aws = open_aws(target.region, args.profile)
    except OpsError as error:
        print(error.report(), file=sys.stderr)
        return 1
    results = run_preflight(target, aws)
    if args.format == "json":
        header = {"command": "preflight", "stack": args.stack, "kind": target.kind, "region": aws.region}
        sys.stdout.write(render_json(header, results))
    else:
        title = (
            f"Preflight of stack {args.stack} ({target.kind}) in {aws.region}: "
            f"{target.instance_count} x {target.instance_type}{' (Spot)' if target.use_spot else ''}"
        )
        sys.stdout.write(render_table(title, results))
    return 1 if any_failed(results) else 0
