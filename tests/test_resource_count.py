"""plan and check count a stack's resources the same way, as `pulumi preview` does."""

from __future__ import annotations

import json
import re

from tests.conftest import llmdeploy_cli

COUNT = re.compile(r"(\d+) resources \(the stack and the (\d+) it declares\)")


def test_plan_and_check_say_one_count_the_stack_included() -> None:
    plan_text = llmdeploy_cli("plan", "dev")
    plan_json = llmdeploy_cli("plan", "dev", "--format", "json")
    check_text = llmdeploy_cli("check", "dev")
    for result in (plan_text, plan_json, check_text):
        assert result.returncode == 0, result.stderr
    declared = len(json.loads(plan_json.stdout)["resources"])
    plan_count = COUNT.search(plan_text.stdout.splitlines()[0])
    check_count = COUNT.search(check_text.stdout.splitlines()[0])
    assert plan_count and check_count, (plan_text.stdout[:200], check_text.stdout[:200])
    assert plan_count.groups() == check_count.groups() == (str(declared + 1), str(declared))
