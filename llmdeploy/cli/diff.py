"""What changes between two plan documents, and between their policy check results.

Pure functions over the JSON that `llmdeploy plan --format json` writes (see
`llmdeploy.cli.plan`) and the list that `llmdeploy check --format json` writes
(objects with `policy`, `urn`, `level`, `message`). `llmdeploy diff` and the
pull-request job render the result as text, markdown or JSON.

Resources are matched by URN with the stack and project left out, so a plan
diffs against another stack's plan too. A resource that disappears while one of
the same type appears under the same parent is a rename: with the same inputs
for certain, or with changed inputs when it is the only such pair. Pulumi
replaces a renamed resource unless the new one carries an alias, so the diff
says so.

Secrets stay masked. Plans already show Pulumi secrets as "[secret]"; on top
of that, every value the diff shows goes through `redact`, which masks values
under secret-like keys (`password`, `hfToken`, `HF_TOKEN=...`), Hugging Face
tokens, AWS access key ids and private keys wherever they appear, and the
plaintext counterpart of a value that is a secret on the other side. The
result holds only masked values, so no renderer can leak one.
"""

from __future__ import annotations

import difflib
import html
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from llmdeploy.cli.masking import MASKER, SECRET_MARK
from llmdeploy.cli.mockrun import COMPUTED_MARK
from llmdeploy.cli.violations import Violation
from llmdeploy.core.userdata_reading import readable_user_data

FORMATS = ("text", "markdown", "json")
POLICY_LEVELS = ("mandatory", "advisory", "disabled")


class DiffInputError(ValueError):
    """A file that is not a plan document or not check results; `str()` is one line."""


class _Absent:
    """The side of a change where the value does not exist."""

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Final = _Absent()


# ---------------------------------------------------------------------------
# Masking


def redact_text(text: str) -> str:
    """`text` as the one masker shows it."""
    return MASKER.text(text)


def redact(value: Any, key: str = "") -> Any:
    """`value` as it may be shown: masked under secret-like keys and where it looks like a token."""
    if value is ABSENT or value == COMPUTED_MARK:
        return value
    return MASKER.value(value, key)


# ---------------------------------------------------------------------------
# Reading the documents


@dataclass(frozen=True)
class PlanResource:
    urn: str
    type: str
    name: str
    parent: str
    inputs: dict[str, Any]


@dataclass(frozen=True)
class Plan:
    stack: str
    project: str
    resources: tuple[PlanResource, ...]
    outputs: dict[str, Any]


def _bad(source: str, key: str, found: Any, accepted: str) -> DiffInputError:
    try:
        shown = json.dumps(found) if not isinstance(found, dict | list) else type(found).__name__
    except ValueError:  # an integer past Python's int-to-string limit
        shown = f"a {type(found).__name__} too large to show"
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return DiffInputError(f"{source}: {key}: found {shown}; accepted: {accepted}")


class _PlanResourceModel(BaseModel):
    """One resource of a plan document; keys `plan` writes that diff does not use are ignored."""

    model_config = ConfigDict(strict=True, extra="ignore")

    urn: Annotated[str, Field(min_length=1, pattern=r"^urn:pulumi:")]
    type: Annotated[str, Field(min_length=1)]
    name: Annotated[str, Field(min_length=1)]
    parent: str | None = None
    inputs: dict[str, Any] | None = None


class _PlanModel(BaseModel):
    """A plan document as `llmdeploy plan STACK --format json` writes it."""

    model_config = ConfigDict(strict=True, extra="ignore")

    stack: str
    project: str | None = None
    resources: list[_PlanResourceModel]
    outputs: dict[str, Any]


# What each key accepts, for the one line a refusal prints.
_PLAN_ACCEPTED = {
    "stack": "the stack name",
    "project": "the project name",
    "resources": "a list of resources",
    "outputs": "an object of stack outputs",
    "urn": "a Pulumi URN (urn:pulumi:...)",
    "type": "a non-empty string",
    "name": "a non-empty string",
    "parent": "the parent's URN, or null",
    "inputs": "an object",
}


