"""`llmdeploy bench STACK`: the standard load test (GuideLLM, by concurrency), SLO gate and cost per token.

`llmdeploy bench compare A.json B.json ...`: runs side by side.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import os
import sys
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmdeploy.cli.bench.guidellm import find_guidellm, run_guidellm
from llmdeploy.cli.bench.plots import require_matplotlib, write_html, write_png
from llmdeploy.cli.bench.probe import check_model_served, served_models
from llmdeploy.cli.ops.aws import OpsError
from llmdeploy.cli.ops.outputs import stack_outputs
from llmdeploy.cli.ops.stack import has_project, load_stack_spec, read_stack
from llmdeploy.cli.ops.verify import ENDPOINT_OUTPUT, MODEL_OUTPUT
from llmdeploy.core.bench.byte_tokenizer import NAME as BYTE_TOKENIZER
from llmdeploy.core.bench.compare import compare_markdown, compare_text
from llmdeploy.core.bench.cost import fleet_cost
from llmdeploy.core.bench.errors import BenchInputError
from llmdeploy.core.bench.judge import bench_run, gate
from llmdeploy.core.bench.render import markdown_table, text_table
from llmdeploy.core.bench.result import BenchRun, Target, Tool, dump_run, load_run
from llmdeploy.core.bench.slo import SloTarget, parse_slo
from llmdeploy.core.bench.sweep import (
    DEFAULT_CONCURRENCIES,
    DEFAULT_MAX_REQUESTS,
    DEFAULT_MAX_SECONDS,
    DEFAULT_OUTPUT_TOKENS,
    DEFAULT_PROMPT_TOKENS,
    SweepSettings,
    parse_concurrencies,
    sweep_settings,
)

# Read from the environment, never from an argument: arguments land in shell history and `ps`.
API_KEY_ENV = "LLMDEPLOY_API_KEY"
COMPARE = "compare"
BAD_INPUT = 2
RESULT_FILES = ("bench.json", "bench.txt", "bench.md", "bench.png", "bench.html")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="load-test a stack's endpoint by concurrency (GuideLLM): latency, throughput, SLO, cost",
        description="Run GuideLLM over a concurrency sweep against the stack's endpoint (read from its "
        "outputs, as `verify` does, or --endpoint and --model), with synthetic prompts of set sizes "
        "or a dataset, each level bounded in requests and seconds. Reports TTFT, ITL and end-to-end "
        "latency at p50/p90/p99, output tokens and requests per second, errors, dollars per million "
        "output tokens; with --slo, each level's verdict and the highest concurrency that meets it. "
        f"Writes {', '.join(RESULT_FILES)} to --out. An API key is read from ${API_KEY_ENV}. "
        f"`llmdeploy bench {COMPARE} A.json B.json ...` compares runs. Exits 2 on bad input, 1 when "
        "--require-concurrency fails or the load test cannot run.",
    )
    parser.add_argument(
        "stack", nargs="?", metavar="STACK", help=f"stack name (dev, staging, prod), or `{COMPARE}`"
    )
    parser.add_argument("files", nargs="*", metavar="RESULT", help=f"with `{COMPARE}`: bench.json files")
    parser.add_argument("--program", default=".", metavar="DIR", help="Pulumi program directory (default: .)")
    parser.add_argument("--outputs", type=Path, metavar="FILE", help="`pulumi stack output --json` saved")
    parser.add_argument("--endpoint", metavar="URL", help="OpenAI base URL ending in /v1 (skips the outputs)")
    parser.add_argument("--model", help="served model name")
    parser.add_argument("--engine", help="the engine serving it (default: the `engine` output)")
    parser.add_argument("--image", help="the engine image (default: the stack's settings)")
    parser.add_argument("--instance-type", help="for cost (default: the `capacity` output's)")
    parser.add_argument("--instances", type=int, help="instances serving (default: the stack's size, else 1)")
    parser.add_argument("--on-demand", type=int, metavar="N", help="of them On-Demand (default: the stack's)")
    parser.add_argument("--spot-price", type=float, metavar="USD", help="per Spot instance-hour")
    parser.add_argument(
        "--concurrency",
        default=",".join(str(c) for c in DEFAULT_CONCURRENCIES),
        metavar="LIST",
        help="concurrent streams per level (default: %(default)s)",
    )
    parser.add_argument("--prompt-tokens", type=int, default=DEFAULT_PROMPT_TOKENS, metavar="N")
    parser.add_argument("--output-tokens", type=int, default=DEFAULT_OUTPUT_TOKENS, metavar="N")
    parser.add_argument("--dataset", metavar="FILE|HF_ID", help="prompts from a dataset instead of synthetic")
    parser.add_argument(
        "--max-requests",
        type=int,
        default=DEFAULT_MAX_REQUESTS,
        metavar="N",
        help="per level (default: %(default)s)",
    )
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=DEFAULT_MAX_SECONDS,
        metavar="S",
        help="per level (default: %(default)s)",
    )
    parser.add_argument(
        "--tokenizer",
        metavar="NAME|DIR",
        help="Hugging Face tokenizer that sizes the prompts (default: the stack's model id); "
        f"`{BYTE_TOKENIZER}`: one token per byte, no download",
    )
    parser.add_argument("--slo", metavar="TARGETS", help="e.g. ttft_p99=2s,itl_p99=100ms,error_rate=1%%")
    parser.add_argument(
        "--require-concurrency", type=int, metavar="N", help="exit 1 unless the SLO holds at N"
    )
    parser.add_argument("--label", help="this run's name in tables (default: the stack, or the model)")
    parser.add_argument(
        "--out", type=Path, metavar="DIR", help="result directory (default: bench-results/...)"
    )
    parser.add_argument(
        "--format", choices=("text", "markdown", "json"), default="text", help="what stdout shows"
    )
    parser.add_argument(
        "--timeout", type=float, default=300.0, metavar="S", help="per request (default: 300)"
    )
    parser.add_argument(
        "--workers", type=int, metavar="N", help="GuideLLM worker processes (default: its own)"
    )
    parser.add_argument("--guidellm", metavar="PATH", help="the guidellm executable (default: see README)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    try:
        if args.stack == COMPARE:
            return handle_compare(args)
        if args.files:
            raise BenchInputError(
                f"RESULT: found {args.files[0]!r}; accepted: result files only with `{COMPARE}`"
            )
        return handle_bench(args)
    except (BenchInputError, OpsError) as error:
        if args.debug:
            traceback.print_exc()
        message = error.message if isinstance(error, OpsError) else str(error)
        remedy = f" ({error.remedy})" if isinstance(error, OpsError) and error.remedy else ""
        print(f"error: {message}{remedy}", file=sys.stderr)
        return BAD_INPUT


@dataclass(frozen=True)
class Request:
    settings: SweepSettings
    slo: tuple[SloTarget, ...] | None
    require_concurrency: int | None


def read_request(args: argparse.Namespace) -> Request:
    """Every option checked before anything is sent: a BenchInputError naming the first bad one."""
    settings = sweep_settings(
        concurrencies=parse_concurrencies(args.concurrency),
        prompt_tokens=args.prompt_tokens,
        output_tokens=args.output_tokens,
        max_requests=args.max_requests,
        max_seconds=args.max_seconds,
        dataset=args.dataset,
    )
    slo = parse_slo(args.slo) if args.slo else None
    if args.require_concurrency is not None:
        if slo is None:
            raise BenchInputError("--require-concurrency: found no --slo; accepted: with --slo TARGETS")
        if args.require_concurrency not in settings.concurrencies:
            raise BenchInputError(
                f"--require-concurrency: found {args.require_concurrency}; "
                f"accepted: a level of --concurrency "
                f"({','.join(str(c) for c in settings.concurrencies)})"
            )
    if not args.timeout > 0:
        raise BenchInputError(f"--timeout: found {args.timeout:g}; accepted: seconds above 0")
    if args.workers is not None and args.workers < 1:
        raise BenchInputError(f"--workers: found {args.workers}; accepted: a whole number of at least 1")
    return Request(settings=settings, slo=slo, require_concurrency=args.require_concurrency)


def _stack_settings(program_dir: Path, stack: str) -> Any:
    """The stack's settings where this is its program and they load; None otherwise (cost and image only)."""
    if not has_project(program_dir):
        return None
    try:
        return load_stack_spec(program_dir, read_stack(program_dir, stack)).settings
    except OpsError:
        return None


