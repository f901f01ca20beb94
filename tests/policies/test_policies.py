"""Each policy against a minimal program that violates it and one that satisfies it, via the pack."""

from __future__ import annotations

import pytest

from llmdeploy.cli.check import PolicyPackProcess, PolicySetting, format_json
from tests.policies.helpers import CANARY, check, messages, names

# policy -> (program case, resources the violating program must be reported for, one per violation,
#            a phrase every violation message of that policy must contain)
CASES = {
    "hf-token-secret": (
        "hf_token",
        ["hf-token-plain", "hf-token-violates-test", "tagged", "tgi", "tgi-template", "vllm"],
        "plaintext",
    ),
    "vllm-ipc-host": ("vllm_ipc", ["sglang", "sglang-custom", "vllm", "vllm", "vllm-custom"], "--ipc=host"),
    "model-revision-pinned": ("model_revision", ["sglang", "tgi", "vllm"], "--revision"),
    "tgi-shm-size": ("tgi_shm", ["tgi", "tgi-instance", "tgi-template"], "at least 1 GiB"),
    "pinned-image-tag": ("pinned_image", ["servers", "servers", "tgi-image", "vllm"], ""),
    "metrics-port-reachable": (
        "metrics",
        # vLLM serves /metrics on its API port: engine-port-only-from-load-balancer covers it.
        ["tgi-behind-alb", "tgi-loopback", "tgi-unpublished"],
        "metrics",
    ),
    "engine-port-only-from-load-balancer": (
        "exposure",
        ["ollama", "vllm-host", "vllm-open", "vllm-scraped"],
        "without its API key",
    ),
    "imdsv2-required": ("imdsv2", ["no-options", "optional-tokens"], 'http_tokens="required"'),
    "ebs-encrypted": ("ebs", ["default-root", "default-root", "plain-mapping", "weights"], "encrypted"),
    "no-ssh-from-internet": ("ssh", ["everything", "inline", "ssh-v6"], "SSH is open to the internet"),
    "alb-https-only": ("alb_https", ["http", "v1-over-http"], "HTTPS"),
    "lb-idle-timeout-streaming": ("lb_idle", ["classic", "default-timeout"], "idle_timeout=300"),
    "asg-health-grace-period": (
        "asg_grace",
        ["default-grace", "short-grace"],
        "health_check_grace_period=600",
    ),
    "user-data-inspectable": ("user_data", ["computed", "includes", "not-base64"], "userData"),
}


@pytest.mark.parametrize("policy", sorted(CASES))
def test_violating_program_is_reported(pack: PolicyPackProcess, policy: str) -> None:
    case, expected, phrase = CASES[policy]
    result = check(pack, case, "violates")
    assert names(result, policy) == expected, (
        f"{policy} on programs/{case}/violates: expected {expected}, got:\n{messages(result, policy)}"
    )
    for violation in result.violations:
        if violation.policy == policy:
            assert violation.level == "mandatory", f"{violation.urn}: {policy} reported as {violation.level}"
            assert phrase in violation.message, (
                f"{violation.urn}: message lacks {phrase!r}:\n{violation.message}"
            )


@pytest.mark.parametrize("policy", sorted(CASES))
def test_satisfying_program_passes(pack: PolicyPackProcess, policy: str) -> None:
    case, _, _ = CASES[policy]
    result = check(pack, case, "satisfies")
    assert names(result, policy) == [], f"{policy} on programs/{case}/satisfies:\n{messages(result, policy)}"


def test_each_violation_says_what_to_change(pack: PolicyPackProcess) -> None:
    """The pack's message is the policy's description, then what is wrong and how to fix it."""
    result = check(pack, "tgi_shm", "violates")
    shm = [v for v in result.violations if v.policy == "tgi-shm-size"]
    by_name = {v.urn.rsplit("::", 1)[-1]: v.message for v in shm}
    assert "set shm_size=1024 (MB) on the container" in by_name["tgi"], by_name["tgi"]
    assert "64 MiB (shm_size=64)" in by_name["tgi"], by_name["tgi"]
    assert "add --shm-size 1g to its docker run" in by_name["tgi-instance"], by_name["tgi-instance"]
    assert "512 MiB (--shm-size 512m)" in by_name["tgi-template"], by_name["tgi-template"]
    # Found through gzip, then MIME: the message says where.
    assert "(gzip) MIME part 1 (text/x-shellscript)" in by_name["tgi-template"], by_name["tgi-template"]