def _where(location: Sequence[int | str]) -> str:
    where = ""
    for part in location:
        where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else str(part))
    return where or "(document)"


def read_plan(data: Any, source: str = "plan") -> Plan:
    """A plan document as `llmdeploy plan --format json` writes it, validated by `_PlanModel`."""
    if not isinstance(data, dict):
        raise _bad(source, "(document)", data, "a JSON object from `llmdeploy plan STACK --format json`")
    try:
        model = _PlanModel.model_validate(data)
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        location = [part for part in first["loc"] if isinstance(part, int | str)]
        # A resource that is not an object is named by its index; a bad key by its name.
        field_name = next((part for part in reversed(location) if isinstance(part, str)), "")
        if location and isinstance(location[-1], int) and location[:1] == ["resources"]:
            accepted = "an object with urn, type, name, parent and inputs"
        else:
            accepted = _PLAN_ACCEPTED.get(field_name, "what `llmdeploy plan --format json` writes")
        found = first.get("input") if first["type"] != "missing" else None
        raise _bad(source, _where(location), found, accepted) from None
    resources = tuple(
        PlanResource(
            urn=item.urn,
            type=item.type,
            name=item.name,
            parent=item.parent or "",
            inputs=item.inputs or {},
        )
        for item in model.resources
    )
    return Plan(stack=model.stack, project=model.project or "", resources=resources, outputs=model.outputs)


def read_check_results(data: Any, source: str = "check results") -> tuple[Violation, ...]:
    """The list `llmdeploy check STACK --format json` writes, checked key by key."""
    if not isinstance(data, list):
        raise _bad(source, "(document)", data, "a JSON list from `llmdeploy check STACK --format json`")
    violations = []
    for index, item in enumerate(data):
        where = f"[{index}]"
        if not isinstance(item, dict):
            raise _bad(source, where, item, "an object with policy, urn, level and message")
        if not isinstance(item.get("policy"), str) or not item["policy"]:
            raise _bad(source, f"{where}.policy", item.get("policy"), "a policy name")
        if item.get("level") not in POLICY_LEVELS:
            raise _bad(source, f"{where}.level", item.get("level"), " | ".join(POLICY_LEVELS))
        urn = item.get("urn") or ""
        message = item.get("message") or ""
        if not isinstance(urn, str):
            raise _bad(source, f"{where}.urn", urn, "a resource URN, or empty for the stack")
        if not isinstance(message, str):
            raise _bad(source, f"{where}.message", message, "a string")
        violations.append(Violation(item["policy"], urn, item["level"], message))
    return tuple(violations)


# ---------------------------------------------------------------------------
# The diff


ChangeKind = Literal["added", "removed", "changed"]


@dataclass(frozen=True)
class Change:
    """One value that differs, both sides already masked. `note` says what masking hides."""

    path: str
    old: Any = ABSENT
    new: Any = ABSENT
    note: str = ""

    @property
    def kind(self) -> ChangeKind:
        if self.old is ABSENT:
            return "added"
        if self.new is ABSENT:
            return "removed"
        return "changed"


ResourceKind = Literal["add", "remove", "update", "rename"]


@dataclass(frozen=True)
class ResourceDiff:
    kind: ResourceKind
    type: str
    name: str
    urn: str
    old_name: str = ""
    old_urn: str = ""
    # A rename with the very same inputs (certain), or the only pair of its type
    # and parent with changed inputs (likely).
    same_inputs: bool = True
    changes: tuple[Change, ...] = ()


@dataclass(frozen=True)
class FailingPolicy:
    violation: Violation
    base_level: str = ""


@dataclass(frozen=True)
class PolicyDiff:
    """Violations keyed by (policy, resource); `compared` is False with no base results."""

    newly_failing: tuple[Violation, ...]
    fixed: tuple[Violation, ...]
    still_failing: tuple[FailingPolicy, ...]
    compared: bool

    @property
    def new_mandatory(self) -> int:
        return sum(v.level == "mandatory" for v in self.newly_failing) + sum(
            f.violation.level == "mandatory" and f.base_level != "mandatory" for f in self.still_failing
        )


