"""The check runner and its report, shared by preflight and verify."""

from __future__ import annotations

import json

from llmdeploy.cli.ops.aws import OpsError
from llmdeploy.cli.ops.checks import (
    Check,
    Outcome,
    any_failed,
    failed,
    passed,
    render_json,
    render_table,
    run_checks,
)


def ok(_: None) -> Outcome:
    return passed("fine", {"seconds": 0.5})


def broken(_: None) -> Outcome:
    return failed("it is broken", "mend it")


def raises_ops_error(_: None) -> Outcome:
    raise OpsError("access denied: ec2:DescribeImages", "allow ec2:DescribeImages")


def test_a_check_whose_prerequisite_failed_is_skipped() -> None:
    results = run_checks(
        [Check("first", broken), Check("second", ok, requires=("first",)), Check("third", ok)], None
    )
    assert [(r.name, r.status, r.detail) for r in results] == [
        ("first", "fail", "it is broken"),
        ("second", "skip", "needs first to pass first"),
        ("third", "pass", "fine"),
    ]


def test_an_ops_error_fails_its_check_with_message_and_remedy() -> None:
    [result] = run_checks([Check("ami", raises_ops_error)], None)
    assert (result.status, result.detail, result.remedy) == (
        "fail",
        "access denied: ec2:DescribeImages",
        "allow ec2:DescribeImages",
    )


def test_appending_a_check_extends_the_list() -> None:
    # How the capacity check will be added: one more Check in the list.
    checks = [Check("first", ok)]
    checks.append(Check("capacity", broken, requires=("first",)))
    results = run_checks(checks, None)
    assert [r.name for r in results] == ["first", "capacity"]
    assert any_failed(results)


def test_table_shows_each_check_and_what_to_do_under_failures() -> None:
    results = run_checks([Check("credentials", ok), Check("gpu-quota", broken)], None)
    table = render_table("Preflight of stack prod", results)
    assert table.splitlines() == [
        "Preflight of stack prod",
        "",
        "CHECK        RESULT  DETAIL",
        "credentials  PASS    fine",
        "gpu-quota    FAIL    it is broken",
        "                     what to do: mend it",
        "",
        "1 of 2 checks failed.",
    ]


def test_table_summary_without_failures() -> None:
    assert render_table("t", run_checks([Check("a", ok)], None)).endswith("All 1 checks passed.\n")
    skipped = run_checks([Check("a", broken), Check("b", ok, requires=("a",))], None)[1:]
    assert render_table("t", skipped).endswith("No check failed; 1 of 1 skipped.\n")


def test_json_report_keeps_figures() -> None:
    document = json.loads(render_json({"stack": "prod"}, run_checks([Check("stream", ok)], None)))
    assert document == {
        "stack": "prod",
        "ok": True,
        "checks": [
            {"name": "stream", "status": "pass", "detail": "fine", "remedy": "", "figures": {"seconds": 0.5}}
        ],
    }
