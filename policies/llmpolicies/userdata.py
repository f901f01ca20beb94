"""EC2 user data as the instance reads it: every script, file and `docker run` inside.

User data reaches the policy in the shapes people actually write it:
base64 (launch templates, `user_data_base64`), gzip, MIME multipart
(`Content-Type: multipart/mixed`, each part with its own transfer encoding),
cloud-init cloud-config (`runcmd`, `bootcmd`, `write_files` with their
`b64`/`gz+b64` encodings), `#cloud-config-archive`, and shell scripts that
write systemd units and env files with here-documents. Each layer is undone
here; what is left is text, commands and written files. Pure functions: no I/O.
"""

from __future__ import annotations

import base64
import binascii
import email
import email.policy
import functools
import gzip
import shlex
import zlib
from dataclasses import dataclass, field
from typing import Any

import yaml

from llmpolicies.dockerrun import DockerRun, find_docker_runs, parse_env_file
from llmpolicies.shell import FileWrite, ParsedScript, parse_script, report_unreadable_runs, written_files

_GZIP_MAGIC = b"\x1f\x8b"
_MAX_DEPTH = 8


@dataclass(frozen=True)
class Document:
    """One decoded piece of user data: a script, a cloud-config, a MIME part or a written file."""

    origin: str
    text: str


@dataclass
class UserData:
    documents: list[Document] = field(default_factory=list)
    script: ParsedScript = field(default_factory=ParsedScript)
    # What could not be read; the policies say so rather than pass silently.
    problems: list[str] = field(default_factory=list)

    @property
    def files(self) -> dict[str, FileWrite]:
        return written_files(self.script.writes)

    @functools.cached_property
    def docker_runs(self) -> list[DockerRun]:
        """Each `docker run`, with the variables of its `--env-file`s (when the script wrote them) added."""
        files = self.files
        runs = find_docker_runs(self.script.commands)
        for run in runs:
            for path in run.env_files:
                written = files.get(path)
                if written is not None:
                    run.env.extend(parse_env_file(written.content, written.expands))
        return runs


def read_user_data(raw: str, *, base64_encoded: bool, origin: str = "user data") -> UserData:
    """Decode user data as given to EC2 (`base64_encoded` for launch templates and `user_data_base64`).

    Every policy reads the user data of every resource it sees: each distinct text is read once per pack
    process and the same UserData is given to every caller, who must treat it as read-only."""
    return _read_user_data(raw, base64_encoded, origin)


@functools.lru_cache(maxsize=64)
def _read_user_data(raw: str, base64_encoded: bool, origin: str) -> UserData:
    result = UserData()
    if base64_encoded:
        try:
            data = base64.b64decode("".join(raw.split()), validate=True)
        except (binascii.Error, ValueError):
            result.problems.append(f"{origin} is not base64, which this property requires: base64-encode it")
            data = raw.encode()
    else:
        data = raw.encode()
    _read_layer(data, origin, None, result, 0)
    # A file one part writes (cloud-config write_files) may be run by another (runcmd).
    report_unreadable_runs(result.script)
    return result


def _read_layer(data: bytes, origin: str, content_type: str | None, result: UserData, depth: int) -> None:
    if depth > _MAX_DEPTH:
        result.problems.append(f"{origin}: nested too deeply to read: flatten it")
        return
    if data[:2] == _GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error):
            result.problems.append(f"{origin}: gzip data that does not decompress: compress it again")
            return
        origin = f"{origin} (gzip)"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        result.problems.append(
            f"{origin}: binary data that is neither gzip nor UTF-8 text: write text or gzip"
        )
        return
    head = text.lstrip()[:200].lower()
    if (content_type or "").startswith("multipart/") or head.startswith(("content-type:", "mime-version:")):
        _read_mime(text, origin, result, depth)
    elif content_type == "text/cloud-config" or head.startswith("#cloud-config-archive"):
        if head.startswith("#cloud-config-archive"):
            _read_cloud_config_archive(text, origin, result, depth)
        else:
            _read_cloud_config(text, origin, result, depth)
    elif head.startswith("#cloud-config"):
        _read_cloud_config(text, origin, result, depth)
    elif content_type == "text/x-include-url" or head.startswith(("#include", "#include-once")):
        result.documents.append(Document(origin, text))
        result.problems.append(
            f"{origin}: includes content from URLs, which no policy can read: put the content in the "
            "user data"
        )
    else:
        # A shell script (`#!`), a boothook, or text: read it as a script.
        result.documents.append(Document(origin, text))
        result.script.extend(parse_script(text, origin))