@dataclass(frozen=True)
class PlanDiff:
    base_stack: str
    head_stack: str
    resources: tuple[ResourceDiff, ...]
    unchanged: int
    outputs: tuple[Change, ...]
    warnings: tuple[str, ...]
    policies: PolicyDiff | None = None

    def count(self, kind: ResourceKind) -> int:
        return sum(resource.kind == kind for resource in self.resources)

    @property
    def has_changes(self) -> bool:
        return bool(self.resources or self.outputs)


STACK_KEY = "(stack)"


def resource_key(urn: str) -> str:
    """A URN without its stack and project: `aws:ec2/instance:Instance::gpu` (parent types kept).

    The stack resource itself is named after the stack, so it becomes "(stack)".
    """
    parts = urn.split("::", 2)
    if len(parts) != 3 or not urn.startswith("urn:pulumi:"):
        return urn
    return STACK_KEY if parts[2].startswith("pulumi:pulumi:Stack::") else parts[2]


def _map_urns(value: Any, key_of: Callable[[str], str]) -> Any:
    # Resource references appear as URN strings: compare them by key, through renames.
    if isinstance(value, str) and value.startswith("urn:pulumi:"):
        return key_of(value)
    if isinstance(value, dict):
        return {k: _map_urns(v, key_of) for k, v in value.items()}
    if isinstance(value, list):
        return [_map_urns(item, key_of) for item in value]
    return value


_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _join(path: str, key: str) -> str:
    if _PLAIN_KEY.fullmatch(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key)}]"


def diff_values(old: Any, new: Any, path: str = "") -> list[tuple[str, Any, Any, str]]:
    """(path, old, new, last key) for each leaf that differs; unmasked, for `_masked_change`."""
    if old == new:
        return []
    if isinstance(old, dict) and isinstance(new, dict):
        rows = []
        for key in sorted(set(old) | set(new)):
            sub = _join(path, key)
            if key not in old:
                rows.append((sub, ABSENT, new[key], key))
            elif key not in new:
                rows.append((sub, old[key], ABSENT, key))
            else:
                rows.extend((p, o, n, k if k else key) for p, o, n, k in diff_values(old[key], new[key], sub))
        return rows
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        rows = []
        for index, (old_item, new_item) in enumerate(zip(old, new, strict=True)):
            rows.extend(diff_values(old_item, new_item, f"{path}[{index}]"))
        return rows
    # Lists that grew or shrank read best whole (an inserted argument shifts the rest).
    return [(path, old, new, "")]


def _masked_count(value: Any, key: str) -> int:
    """How many spans masking hides in `value`: a decoded script that masked one comment in the base
    and still does in the head has no new credential."""
    if value is ABSENT or value is None:
        return 0
    shown = redact(value, key)
    if shown == value:
        return 0
    return max(
        json.dumps(shown, default=str).count(SECRET_MARK) - json.dumps(value, default=str).count(SECRET_MARK),
        1,
    )


def _masked_change(path: str, old: Any, new: Any, key: str) -> tuple[Change, str]:
    """The change as it may be shown, and a warning when a secret is involved."""
    old_shown, new_shown = redact(old, key), redact(new, key)
    note, warning = "", ""
    if old == SECRET_MARK and new not in (SECRET_MARK, ABSENT, None, COMPUTED_MARK):
        # A value that was a secret is the same secret in plaintext more often than not.
        new_shown, note = SECRET_MARK, "no longer a secret"
        warning = "is a secret in the base but plaintext in the head: keep it a Pulumi secret"
    elif new == SECRET_MARK and old not in (SECRET_MARK, ABSENT, None, COMPUTED_MARK):
        old_shown, note = SECRET_MARK, "now a secret"
    elif old_shown == new_shown:
        # Both masked by shape or key and still different: say so without showing either.
        note = "changed"
    if (
        new is not ABSENT
        and new != SECRET_MARK
        and _masked_count(new, key) > _masked_count(old, key)
        and not warning
    ):
        warning = "looks like a credential in plaintext in the head: make it a Pulumi secret"
    return Change(path, old_shown, new_shown, note), warning


