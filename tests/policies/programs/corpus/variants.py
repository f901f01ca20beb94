"""The policy corpus: small Pulumi programs written as a user would, with `pulumi_aws` and `pulumi_docker`.

`v_*` functions each hide one violation a different way; `c_*` functions are compliant. Around the
violation everything is compliant (IMDSv2, encrypted volumes, detailed monitoring, vLLM's API port
from a load balancer only, metrics ports reachable from a monitoring range), so each violation is attributed to the policy it is about. The expected
findings live in tests/policies/test_corpus.py.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import pulumi
import pulumi_aws as aws
import pulumi_docker as docker

VLLM = "vllm/vllm-openai:v0.31.0"
TGI = "ghcr.io/huggingface/text-generation-inference:3.3.7"
DLC_TGI = (
    "763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-tgi-inference:"
    "2.4.0-tgi2.4.0-gpu-py311-cu124-ubuntu22.04"
)
DLC_VLLM = "763104351884.dkr.ecr.us-west-2.amazonaws.com/vllm:0.8.5-gpu-py312-ec2"
AMI = "ami-0123456789abcdef0"
VPC = "vpc-0123456789abcdef0"
MONITORING = "10.0.0.0/8"
VARIANTS: dict[str, Callable[[], None]] = {}


def variant(function: Callable[[], None]) -> Callable[[], None]:
    VARIANTS[function.__name__] = function
    return function


def later(value: object) -> pulumi.Output:
    """A value only known after deploy: computed from a resource output inside apply()."""
    bucket = aws.s3.Bucket("source-of-unknowns")
    return bucket.id.apply(lambda _: value)


def token() -> pulumi.Output[str]:
    return pulumi.Config().require_secret("hfToken")


# ---------------------------------------------------------------------------
# Compliant building blocks


def load_balancer_group(name: str) -> aws.ec2.SecurityGroup:
    """An internal load balancer's security group: the only source the engine's API port may have."""
    group = aws.ec2.SecurityGroup(f"{name}-lb-sg", vpc_id=VPC)
    aws.lb.LoadBalancer(
        f"{name}-lb",
        load_balancer_type="application",
        internal=True,
        subnets=["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"],
        idle_timeout=300,
        security_groups=[group.id],
    )
    return group


def monitored_group(name: str = "servers") -> aws.ec2.SecurityGroup:
    """vLLM's API port (8000) from the load balancer only (engine-port-only-from-load-balancer); TGI's
    Prometheus port (9000) and the collector's port re-exposing vLLM's /metrics (9464) from monitoring."""
    balancer = load_balancer_group(name)
    return aws.ec2.SecurityGroup(
        name,
        vpc_id=VPC,
        ingress=[
            aws.ec2.SecurityGroupIngressArgs(
                protocol="tcp", from_port=8000, to_port=8000, security_groups=[balancer.id]
            ),
            *(
                aws.ec2.SecurityGroupIngressArgs(
                    protocol="tcp", from_port=port, to_port=port, cidr_blocks=[MONITORING]
                )
                for port in (9000, 9464)
            ),
        ],
    )


def gpu_instance(name: str, user_data: str | pulumi.Output[str], **overrides: object) -> aws.ec2.Instance:
    group = monitored_group(f"{name}-sg")
    args: dict[str, object] = {
        "ami": AMI,
        "instance_type": "g5.xlarge",
        "vpc_security_group_ids": [group.id],
        "monitoring": True,
        "metadata_options": aws.ec2.InstanceMetadataOptionsArgs(http_tokens="required"),
        "root_block_device": aws.ec2.InstanceRootBlockDeviceArgs(encrypted=True, volume_size=200),
        "user_data": user_data,
    }
    args.update(overrides)
    return aws.ec2.Instance(name, **args)  # type: ignore[arg-type]


def gpu_template(name: str, script: str, **overrides: object) -> aws.ec2.LaunchTemplate:
    group = monitored_group(f"{name}-sg")
    args: dict[str, object] = {
        "image_id": AMI,
        "instance_type": "g5.xlarge",
        "vpc_security_group_ids": [group.id],
        "monitoring": aws.ec2.LaunchTemplateMonitoringArgs(enabled=True),
        "metadata_options": aws.ec2.LaunchTemplateMetadataOptionsArgs(http_tokens="required"),
        "block_device_mappings": [
            aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                device_name="/dev/sda1",
                ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(encrypted="true", volume_size=200),
            )
        ],
        "user_data": base64.b64encode(script.encode()).decode(),
    }
    args.update(overrides)
    return aws.ec2.LaunchTemplate(name, **args)  # type: ignore[arg-type]


def vllm_container(name: str, image: pulumi.Input[str], **overrides: object) -> docker.Container:
    args: dict[str, object] = {
        "image": image,
        "ipc_mode": "host",
        "ports": [docker.ContainerPortArgs(internal=8000, external=8000)],
    }
    args.update(overrides)
    return docker.Container(name, **args)  # type: ignore[arg-type]


def public_alb(name: str, **overrides: object) -> aws.lb.LoadBalancer:
    args: dict[str, object] = {
        "load_balancer_type": "application",
        "internal": False,
        "subnets": ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"],
        "idle_timeout": 300,
        "enable_deletion_protection": True,
        "access_logs": aws.lb.LoadBalancerAccessLogsArgs(bucket="alb-logs-bucket", enabled=True),
    }
    args.update(overrides)
    return aws.lb.LoadBalancer(name, **args)  # type: ignore[arg-type]


def script(*lines: str) -> str:
    return "#!/bin/bash\nset -euo pipefail\n" + "\n".join(lines) + "\n"


RUN_VLLM = f"docker run -d --ipc=host -p 8000:8000 {VLLM} --model m"
RUN_TGI = f"docker run -d --shm-size 1g -p 9000:9000 {TGI} --model-id m"


# ---------------------------------------------------------------------------
# Engines found through the graph and by command (vllm-ipc-host, tgi-shm-size)


@variant
def v_remote_image_id() -> None:
    image = docker.RemoteImage("vllm-image", name=VLLM)
    vllm_container("vllm", image.image_id, ipc_mode=None)


@variant
def v_registry_image_digest() -> None:
    image = docker.RegistryImage(
        "vllm-copy", name="123456789012.dkr.ecr.eu-west-1.amazonaws.com/vllm-openai:v0.31.0"
    )
    vllm_container("vllm", image.sha256_digest, ipc_mode="private")


@variant
def v_generic_image_sh_c() -> None:
    vllm_container(
        "vllm",
        "python:3.12-slim",
        ipc_mode=None,
        entrypoints=["sh", "-c", "pip install vllm && vllm serve m"],
    )


@variant
def v_generic_image_module() -> None:
    vllm_container(
        "vllm",
        "pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime",
        ipc_mode=None,
        command=["python", "-m", "vllm.entrypoints.openai.api_server", "--model", "m"],
    )


@variant
def v_dlc_tgi_container() -> None:
    docker.Container(
        "tgi", image=DLC_TGI, ports=[docker.ContainerPortArgs(internal=9000, external=9000)], shm_size=64
    )


@variant
def v_dlc_vllm_container() -> None:
    vllm_container("vllm", DLC_VLLM, ipc_mode=None)


@variant
def v_ecr_mirror_tgi() -> None:
    docker.Container(
        "tgi",
        image="123456789012.dkr.ecr.eu-west-1.amazonaws.com/mirror/text-generation-inference:3.3.7",
        ports=[docker.ContainerPortArgs(internal=9000, external=9000)],
    )


@variant
def v_tgi_launcher_command() -> None:
    docker.Container(
        "tgi",
        image="nvidia/cuda:12.4.1-runtime-ubuntu22.04",
        command=["text-generation-launcher", "--model-id", "m"],
        ports=[docker.ContainerPortArgs(internal=9000, external=9000)],
        shm_size=256,
    )


# ---------------------------------------------------------------------------
# docker run in user data, in the forms people write it


@variant
def v_ud_image_in_variable() -> None:
    gpu_instance("vllm", script(f"IMG={VLLM}", 'docker run -d -p 8000:8000 "$IMG" --model m'))


@variant
def v_ud_docker_in_variable() -> None:
    gpu_instance("vllm", script(f"DOCKER=/usr/bin/docker; $DOCKER run -d -p 8000:8000 {VLLM}"))


@variant
def v_ud_su_c() -> None:
    gpu_instance("vllm", script(f"su ec2-user -c 'docker run -d -p 8000:8000 {VLLM} --model m'"))


@variant
def v_ud_systemd_run() -> None:
    gpu_instance("vllm", script(f"systemd-run --unit vllm -p Restart=always docker run -p 8000:8000 {VLLM}"))


@variant
def v_ud_generic_image_sh_c() -> None:
    gpu_instance(
        "vllm", script("docker run -d -p 8000:8000 python:3.12 sh -c 'pip install vllm && vllm serve m'")
    )


@variant
def v_ud_dlc_tgi() -> None:
    gpu_instance("tgi", script(f"docker run -d -p 9000:9000 {DLC_TGI} --model-id m"))


@variant
def v_ud_cloud_config_runcmd() -> None:
    config = {"runcmd": [["docker", "run", "-d", "-p", "8000:8000", VLLM, "--model", "m"]]}
    gpu_instance("vllm", "#cloud-config\n" + json.dumps(config))


@variant
def v_ud_heredoc_unit() -> None:
    gpu_instance(
        "tgi",
        script(
            "cat > /etc/systemd/system/tgi.service <<'UNIT'",
            "[Service]",
            f"ExecStart=/usr/bin/docker run --shm-size 64m -p 9000:9000 {TGI}",
            "UNIT",
            "systemctl enable --now tgi",
        ),
    )


@variant
def v_lt_base64_vllm() -> None:
    gpu_template("servers", script(f"docker run -d -p 8000:8000 {VLLM} --model m"))


# ---------------------------------------------------------------------------
# Shell constructs the parser must look inside (tree-sitter-bash)


@variant
def v_ud_case_arm() -> None:
    gpu_instance(
        "vllm",
        script(
            'case "$(uname -m)" in',
            f"  x86_64) docker run -d -p 8000:8000 {VLLM} --model m ;;",
            "  *) echo unsupported; exit 1 ;;",
            "esac",
        ),
    )


@variant
def v_ud_function_body() -> None:
    gpu_instance(
        "vllm",
        script("start_server() {", f"  docker run -d -p 8000:8000 {VLLM} --model m", "}", "start_server"),
    )


@variant
def v_ud_command_substitution() -> None:
    gpu_instance(
        "vllm", script(f'CID="$(docker run -d -p 8000:8000 {VLLM} --model m)"', 'echo "started $CID"')
    )


@variant
def v_ud_options_in_branches() -> None:
    # The image is a constant only on one branch: after the `if` it is not known.
    gpu_instance(
        "vllm",
        script(
            f"IMG={VLLM}",
            "if [[ -f /etc/llm/image ]]; then IMG=$(cat /etc/llm/image); fi",
            'docker run -d --ipc=host -p 8000:8000 "$IMG" --model m',
        ),
    )


@variant
def v_ud_unparseable_shell() -> None:
    gpu_instance("vllm", script(f"docker run -d --ipc=host -p 8000:8000 {VLLM} --model m )", "fi"))


# ---------------------------------------------------------------------------
# User data no static reading can follow (user-data-inspectable)


@variant
def v_ud_image_from_command() -> None:
    gpu_instance(
        "vllm",
        script(
            "IMG=$(aws ssm get-parameter --name /llm/image --query Parameter.Value --output text)",
            'docker run -d --ipc=host -p 8000:8000 "$IMG"',
        ),
    )


@variant
def v_ud_docker_from_which() -> None:
    gpu_instance("vllm", script(f"$(command -v docker) run -d -p 8000:8000 {VLLM}"))


@variant
def v_ud_eval() -> None:
    gpu_instance("vllm", script(f'eval "docker run -d -p 8000:8000 {VLLM}"'))


@variant
def v_ud_curl_pipe_bash() -> None:
    gpu_instance("vllm", script("curl -fsSL https://example.com/start-server.sh | bash"))


@variant
def v_ud_source_unknown_file() -> None:
    gpu_instance("vllm", script(". /opt/llm/start.sh"))


@variant
def v_ud_computed_at_deploy() -> None:
    gpu_instance("vllm", later(script(RUN_VLLM)))


@variant
def v_ud_include_url() -> None:
    gpu_instance("vllm", "#include\nhttps://example.com/user-data.sh\n")


# ---------------------------------------------------------------------------
# Moving tags (pinned-image-tag)


@variant
def v_tag_nightly_remote_image() -> None:
    image = docker.RemoteImage("vllm-image", name="vllm/vllm-openai:nightly")
    vllm_container("vllm", image.image_id)


@variant
def v_tag_main_container() -> None:
    docker.Container(
        "tgi",
        image="ghcr.io/huggingface/text-generation-inference:main",
        shm_size=1024,
        ports=[docker.ContainerPortArgs(internal=9000, external=9000)],
    )


@variant
def v_tag_dev_user_data() -> None:
    gpu_instance("ollama", script("docker run -d -p 11434:11434 ollama/ollama:dev"))


@variant
def v_no_tag_user_data() -> None:
    gpu_instance("vllm", script("docker run -d --ipc=host -p 8000:8000 vllm/vllm-openai --model m"))


@variant
def v_latest_generic_image_through_graph() -> None:
    image = docker.RemoteImage("python-image", name="python:latest")
    vllm_container("vllm", image.image_id, entrypoints=["sh", "-c", "vllm serve m"])


@variant
def v_container_image_unknown() -> None:
    repository = aws.ecr.Repository("models")
    vllm_container("server", repository.repository_url)


# ---------------------------------------------------------------------------
# SSH from the internet, measured by address space (no-ssh-from-internet)


@variant
def v_ssh_halves_one_rule() -> None:
    aws.ec2.SecurityGroup(
        "ssh",
        vpc_id=VPC,
        ingress=[
            aws.ec2.SecurityGroupIngressArgs(
                protocol="tcp", from_port=22, to_port=22, cidr_blocks=["0.0.0.0/1", "128.0.0.0/1"]
            )
        ],
    )


@variant
def v_ssh_halves_two_rules() -> None:
    group = aws.ec2.SecurityGroup("ssh", vpc_id=VPC)
    for index, cidr in enumerate(("0.0.0.0/1", "128.0.0.0/1")):
        aws.ec2.SecurityGroupRule(
            f"half-{index}",
            type="ingress",
            security_group_id=group.id,
            protocol="tcp",
            from_port=22,
            to_port=22,
            cidr_blocks=[cidr],
        )


@variant
def v_ssh_two_public_slash8() -> None:
    aws.ec2.SecurityGroup(
        "ssh",
        vpc_id=VPC,
        ingress=[
            aws.ec2.SecurityGroupIngressArgs(
                protocol="tcp", from_port=22, to_port=22, cidr_blocks=["8.0.0.0/8", "9.0.0.0/8"]
            )
        ],
    )


@variant
def v_ssh_public_ipv6_slash16() -> None:
    group = aws.ec2.SecurityGroup("ssh", vpc_id=VPC)
    aws.vpc.SecurityGroupIngressRule(
        "ssh-v6",
        security_group_id=group.id,
        ip_protocol="tcp",
        from_port=22,
        to_port=22,
        cidr_ipv6="2600::/16",
    )


@variant
def v_ssh_default_security_group() -> None:
    aws.ec2.DefaultSecurityGroup(
        "default",
        vpc_id=VPC,
        ingress=[
            aws.ec2.DefaultSecurityGroupIngressArgs(
                protocol="tcp", from_port=22, to_port=22, cidr_blocks=["0.0.0.0/0"]
            )
        ],
    )


@variant
def v_ssh_every_protocol_in_halves() -> None:
    group = aws.ec2.SecurityGroup("open", vpc_id=VPC)
    for index, cidr in enumerate(("0.0.0.0/1", "128.0.0.0/1")):
        aws.vpc.SecurityGroupIngressRule(
            f"all-{index}", security_group_id=group.id, ip_protocol="-1", cidr_ipv4=cidr
        )


@variant
def v_ssh_port_range_on_foreign_group() -> None:
    aws.ec2.SecurityGroupRule(
        "low-ports",
        type="ingress",
        security_group_id="sg-0123456789abcdef0",
        protocol="tcp",
        from_port=0,
        to_port=1024,
        cidr_blocks=["0.0.0.0/0"],
    )


@variant
def v_ssh_inline_and_separate_halves() -> None:
    group = aws.ec2.SecurityGroup(
        "ssh",
        vpc_id=VPC,
        ingress=[
            aws.ec2.SecurityGroupIngressArgs(
                protocol="tcp", from_port=22, to_port=22, cidr_blocks=["0.0.0.0/1"]
            )
        ],
    )
    aws.ec2.SecurityGroupRule(
        "other-half",
        type="ingress",
        security_group_id=group.id,
        protocol="tcp",
        from_port=22,
        to_port=22,
        cidr_blocks=["128.0.0.0/1"],
    )


# ---------------------------------------------------------------------------
# Metrics port (metrics-port-reachable)


@variant
def v_metrics_open_in_halves() -> None:
    group = aws.ec2.SecurityGroup("metrics", vpc_id=VPC)
    for index, cidr in enumerate(("0.0.0.0/1", "128.0.0.0/1")):
        aws.vpc.SecurityGroupIngressRule(
            f"metrics-{index}",
            security_group_id=group.id,
            ip_protocol="tcp",
            from_port=9000,
            to_port=9000,
            cidr_ipv4=cidr,
        )
    gpu_instance("tgi", script(RUN_TGI), vpc_security_group_ids=[group.id])


@variant
def v_metrics_default_group_open_v6() -> None:
    group = aws.ec2.DefaultSecurityGroup(
        "default",
        vpc_id=VPC,
        ingress=[
            aws.ec2.DefaultSecurityGroupIngressArgs(
                protocol="tcp", from_port=9000, to_port=9000, ipv6_cidr_blocks=["::/0"]
            )
        ],
    )
    gpu_instance("tgi", script(RUN_TGI), vpc_security_group_ids=[group.id])


@variant
def v_metrics_not_published() -> None:
    gpu_instance("tgi", script(f"docker run -d --shm-size 1g {TGI} --model-id m"))


# vLLM serves /metrics (and /invocations, /tokenize) without its key on its API port: that port takes
# traffic from the load balancer only, whichever form opens it (engine-port-only-from-load-balancer).


@variant
def v_engine_port_open_in_halves() -> None:
    group = aws.ec2.SecurityGroup("engine", vpc_id=VPC)
    for index, cidr in enumerate(("0.0.0.0/1", "128.0.0.0/1")):
        aws.vpc.SecurityGroupIngressRule(
            f"engine-{index}",
            security_group_id=group.id,
            ip_protocol="tcp",
            from_port=8000,
            to_port=8000,
            cidr_ipv4=cidr,
        )
    gpu_instance("vllm", script(RUN_VLLM), vpc_security_group_ids=[group.id])


@variant
def v_engine_port_from_monitoring_cidr() -> None:
    # Prometheus scraping vLLM's /metrics straight from a private range opens inference to that range.
    group = aws.ec2.SecurityGroup(
        "scrape",
        vpc_id=VPC,
        ingress=[
            aws.ec2.SecurityGroupIngressArgs(
                protocol="tcp", from_port=8000, to_port=8000, cidr_blocks=[MONITORING]
            )
        ],
    )
    gpu_instance("vllm", script(RUN_VLLM), vpc_security_group_ids=[group.id])


# ---------------------------------------------------------------------------
# Values unknown at preview: "cannot verify at preview", never a pass


@variant
def v_idle_timeout_computed() -> None:
    public_alb("api", idle_timeout=later(400))


@variant
def v_idle_timeout_default() -> None:
    public_alb("api", idle_timeout=None)


@variant
def v_grace_period_computed() -> None:
    template = gpu_template("servers", script(RUN_VLLM))
    group = aws.lb.TargetGroup("api", port=8000, protocol="HTTP", vpc_id=VPC)
    aws.autoscaling.Group(
        "fleet",
        min_size=1,
        max_size=2,
        vpc_zone_identifiers=["subnet-0123456789abcdef0"],
        launch_template=aws.autoscaling.GroupLaunchTemplateArgs(id=template.id, version="$Latest"),
        target_group_arns=[group.arn],
        health_check_type="ELB",
        health_check_grace_period=later(900),
    )


@variant
def v_grace_period_through_attachment() -> None:
    template = gpu_template("servers", script(RUN_VLLM))
    target = aws.lb.TargetGroup("api", port=8000, protocol="HTTP", vpc_id=VPC)
    fleet = aws.autoscaling.Group(
        "fleet",
        min_size=1,
        max_size=2,
        vpc_zone_identifiers=["subnet-0123456789abcdef0"],
        launch_template=aws.autoscaling.GroupLaunchTemplateArgs(id=template.id, version="$Latest"),
        health_check_grace_period=120,
    )
    aws.autoscaling.Attachment("fleet-api", autoscaling_group_name=fleet.name, lb_target_group_arn=target.arn)


@variant
def v_imds_tokens_computed() -> None:
    gpu_instance(
        "vllm",
        script(RUN_VLLM),
        metadata_options=aws.ec2.InstanceMetadataOptionsArgs(http_tokens=later("required")),
    )


@variant
def v_volume_encryption_computed() -> None:
    aws.ebs.Volume("weights", availability_zone="us-east-1a", size=200, encrypted=later(True))


# ---------------------------------------------------------------------------
# Launch template inheritance


@variant
def v_template_imds_optional_inherited() -> None:
    template = gpu_template(
        "servers",
        script(RUN_VLLM),
        metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(http_tokens="optional"),
    )
    aws.ec2.Instance(
        "from-template", launch_template=aws.ec2.InstanceLaunchTemplateArgs(id=template.id, version="$Latest")
    )


@variant
def v_instance_overrides_template_imds() -> None:
    template = gpu_template("servers", script(RUN_VLLM))
    aws.ec2.Instance(
        "from-template",
        launch_template=aws.ec2.InstanceLaunchTemplateArgs(id=template.id, version="$Latest"),
        metadata_options=aws.ec2.InstanceMetadataOptionsArgs(http_tokens="optional"),
    )


@variant
def v_instance_from_foreign_template() -> None:
    aws.ec2.Instance(
        "from-template",
        launch_template=aws.ec2.InstanceLaunchTemplateArgs(id="lt-0123456789abcdef0", version="$Latest"),
    )


@variant
def v_template_ebs_unencrypted_inherited() -> None:
    template = gpu_template(
        "servers",
        script(RUN_VLLM),
        block_device_mappings=[
            aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                device_name="/dev/sda1",
                ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(encrypted="false", volume_size=200),
            )
        ],
    )
    aws.ec2.Instance(
        "from-template", launch_template=aws.ec2.InstanceLaunchTemplateArgs(id=template.id, version="$Latest")
    )


# ---------------------------------------------------------------------------
# Hugging Face tokens (hf-token-secret)


def task(name: str, containers: pulumi.Input[str]) -> None:
    aws.ecs.TaskDefinition(
        name, family=name, requires_compatibilities=["EC2"], container_definitions=containers
    )


@variant
def v_ecs_token_literal_not_hf_shaped() -> None:
    containers = [
        {"name": "tgi", "image": TGI, "environment": [{"name": "HF_TOKEN", "value": "token-from-the-wiki"}]}
    ]
    task("tgi", json.dumps(containers))


@variant
def v_ecs_token_under_another_name() -> None:
    containers = pulumi.Output.json_dumps(
        [{"name": "tgi", "image": TGI, "environment": [{"name": "MODEL_ACCESS", "value": token()}]}]
    )
    task("tgi", containers)


@variant
def v_ecs_secret_token_in_environment() -> None:
    containers = pulumi.Output.json_dumps(
        [{"name": "tgi", "image": TGI, "environment": [{"name": "HF_TOKEN", "value": token()}]}]
    )
    task("tgi", containers)


@variant
def v_ecs_hub_token_literal() -> None:
    containers = [
        {
            "name": "tgi",
            "image": TGI,
            "environment": [{"name": "HUGGING_FACE_HUB_TOKEN", "value": "see-vault-entry-17"}],
        }
    ]
    task("tgi", json.dumps(containers))


@variant
def v_ssm_string_parameter() -> None:
    aws.ssm.Parameter("hf-token", name="/llm/hf_token", type="String", value=token())


@variant
def v_ssm_string_list_token_shaped() -> None:
    aws.ssm.Parameter("access", name="/llm/access", type="StringList", value=token())


# ---------------------------------------------------------------------------
# Internet-facing load balancers (alb-access-logs, alb-deletion-protection)


@variant
def v_alb_without_access_logs() -> None:
    public_alb("api", access_logs=None)


@variant
def v_alb_access_logs_disabled() -> None:
    public_alb("api", access_logs=aws.lb.LoadBalancerAccessLogsArgs(bucket="alb-logs-bucket", enabled=False))


@variant
def v_alb_without_deletion_protection() -> None:
    public_alb("api", enable_deletion_protection=None)


@variant
def v_alb_internal_computed() -> None:
    public_alb("api", internal=later(False), access_logs=None, enable_deletion_protection=False)


# ---------------------------------------------------------------------------
# Detailed monitoring on GPU instances (gpu-detailed-monitoring)


@variant
def v_gpu_instance_basic_monitoring() -> None:
    gpu_instance("vllm", script(RUN_VLLM), monitoring=None)


@variant
def v_gpu_template_monitoring_off() -> None:
    gpu_template(
        "servers",
        script(RUN_VLLM),
        instance_type="p4d.24xlarge",
        monitoring=aws.ec2.LaunchTemplateMonitoringArgs(enabled=False),
    )


# ---------------------------------------------------------------------------
# Compliant programs: no policy may report anything


@variant
def c_remote_image_id_with_host_ipc() -> None:
    image = docker.RemoteImage("vllm-image", name=VLLM)
    vllm_container("vllm", image.image_id)


@variant
def c_generic_image_sh_c_with_host_ipc() -> None:
    vllm_container("vllm", "python:3.12-slim", entrypoints=["sh", "-c", "vllm serve m"])


@variant
def c_dlc_tgi_with_shared_memory() -> None:
    docker.Container(
        "tgi", image=DLC_TGI, shm_size=1024, ports=[docker.ContainerPortArgs(internal=9000, external=9000)]
    )


@variant
def c_ud_ipc_in_constant() -> None:
    gpu_instance("vllm", script("IPC=host", f"docker run -d --ipc=$IPC -p 8000:8000 {VLLM} --model m"))


@variant
def c_ud_su_c_with_host_ipc() -> None:
    gpu_instance("vllm", script(f"su ec2-user -c '{RUN_VLLM}'"))


@variant
def c_ud_systemd_run_with_host_ipc() -> None:
    gpu_instance("vllm", script(f"systemd-run --unit vllm {RUN_VLLM}"))


@variant
def c_ud_guarded_and_configured() -> None:
    # `[[ ]]` guards the run, a JSON file written by a here-document is data (no shell syntax needed),
    # options come from a constant split into words as the shell splits them.
    gpu_instance(
        "vllm",
        script(
            "cat > /etc/llm/config.json <<'EOF'",
            '{"model": "m", "port": 8000}',
            "EOF",
            'OPTS="--ipc=host -p 8000:8000"',
            f"[[ -e /dev/nvidia0 ]] && docker run -d $OPTS {VLLM} --model m",
        ),
    )


@variant
def c_ud_cloud_config_tgi() -> None:
    config = {"runcmd": [f"docker run -d --shm-size 1g -p 9000:9000 {TGI} --model-id m"]}
    gpu_instance("tgi", "#cloud-config\n" + json.dumps(config))


@variant
def c_instance_from_compliant_template() -> None:
    template = gpu_template("servers", script(RUN_VLLM))
    aws.ec2.Instance(
        "from-template", launch_template=aws.ec2.InstanceLaunchTemplateArgs(id=template.id, version="$Latest")
    )


@variant
def c_ssh_from_private_ranges() -> None:
    aws.ec2.SecurityGroup(
        "ssh",
        vpc_id=VPC,
        ingress=[
            aws.ec2.SecurityGroupIngressArgs(
                protocol="tcp", from_port=22, to_port=22, cidr_blocks=["10.0.0.0/8", "172.16.0.0/12"]
            )
        ],
    )


@variant
def c_ssh_from_one_office() -> None:
    group = aws.ec2.SecurityGroup("ssh", vpc_id=VPC)
    aws.ec2.SecurityGroupRule(
        "office",
        type="ingress",
        security_group_id=group.id,
        protocol="tcp",
        from_port=22,
        to_port=22,
        cidr_blocks=["52.95.110.0/24"],
    )


@variant
def c_ssh_from_ipv6_site() -> None:
    group = aws.ec2.SecurityGroup("ssh", vpc_id=VPC)
    aws.vpc.SecurityGroupIngressRule(
        "site-v6",
        security_group_id=group.id,
        ip_protocol="tcp",
        from_port=22,
        to_port=22,
        cidr_ipv6="2600:1f18:4000::/36",
    )


@variant
def c_vllm_instance_monitored() -> None:
    gpu_instance("vllm", script(RUN_VLLM))


@variant
def c_public_alb_logged_and_protected() -> None:
    public_alb("api")


@variant
def c_internal_alb() -> None:
    public_alb("api", internal=True, access_logs=None, enable_deletion_protection=False)


@variant
def c_ssm_secure_string() -> None:
    aws.ssm.Parameter("hf-token", name="/llm/hf_token", type="SecureString", value=token())


@variant
def c_ecs_token_from_secrets_manager() -> None:
    containers = [
        {
            "name": "tgi",
            "image": TGI,
            "secrets": [
                {"name": "HF_TOKEN", "valueFrom": "arn:aws:secretsmanager:us-east-1:123456789012:secret:hf"}
            ],
        }
    ]
    task("tgi", json.dumps(containers))


@variant
def c_gpu_template_fleet() -> None:
    template = gpu_template("servers", script(RUN_VLLM))
    group = aws.lb.TargetGroup("api", port=8000, protocol="HTTP", vpc_id=VPC)
    aws.autoscaling.Group(
        "fleet",
        min_size=1,
        max_size=2,
        vpc_zone_identifiers=["subnet-0123456789abcdef0"],
        launch_template=aws.autoscaling.GroupLaunchTemplateArgs(id=template.id, version="$Latest"),
        target_group_arns=[group.arn],
        health_check_type="ELB",
        health_check_grace_period=900,
    )


@variant
def c_pinned_by_digest() -> None:
    image = docker.RemoteImage("vllm-image", name="vllm/vllm-openai@sha256:" + "0123456789abcdef" * 4)
    vllm_container("vllm", image.image_id)


@variant
def c_ollama_pinned() -> None:
    docker.Container(
        "ollama",
        image="ollama/ollama:0.32.13",
        ports=[docker.ContainerPortArgs(internal=11434, external=11434)],
    )


@variant
def c_default_group_locked_down() -> None:
    aws.ec2.DefaultSecurityGroup("default", vpc_id=VPC)
