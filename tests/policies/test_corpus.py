"""The policy corpus: every violation reported (or reported as not verifiable), no false positive.

Each variant of programs/corpus/variants.py is its own program run: the real Pulumi SDK runs it
offline (`run_program`, as `llmdeploy check` does) and the pack, in its own process over the Analyzer
protocol, checks it with every policy mandatory. Violating variants must be reported by exactly the
policies expected, on the resources expected; compliant ones by none.
"""

from __future__ import annotations

import pytest
from llmpolicies.props import CANNOT_VERIFY

from llmdeploy.cli.check import PolicyPackProcess, PolicySetting
from llmdeploy.cli.mockrun import run_program
from tests.policies.helpers import ALL_MANDATORY, CANARY, PROGRAMS

CORPUS = PROGRAMS / "corpus"
UNVERIFIABLE = "unverifiable"

# variant -> {(policy, resource name)}; a third element "unverifiable" means the message must say
# "cannot verify at preview".
VIOLATIONS: dict[str, set[tuple[str, ...]]] = {
    # Engines through the graph, by image map and by command
    "v_remote_image_id": {("vllm-ipc-host", "vllm")},
    "v_registry_image_digest": {("vllm-ipc-host", "vllm")},
    "v_generic_image_sh_c": {("vllm-ipc-host", "vllm")},
    "v_generic_image_module": {("vllm-ipc-host", "vllm")},
    "v_dlc_tgi_container": {("tgi-shm-size", "tgi")},
    "v_dlc_vllm_container": {("vllm-ipc-host", "vllm")},
    "v_ecr_mirror_tgi": {("tgi-shm-size", "tgi")},
    "v_tgi_launcher_command": {("tgi-shm-size", "tgi")},
    # docker run forms in user data
    "v_ud_image_in_variable": {("vllm-ipc-host", "vllm")},
    "v_ud_docker_in_variable": {("vllm-ipc-host", "vllm")},
    "v_ud_su_c": {("vllm-ipc-host", "vllm")},
    "v_ud_systemd_run": {("vllm-ipc-host", "vllm")},
    "v_ud_generic_image_sh_c": {("vllm-ipc-host", "vllm")},
    "v_ud_dlc_tgi": {("tgi-shm-size", "tgi")},
    "v_ud_cloud_config_runcmd": {("vllm-ipc-host", "vllm")},
    "v_ud_heredoc_unit": {("tgi-shm-size", "tgi")},
    "v_lt_base64_vllm": {("vllm-ipc-host", "servers")},
    # shell constructs the parser looks inside
    "v_ud_case_arm": {("vllm-ipc-host", "vllm")},
    "v_ud_function_body": {("vllm-ipc-host", "vllm")},
    "v_ud_command_substitution": {("vllm-ipc-host", "vllm")},
    "v_ud_options_in_branches": {("user-data-inspectable", "vllm", UNVERIFIABLE)},
    "v_ud_unparseable_shell": {("user-data-inspectable", "vllm", UNVERIFIABLE)},
    # forms no static reading follows
    "v_ud_image_from_command": {("user-data-inspectable", "vllm", UNVERIFIABLE)},
    "v_ud_docker_from_which": {("user-data-inspectable", "vllm", UNVERIFIABLE)},
    "v_ud_eval": {("user-data-inspectable", "vllm", UNVERIFIABLE)},
    "v_ud_curl_pipe_bash": {("user-data-inspectable", "vllm", UNVERIFIABLE)},
    "v_ud_source_unknown_file": {("user-data-inspectable", "vllm", UNVERIFIABLE)},
    "v_ud_computed_at_deploy": {("user-data-inspectable", "vllm")},
    "v_ud_include_url": {("user-data-inspectable", "vllm")},
    # moving tags
    "v_tag_nightly_remote_image": {("pinned-image-tag", "vllm-image")},
    "v_tag_main_container": {("pinned-image-tag", "tgi")},
    "v_tag_dev_user_data": {("pinned-image-tag", "ollama")},
    "v_no_tag_user_data": {("pinned-image-tag", "vllm")},
    "v_latest_generic_image_through_graph": {("pinned-image-tag", "vllm")},
    "v_container_image_unknown": {("pinned-image-tag", "server", UNVERIFIABLE)},
    # the internet by address space, every security group form
    "v_ssh_halves_one_rule": {("no-ssh-from-internet", "ssh")},
    "v_ssh_halves_two_rules": {("no-ssh-from-internet", "half-0"), ("no-ssh-from-internet", "half-1")},
    "v_ssh_two_public_slash8": {("no-ssh-from-internet", "ssh")},
    "v_ssh_public_ipv6_slash16": {("no-ssh-from-internet", "ssh-v6")},
    "v_ssh_default_security_group": {("no-ssh-from-internet", "default")},
    "v_ssh_every_protocol_in_halves": {("no-ssh-from-internet", "all-0"), ("no-ssh-from-internet", "all-1")},
    "v_ssh_port_range_on_foreign_group": {("no-ssh-from-internet", "low-ports")},
    "v_ssh_inline_and_separate_halves": {
        ("no-ssh-from-internet", "ssh"),
        ("no-ssh-from-internet", "other-half"),
    },
    "v_metrics_open_in_halves": {("metrics-port-reachable", "tgi")},
    "v_metrics_default_group_open_v6": {("metrics-port-reachable", "tgi")},
    "v_metrics_not_published": {("metrics-port-reachable", "tgi")},
    "v_engine_port_open_in_halves": {("engine-port-only-from-load-balancer", "vllm")},
    "v_engine_port_from_monitoring_cidr": {("engine-port-only-from-load-balancer", "vllm")},
    # unknown at preview
    "v_idle_timeout_computed": {("lb-idle-timeout-streaming", "api", UNVERIFIABLE)},
    "v_idle_timeout_default": {("lb-idle-timeout-streaming", "api")},
    "v_grace_period_computed": {("asg-health-grace-period", "fleet", UNVERIFIABLE)},
    "v_grace_period_through_attachment": {("asg-health-grace-period", "fleet")},
    "v_imds_tokens_computed": {("imdsv2-required", "vllm", UNVERIFIABLE)},
    "v_volume_encryption_computed": {("ebs-encrypted", "weights", UNVERIFIABLE)},
    # launch template inheritance
    "v_template_imds_optional_inherited": {
        ("imdsv2-required", "servers"),
        ("imdsv2-required", "from-template"),
    },
    "v_instance_overrides_template_imds": {("imdsv2-required", "from-template")},
    "v_instance_from_foreign_template": {
        ("imdsv2-required", "from-template", UNVERIFIABLE),
        ("ebs-encrypted", "from-template", UNVERIFIABLE),
    },
    "v_template_ebs_unencrypted_inherited": {
        ("ebs-encrypted", "servers"),
        ("ebs-encrypted", "from-template"),
    },
    # Hugging Face tokens
    "v_ecs_token_literal_not_hf_shaped": {("hf-token-secret", "tgi")},
    "v_ecs_token_under_another_name": {("hf-token-secret", "tgi")},
    "v_ecs_secret_token_in_environment": {("hf-token-secret", "tgi")},
    "v_ecs_hub_token_literal": {("hf-token-secret", "tgi")},
    "v_ssm_string_parameter": {("hf-token-secret", "hf-token")},
    "v_ssm_string_list_token_shaped": {("hf-token-secret", "access")},
    # internet-facing load balancers
    "v_alb_without_access_logs": {("alb-access-logs", "api")},
    "v_alb_access_logs_disabled": {("alb-access-logs", "api")},
    "v_alb_without_deletion_protection": {("alb-deletion-protection", "api")},
    "v_alb_internal_computed": {
        ("alb-access-logs", "api", UNVERIFIABLE),
        ("alb-deletion-protection", "api", UNVERIFIABLE),
    },
    # detailed monitoring
    "v_gpu_instance_basic_monitoring": {("gpu-detailed-monitoring", "vllm")},
    "v_gpu_template_monitoring_off": {("gpu-detailed-monitoring", "servers")},
}