def _changes(
    old: Mapping[str, Any], new: Mapping[str, Any], what: str, warnings: list[str]
) -> tuple[Change, ...]:
    changes = []
    for path, old_value, new_value, key in diff_values(dict(old), dict(new)):
        change, warning = _masked_change(path, old_value, new_value, key)
        changes.append(change)
        if warning:
            warnings.append(f"{what} `{path}` {warning}")
    return tuple(changes)


@dataclass
class _Matching:
    """Base resources matched to head resources by key, renames included."""

    base: Plan
    head: Plan
    head_of: dict[str, str] = field(default_factory=dict)  # base key -> head key

    def __post_init__(self) -> None:
        head_keys = {resource_key(r.urn) for r in self.head.resources}
        for resource in self.base.resources:
            key = resource_key(resource.urn)
            if key in head_keys:
                self.head_of[key] = key

    def base_key_in_head(self, urn: str) -> str:
        key = resource_key(urn)
        return self.head_of.get(key, key)

    def base_inputs(self, resource: PlanResource) -> Any:
        return _map_urns(resource.inputs, self.base_key_in_head)

    def group(self, resource: PlanResource, side: Literal["base", "head"]) -> tuple[str, str]:
        """Type and parent key (the base's parent seen through renames)."""
        if not resource.parent:
            return resource.type, STACK_KEY
        parent = self.base_key_in_head(resource.parent) if side == "base" else resource_key(resource.parent)
        return resource.type, parent


def _match_renames(matching: _Matching) -> dict[str, bool]:
    """Pair unmatched base and head resources as renames; base key -> same inputs."""
    renamed: dict[str, bool] = {}
    head_inputs = {resource_key(r.urn): _map_urns(r.inputs, resource_key) for r in matching.head.resources}

    def unmatched() -> tuple[list[PlanResource], list[PlanResource]]:
        taken = set(matching.head_of.values())
        gone = [r for r in matching.base.resources if resource_key(r.urn) not in matching.head_of]
        new = [r for r in matching.head.resources if resource_key(r.urn) not in taken]
        return gone, new

    progress = True
    while progress:
        progress = False
        # Certain: same type, same parent (through renames), same inputs. Base order
        # puts parents first, so a renamed component's children follow it.
        for old in unmatched()[0]:
            group, inputs = matching.group(old, "base"), matching.base_inputs(old)
            for new in unmatched()[1]:
                if matching.group(new, "head") == group and head_inputs[resource_key(new.urn)] == inputs:
                    matching.head_of[resource_key(old.urn)] = resource_key(new.urn)
                    renamed[resource_key(old.urn)] = True
                    progress = True
                    break
        # Likely: the only resource of its type and parent to go, and the only one to come.
        gone, new_ones = unmatched()
        for old in gone:
            group = matching.group(old, "base")
            olds = [r for r in gone if matching.group(r, "base") == group]
            news = [r for r in new_ones if matching.group(r, "head") == group]
            if len(olds) == 1 and len(news) == 1:
                matching.head_of[resource_key(old.urn)] = resource_key(news[0].urn)
                renamed[resource_key(old.urn)] = False
                progress = True
                break
    return renamed


# Input keys that carry user data: EC2 instances' userData / userDataBase64, launch templates' userData.
_USER_DATA_KEYS = ("userdata", "userdatabase64")


def readable_inputs(inputs: Mapping[str, Any], path: str = "") -> tuple[dict[str, Any], dict[str, str]]:
    """`inputs` with user data decoded to text (`readable_user_data`), and how, by input path.

    Decoded before masking and diffing, so a token inside base64 is masked and warned about,
    and the change reads as a line diff of the script.
    """
    out: dict[str, Any] = {}
    how: dict[str, str] = {}
    for key, value in inputs.items():
        sub = _join(path, key)
        if isinstance(value, str) and key.lower().replace("_", "") in _USER_DATA_KEYS:
            readable = readable_user_data(value)
            if readable is not None:
                out[key], how[sub] = readable.text, f"user data decoded from {readable.how}"
                continue
        if isinstance(value, dict):
            out[key], inner = readable_inputs(value, sub)
            how.update(inner)
            continue
        out[key] = value
    return out, how


