"""Parity across stacks: what each serves, side by side, and which differences matter.

Pure: the CLI turns each stack's resolved spec into `StackFacts`; this module compares
them, explains each difference and applies the parity config (which differences fail).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import cache
from importlib import resources
from typing import Any

# The rows of the table, in order, and why a difference in each matters.
FIELDS: dict[str, str] = {
    "engine": "engines differ in batching, sampling and tokenizer handling; answers may differ",
    "image": "another engine release may change defaults, kernels and outputs",
    "model": "another model answers",
    "revision": "unpinned or different commits may be different weights under one name",
    "quantization": "quantized weights (e.g. Ollama's 4-bit GGUF) answer differently from bf16",
    "context_length": "prompts that fit one stack are refused or truncated on another",
    "sampling_defaults": "requests without explicit sampling parameters sample differently",
    "chat_template": "another template formats the same messages into another prompt",
    "served_name": "clients must send another `model` name",
}
UNPINNED = "unpinned (hub main)"


@dataclass(frozen=True)
class StackFacts:
    stack: str
    engine: str
    image: str
    model: str
    revision: str
    quantization: str
    context_length: str
    sampling_defaults: str
    chat_template: str
    served_name: str

    def row(self) -> dict[str, str]:
        values = asdict(self)
        values.pop("stack")
        return values


@cache
def ollama_table() -> dict[str, dict[str, str]]:
    text = resources.files("llmdeploy.core").joinpath("data/ollama_models.json").read_text()
    return {tag: entry for tag, entry in json.loads(text).items() if not tag.startswith("_")}


def ollama_base(tag: str) -> tuple[str, str]:
    """An Ollama tag's base model and quantization, from the bundled table; unknown ones say so."""
    entry = ollama_table().get(tag) or ollama_table().get(tag.removesuffix(":latest"))
    if entry is None:
        return f"{tag} (Ollama tag not in the bundled table)", "unknown (Ollama GGUF)"
    return entry["base_model"], entry["quantization"]


@dataclass(frozen=True)
class Difference:
    field: str
    values: dict[str, str]  # stack -> value
    why: str
    error: bool


@dataclass(frozen=True)
class ParityRule:
    """These stacks must agree on these fields (the parity config's `mustMatch` entries)."""

    stacks: tuple[str, ...]
    fields: tuple[str, ...]


DEFAULT_RULES = (ParityRule(stacks=("staging", "prod"), fields=("model", "revision")),)


def read_rules(document: Any, source: str) -> tuple[ParityRule, ...]:
    """`{"mustMatch": [{"stacks": [...], "fields": [...]}]}`; a bad shape is one ValueError line."""
    accepted = (
        '{"mustMatch": [{"stacks": ["staging", "prod"], "fields": ["model", "revision"]}]} with fields '
        f"from {', '.join(FIELDS)}"
    )
    entries = document.get("mustMatch") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise ValueError(f"{source}: found {json.dumps(document)[:80]}; accepted: {accepted}")
    rules = []
    for index, entry in enumerate(entries):
        stacks = entry.get("stacks") if isinstance(entry, dict) else None
        fields = entry.get("fields") if isinstance(entry, dict) else None
        if (
            not isinstance(stacks, list)
            or not isinstance(fields, list)
            or not all(isinstance(s, str) for s in stacks)
            or not all(f in FIELDS for f in fields)
        ):
            raise ValueError(
                f"{source}: mustMatch[{index}]: found {json.dumps(entry)[:80]}; accepted: {accepted}"
            )
        rules.append(ParityRule(tuple(stacks), tuple(fields)))
    return tuple(rules)


def differences(facts: Sequence[StackFacts], rules: Sequence[ParityRule]) -> list[Difference]:
    """Each field whose value is not the same on every stack, with why it matters and whether a rule
    makes it an error (the rule's stacks, those present, disagree on it)."""
    found = []
    rows = {item.stack: item.row() for item in facts}
    for field, why in FIELDS.items():
        values = {stack: row[field] for stack, row in rows.items()}
        if len(set(values.values())) <= 1:
            continue
        found.append(Difference(field, values, why, _breaks_a_rule(field, values, rules)))
    # Stacks that all say "unpinned" agree on paper only: the hub moves under each on its own day.
    unpinned = sorted(
        {
            stack
            for rule in rules
            if "revision" in rule.fields
            for stack in rule.stacks
            if stack in rows and rows[stack]["revision"] == UNPINNED
        }
    )
    if unpinned:
        found = [item for item in found if item.field != "revision"]
        found.append(
            Difference(
                "revision",
                {stack: row["revision"] for stack, row in rows.items()},
                f"no commit pinned on {', '.join(unpinned)} (modelRevision): each may load other weights "
                "on the day it starts",
                True,
            )
        )
    return found


def _breaks_a_rule(field: str, values: Mapping[str, str], rules: Sequence[ParityRule]) -> bool:
    return any(
        field in rule.fields and len({values[stack] for stack in rule.stacks if stack in values}) > 1
        for rule in rules
    )


def render_table(facts: Sequence[StackFacts]) -> str:
    stacks = [item.stack for item in facts]
    rows = [["", *stacks]] + [[field, *(item.row()[field] for item in facts)] for field in FIELDS]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    )


def render_differences(found: Sequence[Difference]) -> str:
    if not found:
        return "No differences."
    lines = []
    for item in found:
        mark = "error" if item.error else "note"
        values = "; ".join(f"{stack}: {value}" for stack, value in item.values.items())
        lines.append(f"{mark}: {item.field} differs ({values}): {item.why}")
    return "\n".join(lines)


def as_json(facts: Sequence[StackFacts], found: Sequence[Difference]) -> dict[str, Any]:
    return {
        "stacks": {item.stack: item.row() for item in facts},
        "differences": [asdict(item) for item in found],
    }


def facts_mapping(facts: Sequence[StackFacts]) -> Mapping[str, StackFacts]:
    return {item.stack: item for item in facts}


# Golden prompts for `parity --live`: short, with one expected answer a model serving the same
# weights with the same template gives at temperature 0.
GOLDEN_PROMPTS: tuple[str, ...] = (
    "What is the capital of France? Answer with one word.",
    "Count from 1 to 5, separated by commas.",
    "Translate 'good morning' into Spanish.",
)


@dataclass(frozen=True)
class AnswerDifference:
    prompt: str
    answers: dict[str, str]  # stack -> answer (or the error, in brackets)


def answer_differences(answers: Mapping[str, Mapping[str, str]]) -> list[AnswerDifference]:
    """The prompts whose answers are not the same on every stack (answers: prompt -> stack -> text)."""
    return [
        AnswerDifference(prompt, dict(by_stack))
        for prompt, by_stack in answers.items()
        if len({text.strip() for text in by_stack.values()}) > 1
    ]


def render_answer_differences(found: Sequence[AnswerDifference], prompts: int) -> str:
    if not found:
        return f"Live: the same answers from every stack to {prompts} golden prompts at temperature 0."
    lines = [f"Live: {len(found)} of {prompts} golden prompts answered differently at temperature 0:"]
    for item in found:
        lines.append(f"  {item.prompt!r}")
        lines += [f"    {stack}: {answer.strip()[:120]!r}" for stack, answer in item.answers.items()]
    return "\n".join(lines)
