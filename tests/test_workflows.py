"""The GitHub Actions workflows: lint wiring, action pins, fork safety, and the comment script.

GitHub itself cannot run here. What can is run for real: actionlint (with shellcheck) through
the Makefile, actionlint again on the pinned actions read as their major versions (so inputs are
checked against the actions' metadata), and the comment workflow's own JavaScript under Node
with a test double standing in for the GitHub API.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
WORKFLOWS = REPO / ".github" / "workflows"
ACTIONS = REPO / ".github" / "actions"
BIN = Path(sys.executable).parent
MARKER = "<!-- llmdeploy-offline-plan -->"
PINNED = re.compile(r"^(?P<action>[\w.-]+/[\w./-]+)@(?P<sha>[0-9a-f]{40}) # (?P<version>v\d+\.\d+\.\d+)$")
EXACT_TAG = re.compile(r"^(?P<action>[\w.-]+/[\w./-]+)@(?P<version>v\d+\.\d+\.\d+)$")
USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>.+?)\s*$", re.M)


def workflow(name: str) -> dict[str, Any]:
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    # YAML 1.1 reads the key `on` as True.
    data["on"] = data.pop(True, data.get("on"))
    return dict(data)


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job.get("steps", []))


def uses(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [step for step in steps(job) if str(step.get("uses", "")).startswith(action + "@")]


def workflow_and_action_files() -> list[Path]:
    return sorted(WORKFLOWS.glob("*.yml")) + sorted(ACTIONS.glob("*/action.yml"))


# ---------------------------------------------------------------------------
# Lint wiring and pins


def make_lint_workflows(*files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "-s", "-C", str(REPO), "lint-workflows", "WORKFLOWS=" + " ".join(map(str, files))],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_make_lint_has_actionlint_run_shellcheck_on_run_scripts(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: echo $UNQUOTED\n"
    )

    result = make_lint_workflows(bad)

    assert result.returncode != 0, "an unquoted variable in a run: script must fail make lint"
    assert "SC2086" in result.stdout + result.stderr, (
        "actionlint did not run shellcheck (it skips it silently when it finds none): "
        + result.stdout
        + result.stderr
    )


def test_make_lint_passes_the_workflows() -> None:
    result = make_lint_workflows(*sorted(WORKFLOWS.glob("*.yml")))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_action_is_pinned_to_a_commit_or_an_exact_release() -> None:
    for path in workflow_and_action_files():
        for match in USES.finditer(path.read_text()):
            ref = match.group("ref")
            if ref.startswith("./"):
                continue
            assert PINNED.match(ref) or EXACT_TAG.match(ref), (
                f"{path.name}: `uses: {ref}` is not pinned: use OWNER/REPO@<commit> # vX.Y.Z"
            )


def test_pinned_actions_pass_actionlint_read_as_their_major_versions(tmp_path: Path) -> None:
    # actionlint knows popular actions' inputs and runtimes by major version only, so a commit
    # pin hides a misspelt input or an action on a retired Node. Check the pins that way too.
    def as_major(text: str) -> str:
        def replace(match: re.Match[str]) -> str:
            ref = match.group("ref")
            pinned = PINNED.match(ref) or EXACT_TAG.match(ref)
            if not pinned:
                return match.group(0)
            major = pinned.group("version").split(".")[0]
            return match.group(0).replace(ref, f"{pinned.group('action')}@{major}")

        return USES.sub(replace, text)

    # actionlint finds the project, and so the local actions, by its git repository.
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    for path in workflow_and_action_files():
        copy = tmp_path / path.relative_to(REPO)
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_text(as_major(path.read_text()))
    result = subprocess.run(
        [str(BIN / "actionlint"), f"-shellcheck={BIN / 'shellcheck'}", "-oneline"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_pulumi_cli_version_matches_the_pinned_sdk() -> None:
    pins = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    sdk = next(pin.split("==")[1] for pin in pins if pin.startswith("pulumi=="))
    assert (REPO / ".github" / "pulumi-version").read_text().strip() == sdk, (
        "the CLI in CI and the SDK in pyproject.toml are released together: keep them the same version"
    )


# ---------------------------------------------------------------------------
# What runs when, and with which rights


def test_offline_plan_runs_pull_request_code_with_nothing_to_steal() -> None:
    offline = workflow("offline-plan.yml")
    text = (WORKFLOWS / "offline-plan.yml").read_text()

    assert set(offline["on"]) == {"pull_request"}, "never pull_request_target: this runs the PR's code"
    assert offline["permissions"] == {"contents": "read"}
    assert "secrets." not in text, "the offline plan needs no secret and must be given none"
    job = offline["jobs"]["plan"]
    assert "permissions" not in job
    for checkout in uses(job, "actions/checkout"):
        assert checkout["with"]["persist-credentials"] is False, "no token left in the checkout"
    (upload,) = uses(job, "actions/upload-artifact")
    assert upload["with"]["name"] == "offline-plan"


def test_offline_comment_never_checks_out_or_runs_pull_request_code() -> None:
    comment = workflow("offline-plan-comment.yml")
    offline = workflow("offline-plan.yml")

    assert comment["on"]["workflow_run"]["workflows"] == [offline["name"]]
    assert comment["permissions"] == {}
    (job,) = comment["jobs"].values()
    assert job["permissions"] == {"actions": "read", "pull-requests": "write"}
    for step in steps(job):
        assert "run" not in step, f"no shell step in the privileged workflow: {step}"
        assert not str(step.get("uses", "")).startswith("actions/checkout@"), "never check out here"
    (download,) = uses(job, "actions/download-artifact")
    assert download["with"]["name"] == "offline-plan"
    assert download["with"]["run-id"] == "${{ github.event.workflow_run.id }}"


def test_preview_runs_each_stack_with_its_policy_config_for_same_repository_pull_requests() -> None:
    preview = workflow("preview.yml")
    (job,) = preview["jobs"].values()

    assert {entry["stack"] for entry in job["strategy"]["matrix"]["include"]} == {"dev", "staging", "prod"}
    assert job["if"] == "github.event.pull_request.head.repo.full_name == github.repository"
    assert job["permissions"]["id-token"] == "write"
    (pulumi,) = uses(job, "pulumi/actions")
    assert pulumi["with"]["command"] == "preview"
    assert pulumi["with"]["diff"] is True and pulumi["with"]["comment-on-pr"] is True
    assert pulumi["with"]["policyPacks"] == "policies"
    assert pulumi["with"]["policyPackConfigs"] == "policies/config/${{ matrix.stack }}.json"
    (aws,) = uses(job, "aws-actions/configure-aws-credentials")
    assert aws["with"]["role-to-assume"] == "${{ vars.AWS_PREVIEW_ROLE_ARN }}"


def test_deploy_brings_up_staging_then_prod_behind_the_production_environment() -> None:
    deploy = workflow("deploy.yml")
    jobs = deploy["jobs"]

    assert deploy["on"]["push"]["branches"] == ["main"]
    assert deploy["concurrency"]["cancel-in-progress"] is False
    assert jobs["staging"]["environment"] == "staging"
    assert jobs["production"]["environment"] == "production"
    assert jobs["production"]["needs"] == "production-preview"
    assert "staging" in jobs["production-preview"]["needs"]
    for name, stack in (("staging", "staging"), ("production", "prod")):
        (pulumi,) = uses(jobs[name], "pulumi/actions")
        assert (pulumi["with"]["command"], pulumi["with"]["stack-name"]) == ("up", stack)
        assert pulumi["with"]["policyPackConfigs"] == f"policies/config/{stack}.json"


def test_drift_check_is_scheduled_and_may_write_issues_only() -> None:
    drift = workflow("drift.yml")
    (job,) = drift["jobs"].values()

    assert drift["on"]["schedule"], "the drift check runs on a schedule"
    assert job["permissions"] == {"contents": "read", "id-token": "write", "issues": "write"}
    assert "--expect-no-changes" in (WORKFLOWS / "drift.yml").read_text()


# ---------------------------------------------------------------------------
# The comment workflow's script, under Node, against a stand-in for the GitHub API

NODE_HARNESS = r"""
const fs = require('fs');
const [scenarioFile, scriptFile] = process.argv.slice(2);
const scenario = JSON.parse(fs.readFileSync(scenarioFile, 'utf8'));
const calls = [];
const record = (name) => async (args) => {
  calls.push([name, args]);
  return { data: name === 'createComment' ? { id: 99 } : {} };
};
// Test double for the Octokit client github-script hands the script.
const github = {
  rest: {
    pulls: { get: async (args) => { calls.push(['pulls.get', args]); return { data: scenario.pr }; } },
    issues: {
      listComments: async () => { throw new Error('listed through paginate only'); },
      updateComment: record('updateComment'),
      createComment: record('createComment'),
    },
  },
  paginate: async (method, args) => {
    calls.push(['paginate', args]);
    return scenario.comments;
  },
};
const core = {
  setFailed: (message) => calls.push(['setFailed', message]),
  notice: (message) => calls.push(['notice', message]),
  info: () => {},
};
const context = { payload: { workflow_run: scenario.run }, repo: { owner: 'acme', repo: 'llm' } };
const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor;
new AsyncFunction('require', 'github', 'context', 'core', 'process', fs.readFileSync(scriptFile, 'utf8'))(
  require, github, context, core, process,
).then(() => console.log(JSON.stringify(calls)), (error) => { console.error(error); process.exit(1); });
"""

HEAD = "a" * 40
FORK = {"full_name": "someone/llm"}


def comment_script() -> str:
    (job,) = workflow("offline-plan-comment.yml")["jobs"].values()
    (script_step,) = uses(job, "actions/github-script")
    return str(script_step["with"]["script"])


def post(tmp_path: Path, pr_number: str, comment: str, scenario: dict[str, Any]) -> list[list[Any]]:
    node = shutil.which("node")
    assert node, "the comment script test needs Node.js, which GitHub's runners and this machine have"
    artifact = tmp_path / "offline-plan"
    artifact.mkdir()
    (artifact / "pr-number").write_text(pr_number)
    (artifact / "comment.md").write_text(comment)
    (tmp_path / "scenario.json").write_text(json.dumps(scenario))
    (tmp_path / "script.js").write_text(comment_script())
    (tmp_path / "harness.js").write_text(NODE_HARNESS)
    result = subprocess.run(
        [node, str(tmp_path / "harness.js"), str(tmp_path / "scenario.json"), str(tmp_path / "script.js")],
        env={"RUNNER_TEMP": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return list(json.loads(result.stdout))


def scenario(comments: list[dict[str, Any]], pr_head: str = HEAD) -> dict[str, Any]:
    return {
        "run": {"head_sha": HEAD, "head_repository": FORK},
        "pr": {"head": {"sha": pr_head, "repo": FORK}},
        "comments": comments,
    }


def test_comment_script_creates_one_comment_starting_with_the_marker(tmp_path: Path) -> None:
    calls = post(tmp_path, "12\n", f"{MARKER}\n## Offline plan\n", scenario(comments=[]))

    assert calls[0] == ["pulls.get", {"owner": "acme", "repo": "llm", "pull_number": 12}]
    (created,) = [args for name, args in calls if name == "createComment"]
    assert created["issue_number"] == 12
    assert created["body"] == f"{MARKER}\n\n## Offline plan\n", "one marker, at the start"
    assert not [c for c in calls if c[0] == "updateComment"]


def test_comment_script_updates_its_own_comment_only(tmp_path: Path) -> None:
    comments = [
        {"id": 1, "user": {"login": "someone"}, "body": f"{MARKER}\nquoted by a person"},
        {"id": 2, "user": {"login": "github-actions[bot]"}, "body": "another bot comment"},
        {"id": 3, "user": {"login": "github-actions[bot]"}, "body": f"{MARKER}\nold report"},
    ]

    calls = post(tmp_path, "12", "new report", scenario(comments))

    (updated,) = [args for name, args in calls if name == "updateComment"]
    assert updated["comment_id"] == 3
    assert updated["body"] == f"{MARKER}\nnew report"
    assert not [c for c in calls if c[0] == "createComment"]


def test_comment_script_refuses_a_number_whose_pull_request_has_another_head(tmp_path: Path) -> None:
    # A fork controls the artifact: naming someone else's pull request must not post there.
    calls = post(tmp_path, "7", "report", scenario(comments=[], pr_head="b" * 40))

    assert [name for name, _ in calls] == ["pulls.get", "notice"]


def test_comment_script_refuses_what_is_not_a_pull_request_number(tmp_path: Path) -> None:
    calls = post(tmp_path, "7; rm -rf /", "report", scenario(comments=[]))

    assert calls == [["setFailed", 'pr-number: found "7; rm -rf /"; accepted: a pull request number']]


def test_comment_script_cuts_a_report_too_long_for_a_comment(tmp_path: Path) -> None:
    calls = post(tmp_path, "12", "x" * 70_000, scenario(comments=[]))

    (created,) = [args for name, args in calls if name == "createComment"]
    assert len(created["body"]) < 65_536, "GitHub refuses longer comment bodies"
    assert created["body"].endswith("*Cut to fit a comment: the whole report is in the run's artifact.*")