def _with_notes(changes: tuple[Change, ...], notes: Mapping[str, str]) -> tuple[Change, ...]:
    return tuple(
        replace(change, note="; ".join(filter(None, (notes[change.path], change.note))))
        if change.path in notes
        else change
        for change in changes
    )


def diff_plans(
    base: Plan,
    head: Plan,
    base_check: Sequence[Violation] | None = None,
    head_check: Sequence[Violation] | None = None,
) -> PlanDiff:
    """Everything that differs from `base` to `head`, masked; policy changes when results are given."""
    matching = _Matching(base, head)
    renamed = _match_renames(matching)
    head_by_key = {resource_key(r.urn): r for r in head.resources}
    warnings: list[str] = []
    diffs: list[ResourceDiff] = []
    unchanged = 0
    for old in base.resources:
        key = resource_key(old.urn)
        if key not in matching.head_of:
            diffs.append(ResourceDiff("remove", old.type, old.name, old.urn))
            continue
        new = head_by_key[matching.head_of[key]]
        old_inputs, old_how = readable_inputs(matching.base_inputs(old))
        new_inputs, new_how = readable_inputs(_map_urns(new.inputs, resource_key))
        old_parent, new_parent = matching.group(old, "base")[1], matching.group(new, "head")[1]
        if old_parent != new_parent:
            # Shown as a change of its own, under a name no input can have.
            old_inputs["(parent)"], new_inputs["(parent)"] = old_parent, new_parent
        changes = _with_notes(
            _changes(old_inputs, new_inputs, f"`{new.name}` input", warnings), {**old_how, **new_how}
        )
        if key in renamed:
            diffs.append(
                ResourceDiff(
                    "rename",
                    new.type,
                    new.name,
                    new.urn,
                    old_name=old.name,
                    old_urn=old.urn,
                    same_inputs=renamed[key],
                    changes=changes,
                )
            )
        elif changes:
            diffs.append(ResourceDiff("update", new.type, new.name, new.urn, changes=changes))
        else:
            unchanged += 1
    matched_heads = set(matching.head_of.values())
    for new in head.resources:
        if resource_key(new.urn) not in matched_heads:
            diffs.append(ResourceDiff("add", new.type, new.name, new.urn))
            # An added resource's inputs are not listed, but a plaintext credential among them is.
            _changes({}, readable_inputs(new.inputs)[0], f"`{new.name}` input", warnings)
    outputs = _changes(base.outputs, head.outputs, "output", warnings)
    policies = None
    if head_check is not None:
        policies = diff_policies(base_check, head_check, matching.base_key_in_head)
    return PlanDiff(
        base_stack=base.stack,
        head_stack=head.stack,
        resources=tuple(diffs),
        unchanged=unchanged,
        outputs=outputs,
        warnings=tuple(dict.fromkeys(warnings)),
        policies=policies,
    )


def _masked_violation(violation: Violation) -> Violation:
    return Violation(violation.policy, violation.urn, violation.level, redact_text(violation.message))


def diff_policies(
    base: Sequence[Violation] | None,
    head: Sequence[Violation],
    base_key_in_head: Callable[[str], str] = resource_key,
) -> PolicyDiff:
    """Violations that are new, fixed or still there, by policy and resource (through renames)."""

    def failing(violations: Iterable[Violation]) -> list[Violation]:
        return [_masked_violation(v) for v in violations if v.level != "disabled"]

    head_failing = failing(head)
    if base is None:
        return PolicyDiff(
            newly_failing=(),
            fixed=(),
            still_failing=tuple(FailingPolicy(v) for v in head_failing),
            compared=False,
        )
    base_by_key: dict[tuple[str, str], Violation] = {}
    for violation in failing(base):
        base_by_key.setdefault((violation.policy, base_key_in_head(violation.urn)), violation)
    head_keys = set()
    newly_failing, still_failing = [], []
    for violation in head_failing:
        key = (violation.policy, resource_key(violation.urn))
        head_keys.add(key)
        if key in base_by_key:
            still_failing.append(FailingPolicy(violation, base_level=base_by_key[key].level))
        else:
            newly_failing.append(violation)
    fixed = [v for key, v in base_by_key.items() if key not in head_keys]
    return PolicyDiff(tuple(newly_failing), tuple(fixed), tuple(still_failing), compared=True)


