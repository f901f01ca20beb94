"""A deployed stack's outputs: from a file, or from `pulumi stack output --json`."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

from llmdeploy.cli.inputfile import InputFileError, parse_json, read_bounded_text
from llmdeploy.cli.ops.aws import OpsError

PULUMI_TIMEOUT_SECONDS = 120
# Stack outputs are a few KiB.
MAX_OUTPUTS_BYTES = 4 * 1024 * 1024


def read_outputs_file(path: Path) -> dict[str, Any]:
    try:
        text = read_bounded_text(path, MAX_OUTPUTS_BYTES)
    except InputFileError as error:
        raise OpsError(
            f"--outputs: {path}: {error}", "write it with `pulumi stack output --json > outputs.json`"
        ) from None
    return _outputs_object(text, str(path))


def pulumi_cli_available() -> bool:
    return shutil.which("pulumi") is not None


def read_pulumi_outputs(stack: str, program_dir: Path) -> dict[str, Any]:
    """`pulumi stack output --json`: secret outputs stay masked (no --show-secrets)."""
    command = ["pulumi", "stack", "output", "--json", "--stack", stack]
    try:
        finished = subprocess.run(
            command,
            cwd=program_dir,
            capture_output=True,
            text=True,
            timeout=PULUMI_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise OpsError(f"`{' '.join(command)}` did not run: {error}", "pass --outputs FILE instead") from None
    if finished.returncode != 0:
        said = [line for line in finished.stderr.splitlines() if line.strip()]
        raise OpsError(
            f"`{' '.join(command)}` failed (exit {finished.returncode}): "
            f"{said[-1].strip() if said else 'no message'}",
            "log in (`pulumi login`), check the stack name and that it is deployed, or pass --outputs FILE",
        )
    return _outputs_object(finished.stdout, "`pulumi stack output --json`")


def _outputs_object(text: str, source: str) -> dict[str, Any]:
    try:
        data = parse_json(text)
    except InputFileError as error:
        raise OpsError(f"{source}: {error}", "use the output of `pulumi stack output --json`") from None
    if not isinstance(data, dict):
        raise OpsError(
            f"{source}: found a JSON {type(data).__name__}; accepted: an object of stack outputs",
            "use the output of `pulumi stack output --json`",
        )
    return data


def stack_outputs(stack: str, program_dir: Path, outputs_file: Path | None) -> dict[str, Any]:
    """Outputs from --outputs FILE, else from the Pulumi CLI; an OpsError when neither is there."""
    if outputs_file is not None:
        return read_outputs_file(outputs_file)
    if pulumi_cli_available():
        return read_pulumi_outputs(stack, program_dir)
    raise OpsError(
        "no stack outputs: the Pulumi CLI is not installed here and no --outputs FILE was given",
        "pass --outputs FILE (written by `pulumi stack output --json` where the CLI is), "
        "or the values themselves (see --help)",
    )
