"""Every `llmdeploy COMMAND` and `make TARGET` in the README's and docs' code blocks exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from llmdeploy.cli.commands import SUMMARIES
from tests.support import REPO

DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.DOTALL | re.MULTILINE)
# `llmdeploy plan`, `.venv/bin/llmdeploy check`, `$(llmdeploy ...)`; not config keys (`llmdeploy:model`).
LLMDEPLOY = re.compile(r"(?:^|[\s/(`])llmdeploy[ \t]+([^\s|;&)]+)")
MAKE = re.compile(r"(?:^|[\s(`;&])make((?:[ \t]+[^\s|;&)#]+)+)")
TARGET = re.compile(r"^([A-Za-z][\w-]*)\s*:(?!=)", re.MULTILINE)


def code_blocks(path: Path) -> list[str]:
    return FENCE.findall(path.read_text())


def make_targets() -> set[str]:
    return set(TARGET.findall((REPO / "Makefile").read_text()))


# make's options that take the next word as their value.
MAKE_OPTIONS_WITH_VALUE = ("-C", "-f", "-j", "-I", "-o", "-W")


def _first_target(words: list[str]) -> list[str]:
    targets, skip = [], False
    for word in words:
        if skip:
            skip = False
        elif word in MAKE_OPTIONS_WITH_VALUE:
            skip = True
        elif not word.startswith("-") and "=" not in word:
            targets.append(word)
    return targets


def commands_in(blocks: list[str]) -> tuple[list[str], list[str]]:
    llmdeploy: list[str] = []
    make: list[str] = []
    for block in blocks:
        for line in block.splitlines():
            line = line.split("#", 1)[0] if not line.lstrip().startswith("#") else ""
            llmdeploy += [word for word in LLMDEPLOY.findall(line) if not word.startswith("-")]
            for words in MAKE.findall(line):
                make += _first_target(words.split())[:1]
    return llmdeploy, make


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda path: path.name)
def test_every_command_in_the_code_blocks_exists(path: Path) -> None:
    llmdeploy, make = commands_in(code_blocks(path))
    unknown_commands = sorted(set(llmdeploy) - set(SUMMARIES))
    unknown_targets = sorted(set(make) - make_targets())
    assert not unknown_commands, f"{path.name}: llmdeploy has no {unknown_commands}; it has {list(SUMMARIES)}"
    assert not unknown_targets, f"{path.name}: the Makefile has no {unknown_targets}"


def test_the_readme_shows_commands_at_all() -> None:
    llmdeploy, make = commands_in(code_blocks(REPO / "README.md"))
    assert {"plan", "check", "verify"} <= set(llmdeploy) and {"plan", "test"} <= set(make)


def test_an_unknown_command_or_target_is_caught() -> None:
    llmdeploy, make = commands_in(
        ["llmdeploy deploy prod\n.venv/bin/llmdeploy plan dev\nmake plna STACK=dev\nmake -C ../x instal\n"]
    )
    assert (llmdeploy, make) == (["deploy", "plan"], ["plna", "instal"])
    assert "deploy" not in SUMMARIES and "plna" not in make_targets()