# ---------------------------------------------------------------------------
# Rendering (every value in a PlanDiff is already masked)

_SYMBOL = {"add": "+", "remove": "-", "update": "~", "rename": ">"}
_MAX_VALUE_CHARS = 300


def _show(value: Any) -> str:
    if value is ABSENT:
        return "(absent)"
    if value in (SECRET_MARK, COMPUTED_MARK):
        return str(value)
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= _MAX_VALUE_CHARS else text[: _MAX_VALUE_CHARS - 3] + "..."


def _is_multiline(change: Change) -> bool:
    sides = [value for value in (change.old, change.new) if value is not ABSENT]
    return all(isinstance(value, str) for value in sides) and any("\n" in value for value in sides)


def _line_diff(change: Change) -> list[str]:
    old = change.old.splitlines() if isinstance(change.old, str) else []
    new = change.new.splitlines() if isinstance(change.new, str) else []
    return list(difflib.unified_diff(old, new, "base", "head", n=2, lineterm=""))[2:]


def _summary_parts(diff: PlanDiff) -> list[str]:
    parts = [
        f"{diff.count(kind)} renamed" if kind == "rename" else f"{diff.count(kind)} to {kind}"
        for kind in ("add", "update", "remove", "rename")
        if diff.count(kind)
    ]
    if diff.outputs:
        parts.append(f"{len(diff.outputs)} output{'s' if len(diff.outputs) != 1 else ''} changed")
    if not parts:
        parts.append("no changes")
    if diff.unchanged:
        parts.append(f"{diff.unchanged} unchanged")
    return parts


def _policy_summary(policies: PolicyDiff) -> str:
    if not policies.compared:
        return f"{len(policies.still_failing)} failing (no base results to compare)"
    parts = [f"{len(policies.newly_failing)} newly failing", f"{len(policies.fixed)} fixed"]
    if policies.new_mandatory:
        parts[0] += f" ({policies.new_mandatory} now mandatory)"
    parts.append(f"{len(policies.still_failing)} still failing")
    return ", ".join(parts)


def summary_line(diff: PlanDiff) -> str:
    line = ", ".join(_summary_parts(diff))
    if diff.policies is not None:
        line += f"; policies: {_policy_summary(diff.policies)}"
    return line


def _stacks(diff: PlanDiff) -> str:
    if diff.base_stack == diff.head_stack:
        return diff.head_stack
    return f"{diff.base_stack} -> {diff.head_stack}"


def _rename_advice(resource: ResourceDiff) -> str:
    how = "same inputs" if resource.same_inputs else "the only one of its type and parent to go and to come"
    return (
        f"renamed from {resource.old_name} ({how}): Pulumi replaces it (creates {resource.name}, deletes "
        f"{resource.old_name}) unless {resource.name} is declared with "
        f'opts=pulumi.ResourceOptions(aliases=[pulumi.Alias(name="{resource.old_name}")])'
    )


def _resource_label(violation: Violation) -> str:
    key = resource_key(violation.urn)
    return key if key else STACK_KEY


