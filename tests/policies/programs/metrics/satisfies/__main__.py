"""Satisfies metrics-port-reachable: each metrics port published, allowed from monitoring only."""

import base64

import pulumi_aws as aws
import pulumi_docker as docker

TGI = "ghcr.io/huggingface/text-generation-inference:3.3.7"
AMI = "ami-0123456789abcdef0"
VPC = "vpc-0123456789abcdef0"

# TGI on an instance: 9000 from the monitoring network (a separate ingress rule resource).
tgi_group = aws.ec2.SecurityGroup("tgi", vpc_id=VPC)
aws.vpc.SecurityGroupIngressRule(
    "tgi-metrics",
    security_group_id=tgi_group.id,
    ip_protocol="tcp",
    from_port=9000,
    to_port=9000,
    cidr_ipv4="10.0.0.0/8",
)
aws.ec2.Instance(
    "tgi",
    ami=AMI,
    instance_type="g5.xlarge",
    vpc_security_group_ids=[tgi_group.id],
    user_data=f"#!/bin/bash\ndocker run -d --shm-size 1g -p 8080:80 -p 9000:9000 {TGI} --model-id m\n",
)

# TGI's listener on loopback only, scraped by a collector on the host that re-exposes its metrics on
# 9464, which the monitoring network alone reaches.
collected_group = aws.ec2.SecurityGroup("tgi-collected", vpc_id=VPC)
aws.vpc.SecurityGroupIngressRule(
    "tgi-collector",
    security_group_id=collected_group.id,
    ip_protocol="tcp",
    from_port=9464,
    to_port=9464,
    cidr_ipv4="10.0.0.0/8",
)
aws.ec2.Instance(
    "tgi-collected",
    ami=AMI,
    instance_type="g5.xlarge",
    vpc_security_group_ids=[collected_group.id],
    user_data=f"#!/bin/bash\ndocker run -d --shm-size 1g -p 8080:80 -p 127.0.0.1:9000:9000 {TGI} --model-id m\n",
)

# vLLM in a launch template: 8000 from the ALB (traffic) and from the monitoring group (scrapes).
alb_group = aws.ec2.SecurityGroup("alb", vpc_id=VPC)
aws.lb.LoadBalancer("alb", idle_timeout=300, security_groups=[alb_group.id], subnets=["subnet-a", "subnet-b"])
monitoring_group = aws.ec2.SecurityGroup("prometheus", vpc_id=VPC)
vllm_group = aws.ec2.SecurityGroup("vllm", vpc_id=VPC)
aws.ec2.SecurityGroupRule(
    "vllm-from-alb",
    type="ingress",
    security_group_id=vllm_group.id,
    protocol="tcp",
    from_port=8000,
    to_port=8000,
    source_security_group_id=alb_group.id,
)
aws.ec2.SecurityGroupRule(
    "vllm-from-prometheus",
    type="ingress",
    security_group_id=vllm_group.id,
    protocol="tcp",
    from_port=8000,
    to_port=8000,
    source_security_group_id=monitoring_group.id,
)
script = "#!/bin/bash\ndocker run -d --ipc=host -p 8000:8000 vllm/vllm-openai:v0.31.0 --model m\n"
aws.ec2.LaunchTemplate(
    "vllm",
    image_id=AMI,
    vpc_security_group_ids=[vllm_group.id],
    user_data=base64.b64encode(script.encode()).decode(),
)

# Host networking exposes the port as is; an inline rule from a monitoring subnet allows it.
host_group = aws.ec2.SecurityGroup(
    "vllm-host",
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
    user_data="#!/bin/bash\ndocker run -d --ipc=host --network host vllm/vllm-openai:v0.31.0 --model m\n",
)

# A moved Prometheus port is followed: --prometheus-port 9100.
moved_group = aws.ec2.SecurityGroup(
    "tgi-moved",
    vpc_id=VPC,
    ingress=[
        aws.ec2.SecurityGroupIngressArgs(
            protocol="tcp", from_port=9100, to_port=9100, cidr_blocks=["10.0.0.0/8"]
        )
    ],
)
aws.ec2.Instance(
    "tgi-moved",
    ami=AMI,
    instance_type="g5.xlarge",
    vpc_security_group_ids=[moved_group.id],
    user_data=f"#!/bin/bash\ndocker run -d --shm-size 1g -p 9100:9100 {TGI} --prometheus-port 9100\n",
)

# On a Docker host there is no security group: publishing the port is what counts.
docker.Container(
    "tgi-local", image=TGI, shm_size=1024, ports=[docker.ContainerPortArgs(internal=9000, external=9000)]
)
# Ollama has no metrics endpoint: nothing to check.
docker.Container("ollama", image="ollama/ollama:0.32.0")
