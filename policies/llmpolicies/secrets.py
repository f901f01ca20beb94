"""Let policies tell a Pulumi secret from a plaintext value.

The engine sends a policy pack every property with secrets still marked
(`MarshalProperties(..., KeepSecrets: true)` in pulumi's analyzer plugin), but
pulumi-policy's Python `Analyze` and `AnalyzeStack` unwrap them before a policy
sees them, so "is this token a secret?" cannot be asked (pulumi/pulumi-policy#241,
open). `install()` swaps the function those two calls use for one that keeps
each secret as a `pulumi_policy.Secret` wrapper, the type the SDK already uses
for secrets in remediations; the remediation path keeps the SDK's own function.

It is a patch on pulumi-policy's module (pinned in requirements.txt), and it
fails closed: if an SDK release stops calling `deserialize_properties` from
`pulumi_policy.policy`, secrets arrive unwrapped, read as plaintext, and
`hf-token-secret` reports them rather than letting a plaintext token through.
"""

from __future__ import annotations

from typing import Any

import pulumi_policy.policy as _sdk_policy
from pulumi_policy import Secret
from pulumi_policy.deserialize import SPECIAL_SECRET_SIG, SPECIAL_SIG_KEY

_sdk_deserialize_properties = _sdk_policy.deserialize_properties


def _keep_secrets(value: Any) -> Any:
    if isinstance(value, list):
        return [_keep_secrets(item) for item in value]
    if isinstance(value, dict):
        signature = value.get(SPECIAL_SIG_KEY)
        if signature == SPECIAL_SECRET_SIG:
            return Secret(_keep_secrets(value.get("value")))
        if signature is not None:
            # Assets and archives: the SDK's own reading.
            return _sdk_deserialize_properties({"value": value})["value"]
        return {key: _keep_secrets(item) for key, item in value.items()}
    return value


def deserialize_keeping_secrets(props: dict[str, Any], proxy_secrets: bool = False) -> dict[str, Any]:
    """pulumi_policy's `deserialize_properties`, except that secrets stay wrapped in `Secret`."""
    if proxy_secrets:
        return _sdk_deserialize_properties(props, True)
    return {key: _keep_secrets(value) for key, value in props.items()}


def install() -> None:
    """Make the SDK's Analyze/AnalyzeStack hand policies `Secret`-wrapped secrets."""
    _sdk_policy.deserialize_properties = deserialize_keeping_secrets


def is_secret(value: Any) -> bool:
    return isinstance(value, Secret)
