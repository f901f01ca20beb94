"""Example values left in a stack file that is about to be deployed.

The example stacks carry values that plan fine offline but deploy something useless or
nothing at all: documentation address ranges (nobody's clients call from them), AWS's
documentation account 123456789012 in ARNs (a certificate nobody owns), and `secure:`
placeholders no key decrypts (`pulumi up` stops on them, or worse, a copy of the file with a
real salt fails later). `llmdeploy plan` prints one warning per value, so the gap between
"plans" and "deploys" shows before `pulumi up`.

Pure: takes the parsed stack file, returns the findings.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

# RFC 5737 (IPv4) and RFC 3849 (IPv6): reserved for documentation, routed nowhere.
DOCUMENTATION_NETWORKS = (
    ipaddress.ip_network("192.0.2.0/24"),
    ipaddress.ip_network("198.51.100.0/24"),
    ipaddress.ip_network("203.0.113.0/24"),
    ipaddress.ip_network("2001:db8::/32"),
)
# AWS's own documentation account ID: an ARN in it names a resource nobody owns.
DOCUMENTATION_ACCOUNT = "123456789012"
# Pulumi's passphrase secrets provider writes `v1:<nonce>:<ciphertext>`, both base64, the nonce
# 12 bytes (AES-256-GCM), the ciphertext at least the 16-byte GCM tag; its salt lives in the
# stack file as `encryptionsalt`. Other providers keep their key reference there as
# `secretsprovider`/`encryptedkey` (and the Pulumi Cloud service keeps none).
PASSPHRASE_PREFIX = "v1:"
GCM_NONCE_BYTES = 12
GCM_TAG_BYTES = 16


@dataclass(frozen=True)
class ExampleValue:
    key: str
    found: str
    why: str
    fix: str

    def line(self, file_name: str) -> str:
        return f"warning: {file_name}: {self.key} is {self.found}, {self.why}: {self.fix}"


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _documentation_network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        network = ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None
    for documentation in DOCUMENTATION_NETWORKS:
        if network.version == documentation.version and network.subnet_of(documentation):  # type: ignore[arg-type]
            return documentation
    return None


def _b64(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def is_placeholder_ciphertext(ciphertext: str, has_passphrase_salt: bool) -> bool:
    """True when no passphrase decrypts `ciphertext` (a `secure:` value in the stack file).

    Only passphrase-provider values (`v1:` prefixed) are judged: without the stack's
    `encryptionsalt` no key exists for them, and a malformed nonce or ciphertext never decrypts.
    """
    if not ciphertext.startswith(PASSPHRASE_PREFIX):
        return False
    parts = ciphertext[len(PASSPHRASE_PREFIX) :].split(":")
    if len(parts) != 2:
        return True
    nonce, sealed = (_b64(part) for part in parts)
    if nonce is None or sealed is None:
        return True
    return len(nonce) != GCM_NONCE_BYTES or len(sealed) < GCM_TAG_BYTES or not has_passphrase_salt


def _secure_values(value: Any) -> Iterator[str]:
    if isinstance(value, Mapping):
        if set(value) == {"secure"}:
            yield str(value["secure"])
            return
        for item in value.values():
            yield from _secure_values(item)
    elif isinstance(value, list):
        for item in value:
            yield from _secure_values(item)


def example_values(stack_file: Mapping[str, Any]) -> list[ExampleValue]:
    """Every example value in a parsed `Pulumi.<stack>.yaml`, in the file's key order."""
    config = stack_file.get("config") or {}
    if not isinstance(config, Mapping):
        return []
    has_salt = bool(stack_file.get("encryptionsalt"))
    found: list[ExampleValue] = []
    for key, value in config.items():
        key = str(key)
        for secure in _secure_values(value):
            if is_placeholder_ciphertext(secure, has_salt):
                name = key.split(":", 1)[-1]
                found.append(
                    ExampleValue(
                        key,
                        "a secure: placeholder",
                        "which no key decrypts (pulumi up stops on it)",
                        f"pulumi config set --secret {name} ...",
                    )
                )
        for text in _strings(value):
            network = _documentation_network(text)
            if network is not None:
                rfc = "RFC 3849" if network.version == 6 else "RFC 5737"
                found.append(
                    ExampleValue(
                        key,
                        text,
                        f"a documentation range ({rfc}) no client calls from",
                        "set the address ranges your clients use",
                    )
                )
            elif text.startswith("arn:") and f":{DOCUMENTATION_ACCOUNT}:" in text:
                found.append(
                    ExampleValue(
                        key,
                        text,
                        f"an example ARN in AWS's documentation account {DOCUMENTATION_ACCOUNT}",
                        "set the ARN of your own resource",
                    )
                )
    return found
