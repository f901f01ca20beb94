"""Satisfies engine-port-only-from-load-balancer: vLLM's API port from the load balancer only, metrics
from a collector's separate port; TGI (its key guards every inference route) from API CIDRs."""

import base64

import pulumi_aws as aws

AMI = "ami-0123456789abcdef0"
VPC = "vpc-0123456789abcdef0"

alb_group = aws.ec2.SecurityGroup("alb", vpc_id=VPC)
aws.lb.LoadBalancer("alb", idle_timeout=300, security_groups=[alb_group.id], subnets=["subnet-a", "subnet-b"])
vllm_group = aws.ec2.SecurityGroup(
    "vllm",
    vpc_id=VPC,
    ingress=[
        aws.ec2.SecurityGroupIngressArgs(
            protocol="tcp", from_port=8000, to_port=8000, security_groups=[alb_group.id]
        ),
        # The collector's Prometheus exporter, not the engine.
        aws.ec2.SecurityGroupIngressArgs(
            protocol="tcp", from_port=9464, to_port=9464, cidr_blocks=["10.40.0.0/16"]
        ),
    ],
)
script = "#!/bin/bash\ndocker run -d --ipc=host -p 8000:8000 vllm/vllm-openai:v0.30.0 m\n"
aws.ec2.LaunchTemplate(
    "vllm",
    image_id=AMI,
    vpc_security_group_ids=[vllm_group.id],
    user_data=base64.b64encode(script.encode()).decode(),
)

tgi_group = aws.ec2.SecurityGroup(
    "tgi",
    vpc_id=VPC,
    ingress=[
        aws.ec2.SecurityGroupIngressArgs(
            protocol="tcp", from_port=8080, to_port=8080, cidr_blocks=["203.0.113.0/24"]
        )
    ],
)
aws.ec2.Instance(
    "tgi",
    ami=AMI,
    instance_type="g5.xlarge",
    vpc_security_group_ids=[tgi_group.id],
    user_data="#!/bin/bash\ndocker run -d --shm-size 1g -p 8080:80 ghcr.io/huggingface/text-generation-inference:3.3.7 --model-id m\n",
)
