"""Violates engine-port-only-from-load-balancer four ways: vLLM's API port open to the internet, to a
monitoring security group, to a monitoring CIDR through host networking, and Ollama's to a CIDR."""

import base64

import pulumi_aws as aws

AMI = "ami-0123456789abcdef0"
VPC = "vpc-0123456789abcdef0"
VLLM = "vllm/vllm-openai:v0.30.0"

open_group = aws.ec2.SecurityGroup(
    "open",
    vpc_id=VPC,
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
    user_data=f"#!/bin/bash\ndocker run -d --ipc=host -p 8000:8000 {VLLM} m\n",
)

# Behind a load balancer, but a Prometheus security group may scrape the API port too.
alb_group = aws.ec2.SecurityGroup("alb", vpc_id=VPC)
aws.lb.LoadBalancer("alb", idle_timeout=300, security_groups=[alb_group.id], subnets=["subnet-a", "subnet-b"])
prometheus = aws.ec2.SecurityGroup("prometheus", vpc_id=VPC)
scraped = aws.ec2.SecurityGroup("scraped", vpc_id=VPC)
aws.ec2.SecurityGroupRule(
    "scraped-from-alb",
    type="ingress",
    security_group_id=scraped.id,
    protocol="tcp",
    from_port=8000,
    to_port=8000,
    source_security_group_id=alb_group.id,
)
aws.ec2.SecurityGroupRule(
    "scraped-from-prometheus",
    type="ingress",
    security_group_id=scraped.id,
    protocol="tcp",
    from_port=8000,
    to_port=8000,
    source_security_group_id=prometheus.id,
)
script = f"#!/bin/bash\ndocker run -d --ipc=host -p 8000:8000 {VLLM} m --port 8000\n"
aws.ec2.LaunchTemplate(
    "vllm-scraped",
    image_id=AMI,
    vpc_security_group_ids=[scraped.id],
    user_data=base64.b64encode(script.encode()).decode(),
)

# Host networking exposes the port as is; a monitoring subnet may reach it.
host_group = aws.ec2.SecurityGroup(
    "host",
    vpc_id=VPC,
    ingress=[
        aws.ec2.SecurityGroupIngressArgs(
            protocol="tcp", from_port=8000, to_port=8000, cidr_blocks=["10.1.0.0/16"]
        )
    ],
)
aws.ec2.Instance(
    "vllm-host",
    ami=AMI,
    instance_type="g5.xlarge",
    vpc_security_group_ids=[host_group.id],
    user_data=f"#!/bin/bash\ndocker run -d --ipc=host --network host {VLLM} m\n",
)

# Ollama has no authentication at all.
ollama_group = aws.ec2.SecurityGroup(
    "ollama",
    vpc_id=VPC,
    ingress=[
        aws.ec2.SecurityGroupIngressArgs(
            protocol="tcp", from_port=11434, to_port=11434, cidr_blocks=["10.0.0.0/8"]
        )
    ],
)
aws.ec2.Instance(
    "ollama",
    ami=AMI,
    instance_type="g5.xlarge",
    vpc_security_group_ids=[ollama_group.id],
    user_data="#!/bin/bash\ndocker run -d -p 11434:11434 ollama/ollama:0.32.13\n",
)
