"""`llmdeploy diff BASE.json HEAD.json`: what a change does to a stack, from two offline plans."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from llmdeploy.cli.commands import SUMMARIES
from llmdeploy.cli.diff import (
    FORMATS,
    DiffInputError,
    Violation,
    diff_plans,
    read_check_results,
    read_plan,
    render,
)
from llmdeploy.cli.inputfile import InputFileError, read_json_file


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "diff",
        help=SUMMARIES["diff"],
        description="Compare two documents written by `llmdeploy plan STACK --format json`: "
        "resources added, removed, changed (with each changed input) and renamed, and changed "
        "stack outputs. With the matching `llmdeploy check STACK --format json` results, also the "
        "policies that newly fail and those fixed. User data (base64, gzip, MIME multipart) shows "
        "decoded, as a line diff. Secrets stay masked. Exit 2 when a file is not a plan or check results.",
    )
    parser.add_argument("base", metavar="BASE.json", help="plan before the change")
    parser.add_argument("head", metavar="HEAD.json", help="plan after the change")
    parser.add_argument("--base-check", metavar="FILE", help="check results for BASE (JSON list)")
    parser.add_argument("--head-check", metavar="FILE", help="check results for HEAD (JSON list)")
    parser.add_argument("--format", choices=FORMATS, default="text")
    parser.set_defaults(handler=handle)


def _load(path: str, what: str) -> Any:
    """The JSON in `path`: bounded in size and depth, one line when it is not usable."""
    try:
        return read_json_file(path)
    except InputFileError as error:
        raise DiffInputError(f"{path}: the {what}: {error}") from None


def _check(path: str | None) -> tuple[Violation, ...] | None:
    if path is None:
        return None
    return read_check_results(_load(path, "check results"), path)


def handle(args: argparse.Namespace) -> int:
    if args.base_check and not args.head_check:
        print("error: --base-check: found a file; accepted: only together with --head-check", file=sys.stderr)
        return 2
    try:
        base = read_plan(_load(args.base, "plan"), args.base)
        head = read_plan(_load(args.head, "plan"), args.head)
        diff = diff_plans(base, head, _check(args.base_check), _check(args.head_check))
    except DiffInputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    sys.stdout.write(render(diff, args.format))
    return 0
