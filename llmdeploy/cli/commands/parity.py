"""`llmdeploy parity [STACK ...]`: what each stack serves, side by side, from its resolved spec
(the values its plan uses), with each difference explained. Exit 1 when a difference is an
error under the parity config (default: staging and prod serve the same model and revision)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from llmdeploy.cli.commands import SUMMARIES
from llmdeploy.cli.ops.aws import OpsError
from llmdeploy.cli.ops.parity_live import LiveEndpoint, live_answers
from llmdeploy.cli.ops.stack import load_stack_spec, read_stack
from llmdeploy.cli.stackfile import StackFileError
from llmdeploy.core.engines import ENGINES, OLLAMA
from llmdeploy.core.parity import (
    DEFAULT_RULES,
    GOLDEN_PROMPTS,
    UNPINNED,
    StackFacts,
    answer_differences,
    as_json,
    differences,
    ollama_base,
    read_rules,
    render_answer_differences,
    render_differences,
    render_table,
)

PARITY_CONFIG = "parity.json"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "parity",
        help=SUMMARIES["parity"],
        description=__doc__,
    )
    parser.add_argument("stacks", nargs="*", metavar="STACK", help="default: dev staging prod")
    parser.add_argument("--program", default=".", metavar="DIR", help="Pulumi program directory")
    parser.add_argument(
        "--config",
        metavar="FILE",
        help=f"parity config JSON (default: {PARITY_CONFIG} in the program directory, else staging and "
        "prod must match on model and revision)",
    )
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument(
        "--live",
        action="store_true",
        help="also send golden prompts at temperature 0 to each --endpoint and report differing answers",
    )
    parser.add_argument(
        "--endpoint",
        action="append",
        default=[],
        metavar="STACK=URL",
        help="with --live: a stack's OpenAI base URL (…/v1), e.g. the `endpoint` output (repeatable)",
    )
    parser.add_argument(
        "--served-model",
        action="append",
        default=[],
        metavar="STACK=NAME",
        help="with --live: the `model` to send (default: the stack's served name)",
    )
    parser.add_argument(
        "--api-key-env",
        action="append",
        default=[],
        metavar="STACK=VARIABLE",
        help="with --live: the environment variable holding a stack's API key (never printed)",
    )
    parser.set_defaults(handler=handle)


def _pairs(values: list[str], option: str) -> dict[str, str]:
    pairs = {}
    for value in values:
        stack, sep, rest = value.partition("=")
        if not sep or not stack or not rest:
            raise OpsError(f"{option}: found {value!r}; accepted: STACK=VALUE")
        pairs[stack] = rest
    return pairs


def live_endpoints(args: argparse.Namespace, facts: list[StackFacts]) -> list[LiveEndpoint]:
    urls = _pairs(args.endpoint, "--endpoint")
    models = _pairs(args.served_model, "--served-model")
    keys = _pairs(args.api_key_env, "--api-key-env")
    if len(urls) < 2:
        raise OpsError(
            f"--endpoint: found {len(urls)}; accepted: at least two STACK=URL with --live",
            "pass each stack's endpoint output, e.g. --endpoint staging=http://…/v1",
        )
    served = {item.stack: item.served_name for item in facts}
    endpoints = []
    for stack, url in urls.items():
        variable = keys.get(stack)
        if variable is not None and not os.environ.get(variable):
            raise OpsError(f"--api-key-env: {variable} is not set (for stack {stack})")
        model = models.get(stack) or served.get(stack)
        if model is None:
            raise OpsError(f"--served-model: found nothing for stack {stack!r}; accepted: {stack}=NAME")
        endpoints.append(
            LiveEndpoint(stack, url, model, os.environ.get(variable) if variable is not None else None)
        )
    return endpoints


def stack_facts(stack: str, spec: Any) -> StackFacts:
    """The facts of one resolved spec (dev: Ollama; staging: TGI, vLLM or SGLang; prod: vLLM)."""
    settings = spec.settings
    if settings.kind == "dev":
        base, quantization = ollama_base(settings.model)
        return StackFacts(
            stack=stack,
            engine="ollama",
            image=settings.image or OLLAMA.image(),
            model=base,
            revision=f"Ollama tag {settings.model}",
            quantization=quantization,
            context_length=str(settings.context_length or "Ollama's default"),
            sampling_defaults="the Modelfile's parameters",
            chat_template="the Modelfile's (Go template)",
            served_name=settings.model,
        )
    engine = settings.engine
    if settings.kind == "staging":
        context = str(settings.max_total_tokens)
        served = settings.served_name if engine != "tgi" else f"{settings.model} (TGI ignores `model`)"
        quantization = settings.quantize or "none: the checkpoint's dtype"
    else:
        context = str(spec.max_model_len)
        served = settings.served_name
        quantization = "none: the checkpoint's dtype"
    sampling = {
        "vllm": f"vLLM --generation-config {getattr(settings, 'generation_config', 'vllm')}",
        "tgi": "TGI's own defaults",
        "sglang": "SGLang's own defaults",
    }[engine]
    return StackFacts(
        stack=stack,
        engine=ENGINES[engine].name,
        image=settings.image_reference,
        model=settings.model,
        revision=settings.model_revision or UNPINNED,
        quantization=quantization,
        context_length=context,
        sampling_defaults=sampling,
        chat_template="the tokenizer's (hub repo)",
        served_name=served,
    )


def handle(args: argparse.Namespace) -> int:
    program_dir = Path(args.program)
    stacks = args.stacks or ["dev", "staging", "prod"]
    try:
        config_path = Path(args.config) if args.config else program_dir / PARITY_CONFIG
        if args.config or config_path.is_file():
            try:
                document = json.loads(config_path.read_text())
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
                raise OpsError(f"{config_path}: {error}", "give a JSON parity config") from None
            try:
                rules = read_rules(document, str(config_path))
            except ValueError as error:
                raise OpsError(str(error)) from None
        else:
            rules = DEFAULT_RULES
        facts = [
            stack_facts(stack, load_stack_spec(program_dir, read_stack(program_dir, stack)))
            for stack in stacks
        ]
        endpoints = live_endpoints(args, facts) if args.live else []
    except OpsError as error:
        print(error.report(), file=sys.stderr)
        return 2
    except StackFileError as error:
        print(str(error), file=sys.stderr)
        return 2
    found = differences(facts, rules)
    answers = answer_differences(live_answers(endpoints, GOLDEN_PROMPTS)) if endpoints else []
    if args.format == "json":
        document = as_json(facts, found)
        if endpoints:
            document["live"] = [{"prompt": item.prompt, "answers": item.answers} for item in answers]
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
    else:
        text = render_table(facts) + "\n\n" + render_differences(found) + "\n"
        if endpoints:
            text += "\n" + render_answer_differences(answers, len(GOLDEN_PROMPTS)) + "\n"
        sys.stdout.write(text)
    return 1 if any(item.error for item in found) or answers else 0
