"""Malformed `Pulumi.yaml` / `Pulumi.<stack>.yaml`: one line naming file, line and column; exit 2.

Each case runs `plan` (the offline runner's path) and `preflight` (the ops commands' path)
through the real command. No program ever runs: the files are refused first.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import CANARY_TOKEN
from tests.hostile.support import assert_refused, run_cli

PROJECT = "name: llmdeploy\nruntime: python\n"
BILLION_LAUGHS = (
    "config:\n  llmdeploy:spotInstanceTypes:\n    a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    + "".join(
        f"    {chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(8)
    )
)

# (case id, Pulumi.dev.yaml bytes, what the one line says)
STACK_FILES = [
    ("unclosed quote", b'config:\n  llmdeploy:model: "meta-llama/x\n', "Pulumi.dev.yaml:3:1: "),
    ("tab indentation", b"config:\n\tllmdeploy:model: x\n", "Pulumi.dev.yaml:2:1: found character '\\t'"),
    ("top-level list", b"- config\n- x\n", "Pulumi.dev.yaml: found a list at the top level; accepted: a map"),
    ("config as a list", b"config:\n  - a\n", "config: found a list; accepted: a map of key: value"),
    ("config as a string", b"config: everything\n", "config: found a string; accepted: a map of key: value"),
    ("binary file", bytes(range(256)) * 4, "found a byte that is not UTF-8 text (0x80 at byte 128)"),
    (
        "python tag",
        b'config: !!python/object/apply:os.system ["touch /tmp/llmdeploy-pwned"]\n',
        "Pulumi.dev.yaml:1:9: found the tag '!!python/object/apply:os.system'; accepted: plain YAML",
    ),
    (
        "duplicate key",
        f"config:\n  llmdeploy:hfToken: {CANARY_TOKEN}\n  llmdeploy:hfToken: x\n".encode(),
        "Pulumi.dev.yaml:3:3: found the key 'llmdeploy:hfToken' twice in one map (first at line 2)",
    ),
    ("alias expansion", BILLION_LAUGHS.encode(), "found aliases that expand to more than 100,000 values"),
    ("recursive alias", b"config:\n  llmdeploy:x: &a [*a]\n", "found an alias that refers to itself"),
    ("deep nesting", b"config:\n  llmdeploy:x: " + b"[" * 3000 + b"]" * 3000 + b"\n", "nesting"),
    (
        "too large",
        b"config:\n  llmdeploy:x: '" + b"y" * (1024 * 1024 + 10) + b"'\n",
        "found more than 1024 KiB",
    ),
    ("non-string key", b"config:\n  [a, b]: 1\n", "Pulumi.dev.yaml:2:3: found a list as a map key"),
]


def program(tmp_path: Path, stack_file: bytes, project: bytes = PROJECT.encode()) -> Path:
    (tmp_path / "Pulumi.yaml").write_bytes(project)
    (tmp_path / "Pulumi.dev.yaml").write_bytes(stack_file)
    (tmp_path / "__main__.py").write_text("raise SystemExit('the program must not run')\n")
    return tmp_path


@pytest.mark.parametrize(
    ("content", "fragment"), [case[1:] for case in STACK_FILES], ids=[c[0] for c in STACK_FILES]
)
@pytest.mark.parametrize("command", ["plan", "preflight"])
def test_malformed_stack_file_is_one_line(
    tmp_path: Path, command: str, content: bytes, fragment: str
) -> None:
    result = run_cli(command, "dev", "--program", str(program(tmp_path, content)), timeout=60)
    assert_refused(result, 2, fragment)
    assert result.seconds < 30, f"took {result.seconds:.1f} s"
    assert not Path("/tmp/llmdeploy-pwned").exists()


@pytest.mark.parametrize(
    ("project", "fragment"),
    [
        (b"name: [llmdeploy\n", "Pulumi.yaml:2:1: expected ',' or ']'"),
        (b"runtime: python\n", "Pulumi.yaml: name: found None; accepted: the project name"),
        (b"name: x\nconfig: [a]\n", "Pulumi.yaml: config: found a list"),
        (b"name: x\nname: y\n", "Pulumi.yaml:2:1: found the key 'name' twice"),
    ],
    ids=["unclosed flow list", "no name", "config as a list", "duplicate name"],
)
def test_malformed_project_file_is_one_line(tmp_path: Path, project: bytes, fragment: str) -> None:
    directory = program(tmp_path, b"config: {}\n", project)
    for command in ("plan", "check"):
        assert_refused(run_cli(command, "dev", "--program", str(directory)), 2, fragment)
