"""`llmdeploy verify STACK`: after a deploy, does the endpoint really serve, and only what it should?"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from llmdeploy.cli.args import add_deadline_argument, is_positive_seconds
from llmdeploy.cli.commands import SUMMARIES
from llmdeploy.cli.commands.plan import add_program_arguments
from llmdeploy.cli.commands.preflight import add_aws_arguments
from llmdeploy.cli.deadline import deadline
from llmdeploy.cli.masking import MASKER
from llmdeploy.cli.ops.aws import Aws, OpsError, open_aws
from llmdeploy.cli.ops.checks import any_failed, render_json, render_table
from llmdeploy.cli.ops.outputs import stack_outputs
from llmdeploy.cli.ops.stack import has_project, read_stack, resolve_kind
from llmdeploy.cli.ops.verify import (
    ENDPOINT_OUTPUT,
    HEALTH_URL_OUTPUT,
    INSTANCE_ID_OUTPUT,
    MODEL_OUTPUT,
    TARGET_GROUP_OUTPUT,
    run_verify,
    verify_target_from_outputs,
)
from llmdeploy.core.stack_kinds import STACK_KINDS

# Read from the environment, never from an argument: arguments land in shell history and `ps`.
API_KEY_ENV = "LLMDEPLOY_API_KEY"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "verify",
        help=SUMMARIES["verify"],
        description="Read the stack's outputs (from `pulumi stack output --json` when the Pulumi CLI "
        "is installed, else from --outputs FILE or the arguments below), check the instance state "
        "(staging) or target health (prod; dev has neither), then call the endpoint with the openai "
        "client: list models, one chat completion, one streamed completion with its time to first "
        "token; GET the "
        f"health URL; in prod, check /metrics is not public. An API key is read from ${API_KEY_ENV}. "
        "Exits 1 on any failure.",
    )
    add_program_arguments(parser)
    parser.add_argument("--outputs", type=Path, metavar="FILE", help="`pulumi stack output --json` saved")
    parser.add_argument("--endpoint", metavar="URL", help="OpenAI base URL ending in /v1 (skips the CLI)")
    parser.add_argument("--model", help="served model name")
    parser.add_argument("--health-url", metavar="URL")
    parser.add_argument("--target-group-arn", metavar="ARN", help="prod: the ALB target group")
    parser.add_argument("--instance-id", metavar="ID", help="staging: the EC2 instance")
    parser.add_argument("--kind", choices=STACK_KINDS, help="default: the stack's kind")
    add_aws_arguments(parser)
    parser.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="wall-clock limit per request, the whole answer included (default 120)",
    )
    parser.add_argument("--format", choices=("text", "json"), default="text")
    add_deadline_argument(parser, 900, "all the checks")
    parser.set_defaults(handler=handle)


def _argument_outputs(args: argparse.Namespace) -> dict[str, Any]:
    given = {
        ENDPOINT_OUTPUT: args.endpoint,
        MODEL_OUTPUT: args.model,
        HEALTH_URL_OUTPUT: args.health_url,
        TARGET_GROUP_OUTPUT: args.target_group_arn,
        INSTANCE_ID_OUTPUT: args.instance_id,
    }
    return {name: value for name, value in given.items() if value is not None}


def handle(args: argparse.Namespace) -> int:
    with deadline(args.deadline, "llmdeploy verify", "raise --deadline, or check the endpoint and network"):
        return _verify(args)


def _verify(args: argparse.Namespace) -> int:
    program_dir = Path(args.program)
    if not is_positive_seconds(args.timeout):
        print(f"error: --timeout: found {args.timeout:g}; accepted: seconds above 0", file=sys.stderr)
        return 1
    try:
        config = read_stack(program_dir, args.stack) if has_project(program_dir) else None
        # Every kind: dev's Ollama answers the same OpenAI API (no key, no metrics, no AWS checks).
        kind = resolve_kind(config, args.stack, args.kind, "verify", STACK_KINDS)
        outputs: dict[str, Any] = {}
        if args.outputs is not None or args.endpoint is None:
            outputs = stack_outputs(args.stack, program_dir, args.outputs)
        target = verify_target_from_outputs(
            args.stack,
            kind,
            {**outputs, **_argument_outputs(args)},
            region=args.region or (config.region if config else None),
            api_key=os.environ.get(API_KEY_ENV) or None,
            timeout_seconds=args.timeout,
        )
    except OpsError as error:
        print(MASKER.text(error.report()), file=sys.stderr)
        return 1

    def aws_for(region: str | None) -> Aws:
        return open_aws(region, args.profile)

    results = run_verify(target, aws_for)
    if args.format == "json":
        header = {"command": "verify", "stack": args.stack, "kind": kind, "endpoint": target.endpoint}
        report = render_json(header, results)
    else:
        title = f"Verify of stack {args.stack} ({kind}): {target.model} at {target.endpoint}"
        report = render_table(title, results)
    # An endpoint may echo the request (the Authorization header, the key) into an error body.
    sys.stdout.write(MASKER.text(report))
    return 1 if any_failed(results) else 0