def test_hf_token_never_printed(pack: PolicyPackProcess) -> None:
    result = check(pack, "hf_token", "violates")
    assert names(result, "hf-token-secret"), "expected hf-token-secret violations to render"
    for rendered in (format_json(result), "\n".join(v.message + v.urn for v in result.violations)):
        assert CANARY not in rendered, "the canary token appears in the check output"
        assert CANARY[3:20] not in rendered, "part of the canary token appears in the check output"


def test_hf_token_user_data_is_checked_even_as_a_secret(pack: PolicyPackProcess) -> None:
    """A secret in user data is still readable through the EC2 API: the launch template is reported."""
    result = check(pack, "hf_token", "violates")
    template = [
        v.message
        for v in result.violations
        if v.urn.endswith("::tgi-template") and v.policy == "hf-token-secret"
    ]
    assert template and "Secrets Manager" in template[0], messages(result, "hf-token-secret")


def test_secret_env_passes_but_plaintext_env_fails(pack: PolicyPackProcess) -> None:
    """The pack tells a Pulumi secret from plaintext in the same property (envs) of the same resource type."""
    satisfied = check(pack, "hf_token", "satisfies")
    violated = check(pack, "hf_token", "violates")
    assert "tgi" not in names(satisfied, "hf-token-secret"), messages(satisfied, "hf-token-secret")
    assert "tgi" in names(violated, "hf-token-secret"), messages(violated, "hf-token-secret")


def test_monitoring_cidrs_config_narrows_sources(pack: PolicyPackProcess) -> None:
    config = {
        "all": PolicySetting("mandatory"),
        "metrics-port-reachable": PolicySetting(None, {"monitoringCidrs": ["10.20.0.0/16"]}),
    }
    result = check(pack, "metrics", "satisfies", config)
    # 10.0.0.0/8 and 10.1.0.0/16 are outside 10.20.0.0/16 now (a collector's port from 10.0.0.0/8 too);
    # the Prometheus security group still counts.
    assert names(result, "metrics-port-reachable") == ["tgi", "tgi-collected", "tgi-moved"], messages(
        result, "metrics-port-reachable"
    )
    assert "inside 10.20.0.0/16" in messages(result, "metrics-port-reachable")


def test_minimums_are_configurable(pack: PolicyPackProcess) -> None:
    config = {
        "all": PolicySetting("mandatory"),
        "tgi-shm-size": PolicySetting(None, {"minimumGib": 2}),
        "lb-idle-timeout-streaming": PolicySetting(None, {"minimumSeconds": 900}),
        "asg-health-grace-period": PolicySetting(None, {"minimumSeconds": 1200}),
    }
    assert names(check(pack, "tgi_shm", "satisfies", config), "tgi-shm-size") == ["tgi", "tgi-instance"]
    assert names(check(pack, "lb_idle", "satisfies", config), "lb-idle-timeout-streaming") == ["streaming"]
    assert names(check(pack, "asg_grace", "satisfies", config), "asg-health-grace-period") == ["behind-alb"]


def test_enforcement_level_comes_from_config(pack: PolicyPackProcess) -> None:
    config = {"all": PolicySetting("mandatory"), "no-ssh-from-internet": PolicySetting("advisory")}
    result = check(pack, "ssh", "violates", config)
    levels = {v.level for v in result.violations if v.policy == "no-ssh-from-internet"}
    assert levels == {"advisory"}, messages(result, "no-ssh-from-internet")
    assert not result.mandatory, "advisory violations must not count as mandatory"

    disabled = check(pack, "ssh", "violates", {"all": PolicySetting("disabled")})
    assert disabled.violations == [], (
        f"disabled policies still report: {[v.policy for v in disabled.violations]}"
    )
