"""User data as a reviewer reads it: base64, gzip and MIME multipart taken apart into text.

Launch templates carry user data base64-encoded, sometimes gzipped, sometimes a
MIME multipart of a cloud-config and a shell script (cloud-init's format). A
change to it shows as two long, identical-looking base64 strings unless it is
decoded; `readable_user_data` turns it into lines a line diff can compare, so a
review sees `--ipc=host` go or `curl ... | sh` arrive.

Decoding is bounded: gzip output stops at `MAX_DECODED_BYTES` (a gzip bomb
expands a thousandfold), and MIME nesting at `MAX_MIME_DEPTH`.
"""

from __future__ import annotations

import base64
import binascii
import email
import email.message
import email.policy
import zlib
from dataclasses import dataclass

# EC2 takes at most 16 KiB of user data; decoded scripts stay far below this.
MAX_DECODED_BYTES = 1024 * 1024
MAX_MIME_DEPTH = 4


@dataclass(frozen=True)
class ReadableUserData:
    text: str
    # How the text was got, outermost first: "base64", "gzip", "MIME multipart".
    layers: tuple[str, ...]

    @property
    def how(self) -> str:
        return " + ".join(self.layers) if self.layers else "plain text"


def _gunzip(raw: bytes) -> bytes | None:
    decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = decompressor.decompress(raw, MAX_DECODED_BYTES + 1)
    except zlib.error:
        return None
    return out if len(out) <= MAX_DECODED_BYTES else None


def _base64(text: str) -> bytes | None:
    compact = "".join(text.split())
    if len(compact) < 8 or len(compact) % 4:
        return None
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        return None


def _text(raw: bytes) -> str | None:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    printable = all(char.isprintable() or char in "\n\r\t" for char in text)
    return text if printable else None


def _mime_parts(text: str, depth: int) -> str | None:
    """Each part of a multipart document as a header line and its decoded text."""
    if depth > MAX_MIME_DEPTH or "multipart/" not in text[:4096].lower():
        return None
    message = email.message_from_string(text, policy=email.policy.compat32)
    if not message.is_multipart():
        return None
    lines: list[str] = []
    payload = message.get_payload()
    parts = payload if isinstance(payload, list) else []
    for index, part in enumerate(parts, start=1):
        if not isinstance(part, email.message.Message):
            continue
        name = part.get_filename() or part.get_param("name") or ""
        label = f"{part.get_content_type()}" + (f" {name}" if isinstance(name, str) and name else "")
        lines.append(f"--- part {index}: {label} ---")
        if part.is_multipart():
            inner = _mime_parts(part.as_string(), depth + 1)
            lines.append(inner if inner is not None else "(a multipart part that could not be read)")
            continue
        raw = part.get_payload(decode=True)
        body = raw if isinstance(raw, bytes) else b""
        if body[:2] == b"\x1f\x8b":
            body = _gunzip(body) or b""
        decoded = _text(body)
        lines.append(decoded.rstrip("\n") if decoded is not None else f"({len(body)} bytes, not text)")
    return "\n".join(lines) + "\n"


def readable_user_data(value: str) -> ReadableUserData | None:
    """The text a user-data value stands for, and how it was encoded; None when it is plain already
    (or not decodable, which a reviewer then sees as it is)."""
    layers: list[str] = []
    text = value
    raw = _base64(value)
    if raw is not None:
        layers.append("base64")
        if raw[:2] == b"\x1f\x8b":
            raw = _gunzip(raw)
            if raw is None:
                return None
            layers.append("gzip")
        decoded = _text(raw)
        if decoded is None:
            return None
        text = decoded
    parts = _mime_parts(text, 0)
    if parts is not None:
        layers.append("MIME multipart")
        text = parts
    return ReadableUserData(text, tuple(layers)) if layers else None
