"""Satisfies tgi-shm-size: 1 GiB of shm (in MB on a container, with units in docker run), or host IPC."""

import base64

import pulumi_aws as aws
import pulumi_docker as docker

TGI = "ghcr.io/huggingface/text-generation-inference:3.3.7"

docker.Container("tgi", image=TGI, shm_size=1024)

aws.ec2.Instance(
    "tgi-instance",
    ami="ami-0123456789abcdef0",
    instance_type="g5.xlarge",
    user_data=f"#!/bin/bash\ndocker run -d --gpus all --shm-size 1g -p 8080:80 {TGI} --model-id m\n",
)

script = f"#!/bin/bash\ndocker run -d --gpus all --ipc=host -p 8080:80 {TGI} --model-id m\n"
aws.ec2.LaunchTemplate(
    "tgi-template", image_id="ami-0123456789abcdef0", user_data=base64.b64encode(script.encode()).decode()
)
