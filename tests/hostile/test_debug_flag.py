"""The last line of defence in `llmdeploy.cli.main`: an unexpected exception is one masked line, exit 2;
`--debug` (anywhere on the line) adds the traceback, masked too.

The crash is a test double: `execute_program` (which starts the program's process) replaced by a function that raises, because no real
input is known to crash a command (finding one is what the other hostile tests are for).
"""

from __future__ import annotations

import pytest

import llmdeploy.cli.commands.plan as plan_command
from llmdeploy.cli import main
from tests.conftest import CANARY_TOKEN
from tests.hostile.support import CANARY_API_KEY


def crashing_execute_program_double(program: str, stack: str, **options: object) -> None:
    raise RuntimeError(f"boom with {CANARY_TOKEN} and {CANARY_API_KEY}")


@pytest.fixture
def crashing_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plan_command, "execute_program", crashing_execute_program_double)
    monkeypatch.setenv("LLMDEPLOY_API_KEY", CANARY_API_KEY)


@pytest.mark.usefixtures("crashing_plan")
def test_unexpected_error_is_one_masked_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "dev"]) == 2
    captured = capsys.readouterr()
    assert captured.err == (
        "error: plan stopped on an unexpected RuntimeError: boom with [secret] and [secret]; "
        "run again with --debug for the traceback to report\n"
    )


@pytest.mark.usefixtures("crashing_plan")
@pytest.mark.parametrize("argv", [["--debug", "plan", "dev"], ["plan", "dev", "--debug"]])
def test_debug_adds_the_traceback_masked(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):")
    assert "crashing_execute_program_double" in err
    assert (
        err.splitlines()[-1]
        == "error: plan stopped on an unexpected RuntimeError: boom with [secret] and [secret]"
    )
    assert CANARY_TOKEN not in err and CANARY_API_KEY not in err