def read_target(args: argparse.Namespace) -> tuple[Target, str]:
    """The endpoint and what serves it; and the tokenizer to size prompts with."""
    program_dir = Path(args.program)
    outputs: dict[str, Any] = {}
    if args.stack is None and args.endpoint is None:
        raise BenchInputError(
            "STACK: found none; accepted: a stack name, or --endpoint URL with --model NAME"
        )
    if args.outputs is not None or args.endpoint is None:
        outputs = stack_outputs(args.stack, program_dir, args.outputs)
    endpoint = args.endpoint or outputs.get(ENDPOINT_OUTPUT)
    if not isinstance(endpoint, str) or not endpoint.startswith(("http://", "https://")):
        raise OpsError(
            f"{ENDPOINT_OUTPUT}: found {endpoint!r}; accepted: the OpenAI base URL, http(s)://host[:port]/v1",
            "deploy the stack first (`pulumi up`), or pass --endpoint URL",
        )
    model = args.model or outputs.get(MODEL_OUTPUT)
    if not isinstance(model, str) or not model:
        raise OpsError(
            f"{MODEL_OUTPUT}: found {model!r}; accepted: the served model name", "pass --model NAME"
        )
    found_capacity = outputs.get("capacity")
    capacity: dict[str, Any] = found_capacity if isinstance(found_capacity, dict) else {}
    settings = _stack_settings(program_dir, args.stack) if outputs and args.stack else None
    instances = args.instances if args.instances is not None else _stack_size(settings, capacity)
    on_demand = args.on_demand
    if on_demand is None and settings is not None and getattr(settings, "use_spot", False):
        on_demand = min(int(settings.on_demand_base_capacity), instances)
    fleet = fleet_cost(
        args.instance_type or capacity.get("instance_type"), instances, on_demand, args.spot_price
    )
    image = args.image or (getattr(settings, "image_reference", None) if settings is not None else None)
    engine = args.engine or outputs.get("engine")
    target = Target(
        endpoint=endpoint.rstrip("/"),
        model=model,
        stack=None if args.endpoint and not outputs else args.stack,
        engine=str(engine) if engine else None,
        image=str(image) if image else None,
        fleet=fleet,
    )
    tokenizer = args.tokenizer or str(capacity.get("model") or model)
    return target, tokenizer