def _read_mime(text: str, origin: str, result: UserData, depth: int) -> None:
    message = email.message_from_string(text, policy=email.policy.compat32)
    if not message.is_multipart():
        payload = message.get_payload(decode=True)
        if isinstance(payload, bytes):
            _read_layer(payload, origin, message.get_content_type(), result, depth + 1)
        return
    number = 0
    for part in message.walk():
        if part.is_multipart():
            continue
        number += 1
        payload = part.get_payload(decode=True)
        content_type = part.get_content_type()
        if not isinstance(payload, bytes):
            continue
        _read_layer(payload, f"{origin} MIME part {number} ({content_type})", content_type, result, depth + 1)


def _command_line(entry: Any) -> str:
    # cloud-init runs a list entry as argv and a string entry with `sh -c`.
    if isinstance(entry, list):
        return shlex.join(str(item) for item in entry)
    return str(entry)


_WRITE_FILES_ENCODINGS = {
    "b64": ("base64",),
    "base64": ("base64",),
    "gz": ("gzip",),
    "gzip": ("gzip",),
    "gz+b64": ("base64", "gzip"),
    "gz+base64": ("base64", "gzip"),
    "gzip+b64": ("base64", "gzip"),
    "gzip+base64": ("base64", "gzip"),
}


def _decode_write_file(content: Any, encoding: str) -> bytes:
    data = content if isinstance(content, bytes) else str(content).encode()
    for step in _WRITE_FILES_ENCODINGS.get(encoding.lower(), ()):
        data = (
            base64.b64decode(b"".join(data.split()), validate=True)
            if step == "base64"
            else gzip.decompress(data)
        )
    return data


def _read_cloud_config(text: str, origin: str, result: UserData, depth: int) -> None:
    result.documents.append(Document(origin, text))
    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        result.problems.append(f"{origin}: cloud-config that is not valid YAML{where}: fix the YAML")
        return
    if not isinstance(config, dict):
        return
    for key in ("bootcmd", "runcmd"):
        entries = config.get(key) or []
        if isinstance(entries, list):
            lines = "\n".join(_command_line(entry) for entry in entries)
            result.script.extend(parse_script(lines, f"{origin} {key}"))
    for item in config.get("write_files") or []:
        if not isinstance(item, dict) or "path" not in item:
            continue
        path = str(item["path"])
        where = f"{origin} write_files {path}"
        try:
            data = _decode_write_file(item.get("content", ""), str(item.get("encoding", "text/plain")))
            content = data.decode("utf-8")
        except (binascii.Error, ValueError, OSError, EOFError, zlib.error, UnicodeDecodeError):
            result.problems.append(
                f"{where}: content that does not decode as its encoding says: fix the encoding"
            )
            continue
        result.documents.append(Document(where, content))
        # cloud-init writes the content as is: no shell expansion.
        result.script.writes.append(FileWrite(path, content, bool(item.get("append")), False))
        # A unit or a script written here may be what starts the server; other content is data.
        result.script.extend(parse_script(content, where, as_file=path))


def _read_cloud_config_archive(text: str, origin: str, result: UserData, depth: int) -> None:
    try:
        parts = yaml.safe_load(text)
    except yaml.YAMLError:
        result.problems.append(f"{origin}: cloud-config-archive that is not valid YAML: fix the YAML")
        return
    for number, part in enumerate(parts if isinstance(parts, list) else [], start=1):
        if isinstance(part, str):
            part = {"content": part}
        if not isinstance(part, dict):
            continue
        content = str(part.get("content", ""))
        content_type = part.get("type")
        _read_layer(
            content.encode(),
            f"{origin} part {number}",
            str(content_type) if content_type else None,
            result,
            depth + 1,
        )