def format_text(diff: PlanDiff) -> str:
    lines = [f"Stack {_stacks(diff)}: {summary_line(diff)}"]
    for resource in diff.resources:
        lines.append("")
        lines.append(f"{_SYMBOL[resource.kind]} {resource.type}  {resource.name}")
        if resource.kind == "rename":
            lines.append(f"    {_rename_advice(resource)}")
        for change in resource.changes:
            lines.extend(_text_change(change, "    "))
    if diff.outputs:
        lines += ["", "Outputs:"]
        for change in diff.outputs:
            lines.extend(_text_change(change, "    "))
    if diff.policies is not None:
        lines += ["", f"Policies: {_policy_summary(diff.policies)}"]
        for title, violations in (
            ("newly failing", diff.policies.newly_failing),
            ("fixed", diff.policies.fixed),
            ("still failing", tuple(f.violation for f in diff.policies.still_failing)),
        ):
            for violation in violations:
                lines.append(
                    f"    {title}: {violation.level} {violation.policy} {_resource_label(violation)}: "
                    f"{violation.message}"
                )
    if diff.warnings:
        lines += ["", "Warnings:"]
        lines.extend(f"    ! {warning}" for warning in diff.warnings)
    return "\n".join(lines) + "\n"


def _text_change(change: Change, indent: str) -> list[str]:
    note = f"  ({change.note})" if change.note else ""
    if _is_multiline(change):
        return [f"{indent}{change.path}: {change.kind}{note}"] + [
            f"{indent}    {line}" for line in _line_diff(change)
        ]
    marker = {"added": "+", "removed": "-", "changed": "~"}[change.kind]
    if change.kind == "added":
        return [f"{indent}{marker} {change.path}: {_show(change.new)}{note}"]
    if change.kind == "removed":
        return [f"{indent}{marker} {change.path}: {_show(change.old)}{note}"]
    return [f"{indent}{marker} {change.path}: {_show(change.old)} -> {_show(change.new)}{note}"]


def _code(text: str) -> str:
    """Inline code safe in a table cell: HTML-escaped, pipes and newlines neutralised."""
    return "<code>" + html.escape(text).replace("|", "&#124;").replace("\n", "<br>") + "</code>"


def _fence(text: str) -> str:
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def format_markdown(diff: PlanDiff) -> str:
    """One collapsible section: open when anything changed or a policy newly fails."""
    newly_failing = diff.policies is not None and bool(diff.policies.newly_failing)
    is_open = " open" if diff.has_changes or newly_failing else ""
    lines = [
        f"<details{is_open}><summary><b>{html.escape(_stacks(diff))}</b>: "
        f"{html.escape(summary_line(diff))}</summary>",
        "",
    ]
    if diff.resources:
        lines += ["| | Resource | Type |", "| --- | --- | --- |"]
        for resource in diff.resources:
            name = _code(resource.name)
            if resource.kind == "rename":
                name = f"{_code(resource.old_name)} → {name}"
            lines.append(f"| {_SYMBOL[resource.kind]} {resource.kind} | {name} | {_code(resource.type)} |")
        lines.append("")
    for resource in diff.resources:
        if resource.kind == "rename":
            lines += [f"> **Renamed** {_code(resource.name)}: {html.escape(_rename_advice(resource))}", ""]
        if resource.changes:
            lines += [f"**{_code(resource.name)}** ({_code(resource.type)})", ""]
            lines += _markdown_changes(resource.changes, "Input")
    if diff.outputs:
        lines += ["#### Outputs", ""]
        lines += _markdown_changes(diff.outputs, "Output")
    if diff.policies is not None:
        lines += _markdown_policies(diff.policies)
    if diff.warnings:
        lines += ["#### Warnings", ""]
        lines += [f"- ⚠️ {html.escape(warning)}" for warning in diff.warnings]
        lines.append("")
    lines += ["</details>", ""]
    return "\n".join(lines)


def _markdown_changes(changes: Sequence[Change], what: str) -> list[str]:
    lines = [f"| {what} | Base | Head |", "| --- | --- | --- |"]
    long_ones = []
    for change in changes:
        note = f" ({html.escape(change.note)})" if change.note else ""
        if _is_multiline(change):
            long_ones.append(change)
            lines.append(f"| {_code(change.path)} | multi-line, see below | {change.kind}{note} |")
            continue
        old = "" if change.old is ABSENT else _code(_show(change.old))
        new = "" if change.new is ABSENT else _code(_show(change.new))
        lines.append(f"| {_code(change.path)} | {old} | {new}{note} |")
    lines.append("")
    for change in long_ones:
        body = "\n".join(_line_diff(change))
        fence = _fence(body)
        lines += [
            f"<details><summary>{_code(change.path)}</summary>",
            "",
            f"{fence}diff",
            body,
            fence,
            "</details>",
            "",
        ]
    return lines


