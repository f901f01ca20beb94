"""`llmdeploy plan`: any program, offline, in three formats; secrets masked; exit codes."""

from __future__ import annotations

import json

import pytest

from llmdeploy.cli.mockrun import ProgramRefused, run_program
from llmdeploy.cli.plan import FORMATS, plan_document, render
from llmdeploy.cli.stackfile import StackFileError
from tests.conftest import llmdeploy_cli, plan_of
from tests.support import PROGRAMS, REPO

SECRETS_PROGRAM = PROGRAMS / "secrets_program"
PLAIN_TOKEN = "hf_PLAINTEXTreadWITHrequireSecret0123456789"


def test_json_plan_has_the_documented_shape() -> None:
    result = llmdeploy_cli("plan", "dev", "--format", "json")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert set(plan) == {"stack", "project", "resources", "outputs"}
    assert (plan["stack"], plan["project"]) == ("dev", "llmdeploy")
    for resource in plan["resources"]:
        assert set(resource) == {"urn", "type", "name", "parent", "custom", "inputs", "dependencies"}
        assert resource["urn"].startswith("urn:pulumi:dev::llmdeploy::")
    container = next(r for r in plan["resources"] if r["type"] == "docker:index/container:Container")
    # The provider's own (camelCase) property names.
    assert {"waitTimeout", "healthcheck", "envs"} <= set(container["inputs"])
    assert container["inputs"]["healthcheck"]["startPeriod"] == "10s"


def test_text_and_markdown_show_the_same_resources() -> None:
    document = plan_document(run_program(REPO, "dev"))
    text = render(document, "text")
    markdown = render(document, "markdown")
    for resource in document["resources"]:
        assert f"+ {resource['type']}  {resource['name']}" in text
        assert f"| `{resource['type']}` | `{resource['name']}` |" in markdown
    assert "    endpoint: http://127.0.0.1:11434/v1" in text
    assert "| `endpoint` | http://127.0.0.1:11434/v1 |" in markdown
    assert "ports[0].ip: 127.0.0.1" in text


def test_any_program_with_its_stack_config() -> None:
    plan = plan_document(run_program(SECRETS_PROGRAM, "test"))
    assert plan["project"] == "secrets-program"
    container = next(r for r in plan["resources"] if r["type"] == "docker:index/container:Container")
    assert container["inputs"]["ports"] == [{"external": 8080, "internal": 80}]
    # Project-level default from Pulumi.yaml.
    assert plan["outputs"]["greeting"] == "hello"


@pytest.mark.parametrize("fmt", FORMATS)
def test_secrets_and_computed_values_are_marked_in_every_format(fmt: str) -> None:
    result = llmdeploy_cli("plan", "test", "--program", str(SECRETS_PROGRAM), "--format", fmt)
    assert result.returncode == 0, result.stderr
    output = result.stdout
    # `secure:` values are not decrypted; plaintext read with require_secret stays secret.
    assert PLAIN_TOKEN not in output and PLAIN_TOKEN not in result.stderr
    assert "c2VjcmV0LW5vdC1kZWNyeXB0ZWQ" not in output
    assert "[secret]" in output and "[computed]" in output
    if fmt == "json":
        plan = json.loads(output)
        container = next(r for r in plan["resources"] if r["type"] == "docker:index/container:Container")
        assert container["inputs"]["envs"] == ["[secret]", "[secret]"]
        assert container["inputs"]["image"] == "[computed]"
        assert plan["outputs"]["token"] == "[secret]"
        assert plan["outputs"]["image_id"] == "[computed]"


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_canary_secret_never_appears(fmt: str, canary: str) -> None:
    run = run_program(
        SECRETS_PROGRAM,
        "test",
        config={"secrets-program:apiToken": canary},
        secret_keys=["secrets-program:apiToken"],
    )
    rendered = render(plan_document(run), fmt)
    assert canary not in rendered
    assert canary not in repr(run.log)


def test_settings_error_exits_1_with_one_line_per_problem_and_no_traceback(tmp_path) -> None:
    program = tmp_path / "program"
    program.mkdir()
    for name in ("Pulumi.yaml", "__main__.py"):
        (program / name).write_text((REPO / name).read_text())
    (program / "Pulumi.dev.yaml").write_text(
        "config:\n  llmdeploy:model: llama3.2:1b\n  llmdeploy:numParallel: 0\n  llmdeploy:bindAdress: 0.0.0.0\n"
    )
    result = llmdeploy_cli("plan", "dev", "--program", str(program))
    assert result.returncode == 1
    assert result.stdout == "", "no resource may be printed for a refused stack"
    assert result.stderr.splitlines() == [
        "llmdeploy:numParallel: found '0'; accepted: a number greater than 0",
        "llmdeploy:bindAdress: found an unknown key (did you mean llmdeploy:bindAddress?); accepted keys: "
        "bindAddress, contextLength, engine, extraModels, gpu, hostPort, httpsProxy, image, keepAlive, kind, "
        "maxLoadedModels, model, noProxy, numParallel, origins, pullTimeoutSeconds, restart, volumeName",
    ]


def test_refused_stack_declares_no_resource() -> None:
    with pytest.raises(ProgramRefused):
        run_program(REPO, "dev", config={"llmdeploy:numParallel": "0"})


def test_a_crashing_program_exits_2_with_its_error() -> None:
    result = llmdeploy_cli("plan", "dev", "--program", str(PROGRAMS / "crashing_program"))
    assert result.returncode == 2
    assert "ValueError: boom: this program is broken" in result.stderr
    assert "Traceback" not in result.stderr


def test_not_a_program_directory(tmp_path) -> None:
    with pytest.raises(StackFileError, match=r"no Pulumi\.yaml"):
        run_program(tmp_path, "dev")
    assert llmdeploy_cli("plan", "dev", "--program", str(tmp_path)).returncode == 2


def test_runs_are_independent() -> None:
    # A fresh event loop and fresh runtime settings per run: a second run sees only its own resources.
    first = plan_of("dev", model="a")
    second = plan_of("dev", model="b")
    assert first["outputs"]["model"] == "a" and second["outputs"]["model"] == "b"
    assert len(first["resources"]) == len(second["resources"])


def test_base64_user_data_is_decoded_for_reading_in_text_and_markdown_only() -> None:
    import base64
    import gzip

    from llmdeploy.core.userdata_reading import readable_user_data

    def decoded_user_data(value: str) -> str | None:
        readable = readable_user_data(value)
        return None if readable is None else readable.text

    script = "#!/bin/bash\nset -euo pipefail\necho hello\n"
    assert decoded_user_data(base64.b64encode(script.encode()).decode()) == script
    assert decoded_user_data(base64.b64encode(gzip.compress(script.encode())).decode()) == script
    assert decoded_user_data("not base64 at all!") is None
    assert decoded_user_data(base64.b64encode(bytes(range(256))).decode()) is None

    document = plan_document(run_program(REPO, "prod"))
    template = next(r for r in document["resources"] if r["type"] == "aws:ec2/launchTemplate:LaunchTemplate")
    assert decoded_user_data(template["inputs"]["userData"]) is not None, "JSON keeps the provider's base64"
    for fmt in ("text", "markdown"):
        rendered = render(document, fmt)
        assert "userData: (base64; decoded for reading) |" in rendered
        assert "exec docker run --gpus all --ipc=host" in rendered
