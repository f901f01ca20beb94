"""The launch lifecycle hook, seen from the instance: complete it only once the engine answers `/health`.

An Auto Scaling group with a launch lifecycle hook holds every new instance in
`Pending:Wait` (and, for a warm pool, `Warmed:Pending:Wait`) until someone
completes the lifecycle action. Here the instance does it itself, from its user
data, after its engine answers `/health`:

- a warm-pool instance pulls the image, downloads the weights and runs the engine
  once (filling vLLM's compile cache) before EC2 Auto Scaling stops it, so a warm
  start is boot plus load;
- a normal launch, or a warm instance entering service, joins the target group
  only once it serves, and the health-check grace period starts only then (EC2
  Auto Scaling starts it after the hook completes).

If the engine never answers within the deadline the script completes with
ABANDON: the group terminates the instance and launches another (fail closed);
the hook's own timeout does the same if the script never runs.

Pure rendering; `llmdeploy.core.userdata_vllm` puts the lines into the user data.
The script is tested by running it (tests/test_lifecycle_script.py).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from llmdeploy.core.userdata import LIBEXEC_DIR, write_file

LAUNCH_TRANSITION = "autoscaling:EC2_INSTANCE_LAUNCHING"
COMPLETION_SCRIPT_PATH = f"{LIBEXEC_DIR}/complete-launch-lifecycle.sh"
COMPLETION_UNIT = "llmdeploy-complete-launch"
# The instance metadata service; the AWS CLI's own variable overrides it (and tests point it
# at a stand-in, since no IMDS exists off EC2).
IMDS_DEFAULT = "http://169.254.169.254"
POLL_SECONDS = 5


@dataclass(frozen=True)
class LaunchHook:
    group_name: str
    hook_name: str
    # The engine's health URL on the instance itself.
    health_url: str
    # Give up (ABANDON) after this long without a healthy answer: below the hook's timeout,
    # so the instance says so itself rather than the timeout.
    deadline_seconds: int


def completion_script(hook: LaunchHook) -> str:
    """The shell script that waits for `/health`, then completes the launch lifecycle action."""
    return "\n".join(
        [
            "#!/bin/bash",
            "# Completes this instance's launch lifecycle action once the engine answers /health:",
            "# CONTINUE when it does, ABANDON (the group replaces the instance) when the deadline passes.",
            "set -euo pipefail",
            f"group={shlex.quote(hook.group_name)}",
            f"hook={shlex.quote(hook.hook_name)}",
            f"health_url={shlex.quote(hook.health_url)}",
            f"deadline=$((SECONDS + {hook.deadline_seconds}))",
            f'poll="${{LLMDEPLOY_POLL_SECONDS:-{POLL_SECONDS}}}"',
            f'imds="${{AWS_EC2_METADATA_SERVICE_ENDPOINT:-{IMDS_DEFAULT}}}"',
            'token=$(curl -fsS --retry 5 -X PUT "$imds/latest/api/token" '
            '-H "X-aws-ec2-metadata-token-ttl-seconds: 300")',
            'metadata() { curl -fsS --retry 5 -H "X-aws-ec2-metadata-token: $token" '
            '"$imds/latest/meta-data/$1"; }',
            "instance_id=$(metadata instance-id)",
            "region=$(metadata placement/region)",
            "result=ABANDON",
            'while [ "$SECONDS" -lt "$deadline" ]; do',
            '  if curl -fsS -o /dev/null --max-time 5 "$health_url"; then',
            "    result=CONTINUE",
            "    break",
            "  fi",
            '  sleep "$poll"',
            "done",
            'echo "llmdeploy: engine health: $result; completing lifecycle hook $hook of $group"',
            "# Outside a lifecycle wait (a reboot in service) there is no action to complete: say so, go on.",
            "if ! aws autoscaling complete-lifecycle-action \\",
            '    --region "$region" \\',
            '    --auto-scaling-group-name "$group" \\',
            '    --lifecycle-hook-name "$hook" \\',
            '    --instance-id "$instance_id" \\',
            '    --lifecycle-action-result "$result"; then',
            '  echo "llmdeploy: no lifecycle action to complete for $instance_id" >&2',
            "fi",
            "",
        ]
    )


def completion_unit(hook: LaunchHook) -> str:
    """A oneshot systemd unit, so the wait runs after cloud-init without blocking it."""
    return "\n".join(
        [
            "[Unit]",
            f"Description=llmdeploy: complete lifecycle hook {hook.hook_name} once the engine is healthy",
            "After=network-online.target docker.service",
            "Wants=network-online.target",
            "",
            "[Service]",
            "Type=oneshot",
            f"ExecStart={COMPLETION_SCRIPT_PATH}",
            "",
        ]
    )


def completion_steps(hook: LaunchHook) -> list[str]:
    """User-data lines: install the script and its unit, start it without waiting (at every boot)."""
    return [
        "# The launch lifecycle hook: completed by the instance once its engine answers /health.",
        *write_file(COMPLETION_SCRIPT_PATH, completion_script(hook), "0755"),
        *write_file(f"/etc/systemd/system/{COMPLETION_UNIT}.service", completion_unit(hook), "0644"),
        "systemctl daemon-reload",
        f"systemctl restart --no-block {COMPLETION_UNIT}.service",
    ]