def _variants(prefix: str) -> list[str]:
    import ast

    tree = ast.parse((CORPUS / "variants.py").read_text())
    return [
        node.name for node in tree.body if isinstance(node, ast.FunctionDef) and node.name.startswith(prefix)
    ]


VIOLATING = _variants("v_")
COMPLIANT = _variants("c_")


def _check(pack: PolicyPackProcess, variant: str) -> list[tuple[str, str, str]]:
    run = run_program(
        CORPUS,
        "corpus",
        config={"corpus:variant": variant, "corpus:hfToken": CANARY},
        secret_keys=["corpus:hfToken"],
    )
    # model-revision-pinned would advise on nearly every program here; programs/model_revision tests it.
    config = {**ALL_MANDATORY, "model-revision-pinned": PolicySetting("disabled")}
    result = pack.check(run, config, "every policy mandatory but model-revision-pinned")
    return [(v.policy, v.urn.rsplit("::", 1)[-1], v.message) for v in result.violations]


def test_the_corpus_is_large_enough_and_fully_expected() -> None:
    assert len(VIOLATING) >= 60, len(VIOLATING)
    assert len(COMPLIANT) >= 20, len(COMPLIANT)
    assert sorted(VIOLATIONS) == sorted(VIOLATING), set(VIOLATIONS) ^ set(VIOLATING)


@pytest.mark.e2e
@pytest.mark.parametrize("variant", VIOLATING)
def test_violation_is_reported(pack: PolicyPackProcess, variant: str) -> None:
    found = _check(pack, variant)
    shown = "\n".join(f"{policy} on {name}: {message}" for policy, name, message in found) or "(nothing)"
    assert {(policy, name) for policy, name, _ in found} == {e[:2] for e in VIOLATIONS[variant]}, shown
    for expected in VIOLATIONS[variant]:
        if len(expected) == 3:
            messages = [m for policy, name, m in found if (policy, name) == expected[:2]]
            assert messages and all(CANNOT_VERIFY in m for m in messages), shown
    assert all(CANARY not in message for _, _, message in found), "the token leaked into a message"


@pytest.mark.e2e
@pytest.mark.parametrize("variant", COMPLIANT)
def test_compliant_program_passes(pack: PolicyPackProcess, variant: str) -> None:
    found = _check(pack, variant)
    assert found == [], "\n".join(f"{policy} on {name}: {message}" for policy, name, message in found)
