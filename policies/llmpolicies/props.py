"""Resource properties as plain Python values, with secrets and unknowns made explicit.

The policy SDK hands policies its properties behind proxies that raise on any
value unknown during preview. Policies here want to decide for themselves what
an unknown means (a security group id is always unknown in preview; user data
should not be), so they read the plain values underneath: unknown values stay
as the engine's sentinel strings (`is_unknown`), and secrets stay wrapped in
`pulumi_policy.Secret` (see `secrets.py`) until a policy chooses to `reveal` them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import Secret
from pulumi_policy.proxy import (
    UNKNOWN_ARCHIVE_VALUE,
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_ASSET_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
)

_UNKNOWNS = frozenset(
    {
        UNKNOWN_ARCHIVE_VALUE,
        UNKNOWN_ARRAY_VALUE,
        UNKNOWN_ASSET_VALUE,
        UNKNOWN_BOOLEAN_VALUE,
        UNKNOWN_NUMBER_VALUE,
        UNKNOWN_OBJECT_VALUE,
        UNKNOWN_STRING_VALUE,
    }
)
_PROXIES = ("_DictProxy", "_ListProxy", "_DictSecretsProxy", "_ListSecretsProxy")


def is_unknown(value: Any) -> bool:
    """A value the engine only knows after deploy (an id, an ARN, anything computed from one)."""
    if isinstance(value, Secret):
        return is_unknown(value.value)
    return isinstance(value, str) and value in _UNKNOWNS


def raw(value: Any) -> Any:
    """Plain dicts and lists under the SDK's proxies; Secret wrappers and unknown sentinels kept."""
    if type(value).__name__ in _PROXIES:
        value = value["__target"]
    if isinstance(value, Secret):
        return Secret(raw(value.value))
    if isinstance(value, Mapping):
        return {key: raw(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [raw(item) for item in value]
    return value


def reveal(value: Any) -> Any:
    """Like `raw`, with secrets unwrapped: for checks where secrecy does not matter."""
    value = raw(value)
    while isinstance(value, Secret):
        value = value.value
    if isinstance(value, dict):
        return {key: reveal(item) for key, item in value.items()}
    if isinstance(value, list):
        return [reveal(item) for item in value]
    return value


def known(value: Any) -> Any:
    """The revealed value, or None when it is absent or unknown during preview."""
    value = reveal(value)
    return None if value is None or is_unknown(value) else value


def get(props: Any, *path: str | int) -> Any:
    """A nested value (`get(props, "metadataOptions", "httpTokens")`), revealed; None if absent or unknown."""
    value = reveal(props)
    for step in path:
        if isinstance(step, int):
            if not isinstance(value, list) or step >= len(value):
                return None
            value = value[step]
        else:
            if not isinstance(value, dict):
                return None
            value = value.get(step)
    return None if is_unknown(value) else value


def as_int(value: Any) -> int | None:
    """Numbers arrive as floats over gRPC (8000.0); strings such as "300" occur too."""
    value = known(value)
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def as_list(value: Any) -> list[Any]:
    value = known(value)
    return value if isinstance(value, list) else []


def as_str(value: Any) -> str | None:
    value = known(value)
    return value if isinstance(value, str) else None


# One rule for values unknown during preview, in every policy: never a silent pass. The policy reports
# "cannot verify at preview" at its own enforcement level (configurable per stack like any level).
CANNOT_VERIFY = "cannot verify at preview"


def cannot_verify(what: str, fix: str) -> str:
    """The message for a setting a policy needs that is computed at deploy time."""
    return (
        f"{CANNOT_VERIFY}: {what} is computed at deploy time (from another resource's output or inside "
        f"apply()), so no review can see it: {fix}"
    )


def is_unknown_at(props: Any, *path: str) -> bool:
    """The value at `path` (or the object holding it) is unknown during preview."""
    value = raw(props)
    for step in path:
        if is_unknown(value):
            return True
        if not isinstance(value, dict):
            return False
        value = value.get(step)
    return is_unknown(value)
