"""`llmdeploy --help` imports no command module; a command imports only its own."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from llmdeploy.cli import build_parser
from llmdeploy.cli.commands import SUMMARIES
from tests.support import REPO

HEAVY = ("pulumi", "boto3", "openai", "pydantic")


def _modules_after(*argv: str) -> set[str]:
    """sys.modules after `llmdeploy ARGV` ran in a fresh interpreter (help exits 0)."""
    code = (
        "import json, sys\n"
        "from llmdeploy.cli import main\n"
        "try:\n"
        f"    main({list(argv)!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(json.dumps(sorted(sys.modules)), file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120, check=True
    )
    return set(json.loads(result.stderr.strip().splitlines()[-1]))


def test_top_level_help_imports_no_command_and_no_heavy_library() -> None:
    loaded = _modules_after("--help")
    assert not {name for name in loaded if name.startswith("llmdeploy.cli.commands.")}
    assert not {name for name in loaded if name.split(".")[0] in HEAVY}


def test_a_command_imports_its_own_module_only() -> None:
    loaded = _modules_after("capacity", "--help")
    commands = {name for name in loaded if name.startswith("llmdeploy.cli.commands.")}
    assert commands == {"llmdeploy.cli.commands.capacity"}


@pytest.mark.parametrize("name", list(SUMMARIES))
def test_each_command_has_its_full_parser_when_named(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        build_parser(name).parse_args([name, "--help"])
    assert exit_.value.code == 0
    help_text = capsys.readouterr().out
    assert help_text.startswith(f"usage: llmdeploy {name}")
    # More than the stub's bare usage: the module registered its own arguments and description.
    assert len(help_text.splitlines()) > 4, help_text
