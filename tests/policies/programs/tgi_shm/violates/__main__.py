"""Violates tgi-shm-size: 64 MB, Docker's default and 512m, in a container and two shapes of user data."""

import base64
import gzip
import textwrap

import pulumi_aws as aws
import pulumi_docker as docker

TGI = "ghcr.io/huggingface/text-generation-inference:3.3.7"

docker.Container("tgi", image=TGI, shm_size=64)

# cloud-config runcmd, no --shm-size at all.
cloud_config = textwrap.dedent(f"""\
    #cloud-config
    runcmd:
      - [docker, run, -d, --gpus, all, -p, "8080:80", "{TGI}", --model-id, HuggingFaceH4/zephyr-7b-beta]
""")
aws.ec2.Instance(
    "tgi-instance", ami="ami-0123456789abcdef0", instance_type="g5.xlarge", user_data=cloud_config
)

# gzip-compressed MIME multipart in a launch template, 512m of shm.
mime = textwrap.dedent(f"""\
    Content-Type: multipart/mixed; boundary="==BOUNDARY=="
    MIME-Version: 1.0

    --==BOUNDARY==
    Content-Type: text/x-shellscript; charset="us-ascii"

    #!/bin/bash
    docker run -d --shm-size=512m -p 8080:80 {TGI} --model-id m
    --==BOUNDARY==--
""")
aws.ec2.LaunchTemplate(
    "tgi-template",
    image_id="ami-0123456789abcdef0",
    user_data=base64.b64encode(gzip.compress(mime.encode())).decode(),
)
