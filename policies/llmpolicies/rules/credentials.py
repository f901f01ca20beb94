"""Credentials: the Hugging Face token is a Pulumi secret wherever it must travel, and nowhere else."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)

from llmpolicies import props as p
from llmpolicies.secrets import is_secret
from llmpolicies.servers import USER_DATA_PROPERTIES, user_data_views

STACK = "pulumi:pulumi:Stack"
SSM_PARAMETER = "aws:ssm/parameter:Parameter"
# Hugging Face user access tokens: `hf_` then 30+ letters and digits (34 today).
HF_TOKEN_PATTERN = re.compile(r"hf_[A-Za-z0-9]{30,}")
TOKEN_VARIABLES = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")
_TOKEN_KEYS = frozenset({"hftoken", "huggingfacehubtoken"})
# `HF_TOKEN=value` in a script, an env file, a systemd Environment= line or a container env entry.
_ASSIGNMENT = re.compile(
    r"(?<![A-Za-z0-9_])(HF_TOKEN|HUGGING_FACE_HUB_TOKEN)=(\"[^\"]*\"|'[^']*'|[^\s;&|)]*)"
)
# Readable by anyone who can list the resource, secret or not.
_METADATA_KEYS = frozenset({"tags", "tagsAll", "labels"})


@dataclass(frozen=True)
class Finding:
    where: str
    what: str
    kind: str  # "plaintext", "metadata", "user data", "output"


def is_token_key(key: str) -> bool:
    """HF_TOKEN, hf_token, hfToken, HUGGING_FACE_HUB_TOKEN... (exact names, not hfTokenSecretArn)."""
    return re.sub(r"[^a-z]", "", key.lower()) in _TOKEN_KEYS


def literal_value(value: str) -> bool:
    """A value written out, as opposed to empty or expanded at run time (`$HF_TOKEN`, `$(aws ...)`)."""
    value = value.strip().strip("\"'")
    return bool(value) and "$" not in value and "`" not in value


def _revealed_string(value: Any) -> str | None:
    value = p.reveal(value)
    return value if isinstance(value, str) and value and not p.is_unknown(value) else None


def scan(value: Any, where: str, kind: str, *, secret: bool = False) -> Iterator[Finding]:
    """Plaintext tokens under `value`. In tags and labels (`kind="metadata"`) being a secret does not help."""
    if is_secret(value):
        yield from scan(value.value, where, kind, secret=True)
        return
    protected = secret and kind != "metadata"
    if isinstance(value, dict):
        if kind == "metadata" and isinstance(value.get("key"), str) and is_token_key(value["key"]):
            yield Finding(where, f"the tag {value['key']} holds the token", kind)
            return
        entry_name = value.get("name")
        named = isinstance(entry_name, str) and is_token_key(entry_name)
        exposed = not (protected or is_secret(value.get("value"))) or kind == "container definition"
        if named and exposed and _revealed_string(value.get("value")):
            yield Finding(where, f"the environment entry {entry_name} is given a literal value", kind)
            return
        for key, item in value.items():
            path = f"{where}.{key}" if where else str(key)
            item_kind = "metadata" if key in _METADATA_KEYS else kind
            if is_token_key(str(key)) and _revealed_string(item):
                if item_kind == "metadata" or not (protected or is_secret(item)):
                    yield Finding(path, f"{key} is given a plaintext value", item_kind)
                continue
            yield from scan(item, path, item_kind, secret=secret)
        return
    if isinstance(value, list):
        for index, item in enumerate(value):
            yield from scan(item, f"{where}[{index}]", kind, secret=secret)
        return
    if isinstance(value, str) and value.lstrip()[:1] in ("[", "{") and kind != "container definition":
        # JSON in a string (ECS container_definitions, a container spec): environment entries as
        # {"name": "HF_TOKEN", "value": "..."}; the service shows it to anyone who can describe it.
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict | list):
            yield from scan(parsed, where, "container definition")
            return
    if not isinstance(value, str) or p.is_unknown(value) or protected:
        return
    if HF_TOKEN_PATTERN.search(value):
        yield Finding(where, "a Hugging Face token (hf_...) appears in plaintext", kind)
        return
    name, equals, rest = value.partition("=")
    if equals and name in TOKEN_VARIABLES and literal_value(rest):
        yield Finding(where, f"{name}=... sets the token in plaintext", kind)


def scan_user_data(resource_type: str, props: Any) -> Iterator[Finding]:
    """User data as the instance reads it (decoded), secret or not: EC2 shows it to anyone allowed to look."""
    for view in user_data_views(resource_type, props):
        if view.user_data is None:
            continue
        for document in view.user_data.documents:
            where = view.property_name if document.origin == view.property_name else document.origin
            if HF_TOKEN_PATTERN.search(document.text):
                yield Finding(
                    where, "a Hugging Face token (hf_...) is written into the user data", "user data"
                )
                continue
            for match in _ASSIGNMENT.finditer(document.text):
                if literal_value(match.group(2)):
                    yield Finding(
                        where, f"{match.group(1)} is set to a literal value in the user data", "user data"
                    )
                    break


def scan_parameter(props: Any) -> Iterator[Finding]:
    """An SSM parameter holding the token must be a SecureString: a String is stored unencrypted in AWS
    (the SDK marks `value` secret, which only protects Pulumi's state)."""
    kind = p.get(props, "type")
    if kind == "SecureString":
        return
    name = str(p.get(props, "name") or "")
    value = _revealed_string(p.get(props, "value")) or _revealed_string(p.get(props, "insecureValue")) or ""
    named_token = is_token_key(name.rstrip("/").rsplit("/", 1)[-1]) if name else False
    if named_token or HF_TOKEN_PATTERN.search(value):
        yield Finding(
            "type",
            f"the SSM parameter {name or '(unnamed)'} holds the token as a {kind or 'String'}",
            "ssm",
        )


def findings(resource_type: str, props: Any) -> list[Finding]:
    if resource_type == SSM_PARAMETER:
        return list(scan_parameter(props))
    user_data_names = {name for name, _ in USER_DATA_PROPERTIES.get(resource_type, ())}
    plain = p.raw(props)
    results: list[Finding] = []
    kind = "output" if resource_type == STACK else "plaintext"
    if isinstance(plain, dict):
        for key, value in plain.items():
            if key in user_data_names:
                continue
            results.extend(scan({key: value}, "", kind))
    results.extend(scan_user_data(resource_type, props))
    return results


_FIXES = {
    "plaintext": "make it a Pulumi secret (`pulumi config set --secret hfToken`, `pulumi.Output.secret`) "
    "so it is encrypted in state and masked in output",
    "output": "export it with pulumi.Output.secret, or better not at all",
    "container definition": "pass it as a secret (ECS: `secrets` with valueFrom a Secrets Manager or "
    "SecureString parameter ARN), never in `environment`: the definition is readable by anyone who can "
    "describe it, secret in Pulumi or not",
    "ssm": 'use type="SecureString" (encrypted with KMS): a String parameter is stored and shown in '
    "plaintext",
    "metadata": "remove it: tags and labels are readable by anyone who can list the resource, secret or not",
    "user data": "store the token in AWS Secrets Manager and fetch it at boot (aws secretsmanager "
    "get-secret-value) into the container's environment; user data is readable through the EC2 API and "
    "the instance metadata service, secret or not",
}


def _validate(args: StackValidationArgs, report: ReportViolation) -> None:
    for resource in args.resources:
        for finding in findings(resource.resource_type, resource.props):
            subject = f"stack output {finding.where}" if finding.kind == "output" else finding.where
            report(f"{subject}: {finding.what}: {_FIXES[finding.kind]}", resource.urn)


hf_token_secret = StackValidationPolicy(
    name="hf-token-secret",
    display_name="Hugging Face token stays secret",
    description=(
        "A Hugging Face token (hf_ followed by 30+ letters and digits, or any value given to HF_TOKEN / "
        "HUGGING_FACE_HUB_TOKEN) never appears in plaintext in user data, container environment or "
        "arguments, ECS/container JSON environments, SSM String parameters, tags, or stack outputs; where a "
        "resource must carry it, the value is a Pulumi secret."
    ),
    validate=_validate,
    enforcement_level=EnforcementLevel.MANDATORY,
    severity=Severity.CRITICAL,
    tags=["security", "secrets"],
    remediation_steps=(
        "Set the token with `pulumi config set --secret hfToken hf_...` and read it with "
        "config.require_secret. Give it to containers as a secret environment entry; on EC2, put it in a "
        "Secrets Manager secret version (secret_string is a Pulumi secret) and fetch it at boot by name. "
        "Never write it into user data, tags, labels or a plain stack output."
    ),
)

POLICIES = [hf_token_secret]
