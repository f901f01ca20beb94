"""`llmdeploy diff` on real plan pairs: programs run offline, then diffed.

The plans come from `run_program` on `tests/programs/gpu_instance` (a pulumi_aws program shaped
like the staging stack) and on this repository's dev stack, with config overrides for what
changes. Check results are JSON lists in the format of `llmdeploy check --format json`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from llmdeploy.cli import main
from llmdeploy.cli.diff import (
    ABSENT,
    DiffInputError,
    Plan,
    PlanDiff,
    ResourceDiff,
    diff_plans,
    format_json,
    format_markdown,
    format_text,
    read_check_results,
    read_plan,
    redact,
    redact_text,
)
from llmdeploy.cli.mockrun import run_program
from llmdeploy.cli.plan import plan_document

REPO = Path(__file__).resolve().parents[1]
GPU_PROGRAM = Path(__file__).parent / "programs" / "gpu_instance"
INSTANCE = "aws:ec2/instance:Instance"
# Fed to every plan of the GPU program as its HF token: it must never come out of a diff.
CANARY = "hf_" + "CanaryToken" * 3
OTHER_CANARY = "hf_" + "OtherCanary" * 3


def gpu_document(stack: str = "staging", token: str = CANARY, **config: str) -> dict[str, Any]:
    values = {"gpu-instance:hfToken": token, **{f"gpu-instance:{k}": v for k, v in config.items()}}
    run = run_program(GPU_PROGRAM, stack, config=values, secret_keys=["gpu-instance:hfToken"])
    return plan_document(run)


def gpu_plan(stack: str = "staging", token: str = CANARY, **config: str) -> Plan:
    return read_plan(gpu_document(stack, token, **config))


def renders(diff: PlanDiff) -> dict[str, str]:
    return {"text": format_text(diff), "markdown": format_markdown(diff), "json": format_json(diff)}


def only(diff: PlanDiff, kind: str) -> ResourceDiff:
    found = [r for r in diff.resources if r.kind == kind]
    assert len(found) == 1, f"expected one {kind}, got {[(r.kind, r.type, r.name) for r in diff.resources]}"
    return found[0]


def violation(policy: str, urn: str, level: str = "mandatory", message: str = "") -> dict[str, str]:
    return {"policy": policy, "urn": urn, "level": level, "message": message or f"{policy} fails"}


def urn_of(document: dict[str, Any], name: str) -> str:
    return next(r["urn"] for r in document["resources"] if r["name"] == name)


# ---------------------------------------------------------------------------
# The four cases of the issue, on real plans


def test_changed_instance_type_is_one_update_with_the_input_old_and_new() -> None:
    diff = diff_plans(gpu_plan(), gpu_plan(instanceType="g6e.xlarge"))

    instance = only(diff, "update")
    assert (instance.type, instance.name) == (INSTANCE, "gpu")
    assert [(c.path, c.old, c.new) for c in instance.changes] == [("instanceType", "g5.xlarge", "g6e.xlarge")]
    assert diff.unchanged == 3 and not diff.outputs, f"only the instance should change: {diff}"
    assert '~ instanceType: "g5.xlarge" -> "g6e.xlarge"' in format_text(diff)
    json_rows = json.loads(format_json(diff))["resources"]
    assert json_rows[0]["changes"] == [
        {"path": "instanceType", "kind": "changed", "old": "g5.xlarge", "new": "g6e.xlarge"}
    ]


def test_added_stack_output_is_reported_and_no_resource_changes() -> None:
    diff = diff_plans(gpu_plan(), gpu_plan(exportPrivateIp="true"))

    assert not diff.resources, f"no resource should change: {diff.resources}"
    assert [(c.path, c.kind, c.new) for c in diff.outputs] == [("private_ip", "added", "[computed]")]
    assert "+ private_ip: [computed]" in format_text(diff)
    assert "<code>private_ip</code>" in format_markdown(diff)


def test_renamed_resource_with_the_same_inputs_is_a_rename_with_the_alias_that_keeps_it() -> None:
    diff = diff_plans(gpu_plan(), gpu_plan(instanceName="gpu-a"))

    renamed = only(diff, "rename")
    assert (renamed.old_name, renamed.name, renamed.same_inputs) == ("gpu", "gpu-a", True)
    assert renamed.changes == (), f"same inputs, so no input changes: {renamed.changes}"
    assert diff.count("add") == 0 and diff.count("remove") == 0, "a rename is neither an add nor a remove"
    text = format_text(diff)
    assert "Pulumi replaces it" in text
    assert 'aliases=[pulumi.Alias(name="gpu")]' in text


def test_rename_with_changed_inputs_is_paired_when_it_is_the_only_one_of_its_type() -> None:
    diff = diff_plans(gpu_plan(), gpu_plan(instanceName="gpu-a", instanceType="g6.xlarge"))

    renamed = only(diff, "rename")
    assert (renamed.old_name, renamed.name, renamed.same_inputs) == ("gpu", "gpu-a", False)
    assert [(c.path, c.old, c.new) for c in renamed.changes] == [("instanceType", "g5.xlarge", "g6.xlarge")]


def test_policy_newly_failing_and_fixed_from_check_results() -> None:
    base_document = gpu_document()
    head_document = gpu_document(httpTokens="optional")
    instance_urn = urn_of(head_document, "gpu")
    base_check = read_check_results(
        [violation("lb-idle-timeout-streaming", instance_urn, "advisory", "idle timeout 60 s")]
    )
    head_check = read_check_results(
        [violation("imdsv2-required", instance_urn, message="set metadata_options.http_tokens to required")]
    )

    diff = diff_plans(read_plan(base_document), read_plan(head_document), base_check, head_check)

    assert diff.policies is not None
    assert [(v.policy, v.level) for v in diff.policies.newly_failing] == [("imdsv2-required", "mandatory")]
    assert [v.policy for v in diff.policies.fixed] == ["lb-idle-timeout-streaming"]
    assert diff.policies.still_failing == ()
    assert diff.policies.new_mandatory == 1
    instance = only(diff, "update")
    assert [(c.path, c.old, c.new) for c in instance.changes] == [
        ("metadataOptions.httpTokens", "required", "optional")
    ]
    markdown = format_markdown(diff)
    newly = markdown.index("**Newly failing**")
    fixed = markdown.index("**Fixed**")
    assert "<code>imdsv2-required</code>" in markdown[newly:fixed]
    assert "<code>lb-idle-timeout-streaming</code>" in markdown[fixed:]
    assert "1 newly failing (1 now mandatory), 1 fixed, 0 still failing" in format_text(diff)
    assert json.loads(format_json(diff))["policies"]["newly_failing"][0]["policy"] == "imdsv2-required"


def test_violation_on_a_renamed_resource_is_still_failing_not_fixed_and_new() -> None:
    base_document, head_document = gpu_document(), gpu_document(instanceName="gpu-a")
    base_check = read_check_results([violation("ebs-encrypted", urn_of(base_document, "gpu"))])
    head_check = read_check_results([violation("ebs-encrypted", urn_of(head_document, "gpu-a"))])

    policies = diff_plans(read_plan(base_document), read_plan(head_document), base_check, head_check).policies

    assert policies is not None
    assert (policies.newly_failing, policies.fixed) == ((), ()), f"the rename moved the violation: {policies}"
    assert [f.violation.policy for f in policies.still_failing] == ["ebs-encrypted"]


def test_advisory_turned_mandatory_counts_as_newly_blocking() -> None:
    document = gpu_document()
    urn = urn_of(document, "gpu")
    base_check = read_check_results([violation("pinned-image-tag", urn, "advisory")])
    head_check = read_check_results([violation("pinned-image-tag", urn, "mandatory")])

    diff = diff_plans(read_plan(document), read_plan(document), base_check, head_check)

    assert diff.policies is not None and diff.policies.new_mandatory == 1
    assert "| mandatory (was advisory) |" in format_markdown(diff)


def test_head_results_alone_are_listed_as_failing_without_a_comparison() -> None:
    document = gpu_document()
    head_check = read_check_results([violation("imdsv2-required", urn_of(document, "gpu"))])

    diff = diff_plans(read_plan(document), read_plan(document), None, head_check)

    assert diff.policies is not None and not diff.policies.compared
    assert "1 failing (no base results to compare)" in format_text(diff)


def test_dev_stack_config_change_shows_the_container_environment() -> None:
    base = read_plan(plan_document(run_program(REPO, "dev")))
    head = read_plan(plan_document(run_program(REPO, "dev", config={"llmdeploy:numParallel": "4"})))

    diff = diff_plans(base, head)

    container = only(diff, "update")
    assert container.type == "docker:index/container:Container"
    assert [(c.old, c.new) for c in container.changes] == [("OLLAMA_NUM_PARALLEL=2", "OLLAMA_NUM_PARALLEL=4")]


def test_user_data_change_is_shown_as_a_line_diff() -> None:
    diff = diff_plans(gpu_plan(), gpu_plan(maxTotalTokens="16384"))

    text = format_text(diff)
    assert "userData: changed" in text
    assert "-  --model-id meta-llama/Llama-3.1-8B-Instruct --max-total-tokens 8192" in text
    assert "+  --model-id meta-llama/Llama-3.1-8B-Instruct --max-total-tokens 16384" in text
    markdown = format_markdown(diff)
    assert "```diff\n" in markdown and "multi-line, see below" in markdown


def test_same_program_for_two_stacks_matches_resources_without_the_stack_name() -> None:
    diff = diff_plans(gpu_plan("staging"), gpu_plan("prod"))

    assert diff.count("add") == 0 and diff.count("remove") == 0, f"matched by URN sans stack: {diff}"
    instance = only(diff, "update")
    assert [(c.path, c.old, c.new) for c in instance.changes] == [
        ('tags["llmdeploy:stack"]', "staging", "prod")
    ]
    assert format_text(diff).startswith("Stack staging -> prod: 1 to update, 3 unchanged")


# ---------------------------------------------------------------------------
# Secrets stay masked


def assert_no_canary(diff: PlanDiff, *canaries: str) -> None:
    for fmt, output in renders(diff).items():
        for canary in canaries:
            assert canary not in output, f"the {fmt} diff shows a secret in plaintext"
            assert canary[3:20] not in output, f"the {fmt} diff shows part of a secret"


def test_pulumi_secret_that_changes_value_shows_no_change() -> None:
    # Plans mask secrets, so two different secret values cannot be told apart: nothing shows.
    diff = diff_plans(gpu_plan(token=CANARY), gpu_plan(token=OTHER_CANARY))

    assert not diff.resources, f"masked secrets compare equal: {diff.resources}"
    assert_no_canary(diff, CANARY, OTHER_CANARY)


def test_token_written_into_user_data_is_masked_and_warned_about() -> None:
    diff = diff_plans(gpu_plan(), gpu_plan(tokenInUserData="true"))

    instance = only(diff, "update")
    assert [c.path for c in instance.changes] == ["userData"]
    assert "HF_TOKEN=[secret]" in instance.changes[0].new
    assert_no_canary(diff, CANARY)
    assert any("`gpu` input `userData` looks like a credential" in w for w in diff.warnings), diff.warnings


def test_token_under_a_secret_like_key_is_masked() -> None:
    diff = diff_plans(gpu_plan(), gpu_plan(tokenInTags="true"))

    instance = only(diff, "update")
    assert [(c.path, c.kind, c.new) for c in instance.changes] == [("tags.hfToken", "added", "[secret]")]
    assert_no_canary(diff, CANARY)
    assert diff.warnings, "a plaintext token in the head must be pointed out"


def test_plaintext_secrets_that_differ_show_as_changed_without_either_value() -> None:
    diff = diff_plans(
        gpu_plan(token=CANARY, tokenInTags="true"), gpu_plan(token=OTHER_CANARY, tokenInTags="true")
    )

    instance = only(diff, "update")
    assert [(c.path, c.old, c.new, c.note) for c in instance.changes] == [
        ("tags.hfToken", "[secret]", "[secret]", "changed")
    ]
    assert "~ tags.hfToken: [secret] -> [secret]  (changed)" in format_text(diff)
    assert_no_canary(diff, CANARY, OTHER_CANARY)


def test_new_stack_lists_its_resources_and_warns_about_a_plaintext_token_among_them() -> None:
    # The pull request job diffs a stack new in the head against this empty plan.
    empty = read_plan({"stack": "staging", "project": "", "resources": [], "outputs": {}})

    diff = diff_plans(empty, gpu_plan(tokenInUserData="true"))

    assert {(r.kind, r.name) for r in diff.resources} == {
        ("add", "api"),
        ("add", "hf-token"),
        ("add", "gpu"),
    }
    assert diff.count("add") == 4
    assert diff.warnings == (
        "`gpu` input `userData` looks like a credential in plaintext in the head: make it a Pulumi secret",
    )
    assert_no_canary(diff, CANARY)


def test_secret_that_became_plaintext_is_masked_and_warned_about() -> None:
    base = read_plan({"stack": "s", "resources": [], "outputs": {"db_url": "[secret]"}})
    head = read_plan({"stack": "s", "resources": [], "outputs": {"db_url": "postgres://admin:pw@db/x"}})

    diff = diff_plans(base, head)

    assert [(c.old, c.new, c.note) for c in diff.outputs] == [("[secret]", "[secret]", "no longer a secret")]
    assert "pw@db" not in format_json(diff)
    assert diff.warnings == (
        "output `db_url` is a secret in the base but plaintext in the head: keep it a Pulumi secret",
    )


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("HF_TOKEN=hf_abcdefghijklmnopqrstuvwxyz0123456789", "HF_TOKEN=[secret]"),
        ("export VLLM_API_KEY='sk-123'", "export VLLM_API_KEY=[secret]"),
        ("vllm serve m --api-key sk-123 --port 8000", "vllm serve m --api-key [secret] --port 8000"),
        ("key AKIAABCDEFGHIJKLMNOP here", "key [secret] here"),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----", "[secret]"),
        # References to a secret are kept: they are how a secret should be passed.
        ('HF_TOKEN="$(aws secretsmanager get-secret-value --secret-id t)"', None),
        ("--api-key $VLLM_API_KEY", None),
        ("OLLAMA_NUM_PARALLEL=2", None),
    ],
)
def test_redact_text(text: str, masked: str | None) -> None:
    assert redact_text(text) == (text if masked is None else masked)


@pytest.mark.parametrize(
    ("key", "value", "shown"),
    [
        ("hfToken", "anything", "[secret]"),
        ("password", 1234, "[secret]"),
        ("secretString", "x", "[secret]"),
        ("secretName", "llmdeploy/staging/hf-token", "llmdeploy/staging/hf-token"),
        ("tokenUrl", "https://example.org/token", "https://example.org/token"),
        ("useToken", True, True),
        ("apiKey", "[computed]", "[computed]"),
        (
            "registryAuth",
            [{"address": "ghcr.io", "password": "p"}],
            [{"address": "ghcr.io", "password": "[secret]"}],
        ),
    ],
)
def test_redact_by_key(key: str, value: Any, shown: Any) -> None:
    assert redact(value, key) == shown


def test_absent_side_is_never_masked() -> None:
    assert redact(ABSENT, "password") is ABSENT


# ---------------------------------------------------------------------------
# Bad input: one line naming the key, the value found and what is accepted


@pytest.mark.parametrize(
    ("document", "line"),
    [
        (
            [],
            "plan.json: (document): found list; accepted: a JSON object from `llmdeploy plan STACK",
        ),
        (
            {"stack": "dev", "resources": {}, "outputs": {}},
            "plan.json: resources: found dict; accepted: a list",
        ),
        (
            {"stack": "dev", "resources": [{"urn": "x", "type": "t", "name": "n"}], "outputs": {}},
            'plan.json: resources[0].urn: found "x"; accepted: a Pulumi URN (urn:pulumi:...)',
        ),
    ],
)
def test_read_plan_rejects_what_is_not_a_plan(document: Any, line: str) -> None:
    with pytest.raises(DiffInputError) as raised:
        read_plan(document, "plan.json")
    assert str(raised.value).startswith(line)
    assert "\n" not in str(raised.value)


def test_read_check_results_rejects_an_unknown_level() -> None:
    with pytest.raises(DiffInputError) as raised:
        read_check_results([{"policy": "p", "urn": "", "level": "warning", "message": ""}], "head.json")
    assert (
        str(raised.value)
        == 'head.json: [0].level: found "warning"; accepted: mandatory | advisory | disabled'
    )


# ---------------------------------------------------------------------------
# The command


def write(path: Path, data: Any) -> str:
    path.write_text(json.dumps(data))
    return str(path)


def test_command_diffs_files_in_each_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base_document = gpu_document()
    head_document = gpu_document(instanceType="g6e.xlarge")
    base = write(tmp_path / "base.json", base_document)
    head = write(tmp_path / "head.json", head_document)
    head_check = write(
        tmp_path / "head-check.json", [violation("imdsv2-required", urn_of(head_document, "gpu"))]
    )
    base_check = write(tmp_path / "base-check.json", [])

    assert main(["diff", base, head, "--base-check", base_check, "--head-check", head_check]) == 0
    text = capsys.readouterr().out
    assert text.startswith("Stack staging: 1 to update, 3 unchanged; policies: 1 newly failing")

    assert main(["diff", base, head, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["summary"]["update"] == 1

    assert main(["diff", base, head, "--format", "markdown"]) == 0
    assert capsys.readouterr().out.startswith("<details open><summary><b>staging</b>: 1 to update")


def test_command_reports_a_bad_file_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = tmp_path / "base.json"
    base.write_text("{not json")
    head = write(tmp_path / "head.json", {"stack": "dev", "resources": [], "outputs": {}})

    assert main(["diff", str(base), head]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"error: {base}: the plan: not JSON (")
    assert error.count("\n") == 1

    assert main(["diff", str(tmp_path / "missing.json"), head]) == 2
    assert "missing.json: the plan: cannot read it" in capsys.readouterr().err

    assert main(["diff", head, head, "--base-check", head]) == 2
    assert "--base-check: found a file; accepted: only together with --head-check" in capsys.readouterr().err


def test_markdown_neutralises_pipes_backticks_and_html_in_values() -> None:
    base = read_plan({"stack": "s", "resources": [], "outputs": {"note": "a"}})
    head = read_plan({"stack": "s", "resources": [], "outputs": {"note": "x | y `z` <img src=q>"}})

    markdown = format_markdown(diff_plans(base, head))

    row = next(line for line in markdown.splitlines() if line.startswith("| <code>note</code>"))
    assert row.count("|") == 4, f"a pipe in a value must not open a cell: {row}"
    assert "<img" not in markdown