def _policy_rows(failing: Iterable[tuple[Violation, str]]) -> list[str]:
    """A table of (violation, its level in the base or "")."""
    rows = ["| Level | Policy | Resource | Message |", "| --- | --- | --- | --- |"]
    for violation, base_level in failing:
        level = violation.level
        if base_level and base_level != level:
            level += f" (was {base_level})"
        message = html.escape(violation.message).replace("|", "&#124;").replace("\n", "<br>")
        rows.append(
            f"| {level} | {_code(violation.policy)} | {_code(_resource_label(violation))} | {message} |"
        )
    return [*rows, ""]


def _markdown_policies(policies: PolicyDiff) -> list[str]:
    lines = ["#### Policies", "", html.escape(_policy_summary(policies)), ""]
    if policies.newly_failing:
        lines += ["**Newly failing**", "", *_policy_rows((v, "") for v in policies.newly_failing)]
    if policies.fixed:
        lines += ["**Fixed**", "", *_policy_rows((v, "") for v in policies.fixed)]
    if policies.still_failing:
        title = "Still failing" if policies.compared else "Failing"
        lines += [f"<details><summary>{title} ({len(policies.still_failing)})</summary>", ""]
        lines += _policy_rows((f.violation, f.base_level) for f in policies.still_failing)
        lines += ["</details>", ""]
    return lines


def _json_change(change: Change) -> dict[str, Any]:
    row: dict[str, Any] = {"path": change.path, "kind": change.kind}
    if change.old is not ABSENT:
        row["old"] = change.old
    if change.new is not ABSENT:
        row["new"] = change.new
    if change.note:
        row["note"] = change.note
    if _is_multiline(change):
        # The same unified line diff text and markdown show; old/new stay for tools.
        row["diff"] = _line_diff(change)
    return row


def _json_violation(violation: Violation) -> dict[str, Any]:
    return {
        "policy": violation.policy,
        "urn": violation.urn,
        "level": violation.level,
        "message": violation.message,
    }


def to_json_document(diff: PlanDiff) -> dict[str, Any]:
    resources = []
    for resource in diff.resources:
        row: dict[str, Any] = {
            "kind": resource.kind,
            "type": resource.type,
            "name": resource.name,
            "urn": resource.urn,
        }
        if resource.kind == "rename":
            row.update(old_name=resource.old_name, old_urn=resource.old_urn, same_inputs=resource.same_inputs)
        if resource.changes:
            row["changes"] = [_json_change(change) for change in resource.changes]
        resources.append(row)
    policies = None
    if diff.policies is not None:
        policies = {
            "compared": diff.policies.compared,
            "newly_failing": [_json_violation(v) for v in diff.policies.newly_failing],
            "fixed": [_json_violation(v) for v in diff.policies.fixed],
            "still_failing": [
                {**_json_violation(f.violation), "base_level": f.base_level or None}
                for f in diff.policies.still_failing
            ],
        }
    return {
        "base_stack": diff.base_stack,
        "head_stack": diff.head_stack,
        "summary": {
            "add": diff.count("add"),
            "update": diff.count("update"),
            "remove": diff.count("remove"),
            "rename": diff.count("rename"),
            "unchanged": diff.unchanged,
            "outputs_changed": len(diff.outputs),
        },
        "resources": resources,
        "outputs": [_json_change(change) for change in diff.outputs],
        "policies": policies,
        "warnings": list(diff.warnings),
    }


def format_json(diff: PlanDiff) -> str:
    return json.dumps(to_json_document(diff), indent=2) + "\n"


def render(diff: PlanDiff, fmt: str) -> str:
    if fmt == "json":
        return format_json(diff)
    if fmt == "markdown":
        return format_markdown(diff)
    return format_text(diff)
