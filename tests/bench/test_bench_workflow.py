"""The deploy workflow's optional bench of staging, and the script it runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.servers import closed_port
from tests.support import REPO
from tests.test_workflows import steps, workflow

SCRIPT = REPO / ".github" / "scripts" / "bench-staging.sh"

PULUMI_CLI_TEST_DOUBLE = """#!/usr/bin/env bash
# Test double for the Pulumi CLI (not installed here): `pulumi stack output --json` prints the file.
[ "$1 $2 $3" = "stack output --json" ] || { echo "unexpected: $*" >&2; exit 3; }
cat "$OUTPUTS_FILE"
"""


@pytest.mark.unit
def test_bench_staging_runs_after_staging_only_when_asked() -> None:
    job = workflow("deploy.yml")["jobs"]["bench-staging"]
    assert job["needs"] == "staging" and job["if"] == "vars.BENCH_STAGING == 'true'"
    assert job["environment"] == "staging"
    runs = [step for step in steps(job) if step.get("run") == ".github/scripts/bench-staging.sh"]
    assert len(runs) == 1 and runs[0]["env"]["LLMDEPLOY_API_KEY"] == "${{ secrets.LLMDEPLOY_API_KEY }}"
    assert any("make bench-venv" in step.get("run", "") for step in steps(job))
    assert "bench-staging" not in str(workflow("deploy.yml")["jobs"]["production"].get("needs"))


@pytest.mark.integration
def test_script_writes_the_summary_and_exits_as_bench_did(tmp_path: Path) -> None:
    """Staging unreachable: bench's one line, exit 2, and the summary still written."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "pulumi").write_text(PULUMI_CLI_TEST_DOUBLE)
    (bin_dir / "pulumi").chmod(0o755)
    # `llmdeploy` as the setup action installs it: this checkout's, on PATH.
    (bin_dir / "llmdeploy").write_text(f'#!/usr/bin/env bash\nexec {sys.executable} -m llmdeploy "$@"\n')
    (bin_dir / "llmdeploy").chmod(0o755)
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"endpoint": f"http://127.0.0.1:{closed_port()}/v1", "model": "m"}))
    summary = tmp_path / "summary.md"
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "OUTPUTS_FILE": str(outputs),
        "GITHUB_STEP_SUMMARY": str(summary),
        "BENCH_SLO": "ttft_p99=2s",
        "BENCH_REQUIRE_CONCURRENCY": "8",
        "PYTHONPATH": str(REPO),
    }
    done = subprocess.run(
        ["bash", str(SCRIPT)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: endpoint http://127.0.0.1:") and "unreachable" in done.stderr
    assert summary.read_text().startswith("## Load test of staging (llmdeploy bench)")
