"""The offline pull-request job's script, run for real on two copies of this repository's program.

`.github/scripts/offline-plan.sh` plans, checks and diffs each stack for a base and a head
directory with the real `llmdeploy` (this venv's, for both sides) and writes the one comment.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / ".github" / "scripts" / "offline-plan.sh"
LLMDEPLOY = Path(sys.executable).parent / "llmdeploy"
MARKER = "<!-- llmdeploy-offline-plan -->"
PROGRAM_FILES = ("Pulumi.yaml", "Pulumi.dev.yaml", "__main__.py", "stacks", "components")


def program_copy(destination: Path, dev_config: dict[str, str] | None = None) -> Path:
    destination.mkdir()
    for name in PROGRAM_FILES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, destination / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, destination / name)
    stack_file = destination / "Pulumi.dev.yaml"
    text = stack_file.read_text()
    for key, value in (dev_config or {}).items():
        old = next(line for line in text.splitlines() if line.startswith(f"  llmdeploy:{key}:"))
        text = text.replace(old, f"  llmdeploy:{key}: {value}")
    stack_file.write_text(text)
    return destination


def run_report(tmp_path: Path, head_config: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], Path]:
    base = program_copy(tmp_path / "base")
    head = program_copy(tmp_path / "head", head_config)
    out = tmp_path / "report"
    result = subprocess.run(
        ["bash", str(SCRIPT), str(base), str(head), str(out), "dev", "staging"],
        env={"PATH": "/usr/bin:/bin", "BASE_LLMDEPLOY": str(LLMDEPLOY), "HEAD_LLMDEPLOY": str(LLMDEPLOY)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    return result, out


def has_check_command() -> bool:
    return subprocess.run([str(LLMDEPLOY), "check", "--help"], capture_output=True).returncode == 0


def test_report_shows_each_stack_change_in_one_comment(tmp_path: Path) -> None:
    result, out = run_report(tmp_path, {"numParallel": "4"})

    assert result.returncode == 0, f"the script failed: {result.stderr}"
    comment = (out / "comment.md").read_text()
    assert comment.startswith(MARKER + "\n"), "the comment workflow finds the comment by this first line"
    assert comment.count(MARKER) == 1
    dev = comment[comment.index("<b>dev</b>") : comment.index("<b>staging</b>")]
    assert "1 to update" in dev
    assert "OLLAMA_NUM_PARALLEL=2" in dev and "OLLAMA_NUM_PARALLEL=4" in dev
    assert "<b>staging</b>: no Pulumi.staging.yaml in base or head, nothing to plan" in comment
    if has_check_command():
        assert "#### Policies" in dev, (
            "both sides have `llmdeploy check`: the policy diff belongs in the section"
        )
    else:
        assert "policies not checked: the head has no `llmdeploy check`" in dev
    assert (out / "head" / "dev.plan.json").is_file() and (out / "base" / "dev.plan.json").is_file()


def test_head_that_fails_to_plan_is_reported_and_blocks(tmp_path: Path) -> None:
    result, out = run_report(tmp_path, {"numParallel": "0"})

    assert result.returncode == 0, "the report must still be written and posted"
    comment = (out / "comment.md").read_text()
    assert "<b>dev</b>: ❌ the head plan failed" in comment
    assert "llmdeploy:numParallel: found '0'; accepted:" in comment, "the settings error is shown"
    assert (out / "blocking").read_text() == "dev: the head plan failed\n"