def _stack_size(settings: Any, capacity: dict[str, Any]) -> int:
    if settings is not None and hasattr(settings, "min_size"):
        return int(getattr(settings, "desired_capacity", None) or settings.min_size)
    instances = (capacity.get("cost_per_hour_usd") or {}).get("instances")
    return int(instances[0]) if isinstance(instances, list) and instances else 1


def _version() -> str:
    try:
        return importlib.metadata.version("llmdeploy")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def handle_bench(args: argparse.Namespace) -> int:
    request = read_request(args)
    require_matplotlib()
    target, tokenizer = read_target(args)
    api_key = os.environ.get(API_KEY_ENV) or None
    check_model_served(target.endpoint, target.model, served_models(target.endpoint, api_key))
    executable = find_guidellm(args.guidellm)
    interactive = sys.stderr.isatty() and sys.stdout.isatty()
    print(
        f"bench: {target.model} at {target.endpoint}, "
        f"levels {','.join(map(str, request.settings.concurrencies))}",
        file=sys.stderr,
    )
    try:
        measured = run_guidellm(
            executable,
            endpoint=target.endpoint,
            model=target.model,
            api_key=api_key,
            settings=request.settings,
            tokenizer=tokenizer,
            request_timeout_seconds=args.timeout,
            workers=args.workers,
            interactive=interactive,
            on_level=lambda line: print(line, file=sys.stderr, flush=True),
        )
    except OpsError as error:
        print(error.report(), file=sys.stderr)
        return 1
    created = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    run = bench_run(
        created=created,
        label=args.label or target.stack or target.model,
        load_generator=Tool(name="guidellm", version=measured.version),
        llmdeploy_version=_version(),
        target=target,
        settings=request.settings,
        slo=request.slo,
        levels=measured.levels,
    )
    out = args.out or Path("bench-results") / f"{run.label}-{created.replace(':', '')}".replace("/", "_")
    write_results([run], out, title=f"llmdeploy bench: {run.label}")
    show(run, args.format)
    print(f"results: {', '.join(str(out / name) for name in RESULT_FILES)}", file=sys.stderr)
    if request.require_concurrency is not None and (problem := gate(run, request.require_concurrency)):
        print(f"error: {problem}", file=sys.stderr)
        return 1
    return 0


def show(run: BenchRun, format_: str) -> None:
    if format_ == "json":
        sys.stdout.write(dump_run(run))
    elif format_ == "markdown":
        sys.stdout.write(markdown_table(run))
    else:
        sys.stdout.write(text_table(run))


def write_results(runs: Sequence[BenchRun], out: Path, title: str) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        if len(runs) == 1:
            (run,) = runs
            text, markdown = text_table(run), markdown_table(run)
            (out / "bench.json").write_text(dump_run(run))
            (out / "bench.txt").write_text(text)
            (out / "bench.md").write_text(markdown)
            write_png(runs, out / "bench.png")
            write_html(runs, text, title, out / "bench.html")
        else:
            text = compare_text(runs)
            (out / "compare.txt").write_text(text)
            (out / "compare.md").write_text(compare_markdown(runs))
            write_png(runs, out / "compare.png")
            write_html(runs, text, title, out / "compare.html")
    except OSError as error:
        raise OpsError(f"--out: cannot write to {out} ({error.strerror or error})") from None


def handle_compare(args: argparse.Namespace) -> int:
    runs = []
    for name in args.files:
        path = Path(name)
        try:
            text = path.read_text()
        except OSError as error:
            raise BenchInputError(f"{name}: cannot read ({error.strerror or error})") from None
        runs.append(load_run(text, name))
    if len(runs) < 2:
        raise BenchInputError(
            f"{COMPARE}: found {len(runs)} result file(s); accepted: two or more bench.json files"
        )
    out = args.out or Path("bench-results") / "compare"
    write_results(runs, out, title="llmdeploy bench compare")
    sys.stdout.write(compare_markdown(runs) if args.format == "markdown" else compare_text(runs))
    print(
        "results: " + ", ".join(str(out / f"compare.{suffix}") for suffix in ("txt", "md", "png", "html")),
        file=sys.stderr,
    )
    return 0
