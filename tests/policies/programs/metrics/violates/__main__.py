"""Violates metrics-port-reachable five ways: unpublished, open to the internet, only a load balancer's
group allowed, loopback only, and a container that publishes nothing."""

import base64

import pulumi_aws as aws
import pulumi_docker as docker

TGI = "ghcr.io/huggingface/text-generation-inference:3.3.7"
AMI = "ami-0123456789abcdef0"

monitored = aws.ec2.SecurityGroup("monitored", vpc_id="vpc-0123456789abcdef0")
aws.vpc.SecurityGroupIngressRule(
    "monitored-metrics",
    security_group_id=monitored.id,
    ip_protocol="tcp",
    from_port=9000,
    to_port=9000,
    cidr_ipv4="10.0.0.0/8",
)

# TGI's Prometheus listener (9000) is never published: only the API is.
aws.ec2.Instance(
    "tgi-unpublished",
    ami=AMI,
    instance_type="g5.xlarge",
    vpc_security_group_ids=[monitored.id],
    user_data=f"#!/bin/bash\ndocker run -d --shm-size 1g -p 8080:80 {TGI} --model-id m\n",
)

# vLLM serves /metrics on its API port, and the group opens that port to everyone.
open_group = aws.ec2.SecurityGroup(
    "open",
    vpc_id="vpc-0123456789abcdef0",
    ingress=[
        aws.ec2.SecurityGroupIngressArgs(
            protocol="tcp", from_port=8000, to_port=8000, cidr_blocks=["0.0.0.0/0"]
        )
    ],
)
aws.ec2.Instance(
    "vllm-open",
    ami=AMI,
    instance_type="g5.xlarge",
    vpc_security_group_ids=[open_group.id],
    user_data="#!/bin/bash\ndocker run -d --ipc=host -p 8000:8000 vllm/vllm-openai:v0.31.0 --model m\n",
)

# Published, but the only rule for 9000 lets the load balancer in, which is not monitoring.
alb_group = aws.ec2.SecurityGroup("alb", vpc_id="vpc-0123456789abcdef0")
aws.lb.LoadBalancer(
    "alb",
    load_balancer_type="application",
    idle_timeout=300,
    security_groups=[alb_group.id],
    subnets=["subnet-a", "subnet-b"],
)
behind_alb = aws.ec2.SecurityGroup("behind-alb", vpc_id="vpc-0123456789abcdef0")
aws.ec2.SecurityGroupRule(
    "from-alb",
    type="ingress",
    security_group_id=behind_alb.id,
    protocol="tcp",
    from_port=8000,
    to_port=9000,
    source_security_group_id=alb_group.id,
)
script = f"#!/bin/bash\ndocker run -d --shm-size 1g -p 8080:80 -p 9000:9000 {TGI} --model-id m\n"
aws.ec2.LaunchTemplate(
    "tgi-behind-alb",
    image_id=AMI,
    vpc_security_group_ids=[behind_alb.id],
    user_data=base64.b64encode(script.encode()).decode(),
)

# Published on loopback only: the security group rule cannot reach it.
aws.ec2.Instance(
    "tgi-loopback",
    ami=AMI,
    instance_type="g5.xlarge",
    vpc_security_group_ids=[monitored.id],
    user_data=f"#!/bin/bash\ndocker run -d --shm-size 1g -p 127.0.0.1:9000:9000 {TGI} --model-id m\n",
)

docker.Container("vllm", image="vllm/vllm-openai:v0.31.0", ipc_mode="host")
