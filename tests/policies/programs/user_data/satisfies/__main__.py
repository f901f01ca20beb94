"""Satisfies user-data-inspectable: user data built from names known at preview, in each accepted encoding."""

import base64
import gzip

import pulumi_aws as aws

script = "#!/bin/bash\naws s3 sync s3://llm-models /models\n"
aws.ec2.LaunchTemplate(
    "base64", image_id="ami-0123456789abcdef0", user_data=base64.b64encode(script.encode()).decode()
)
aws.ec2.Instance("plain", ami="ami-0123456789abcdef0", instance_type="g5.xlarge", user_data=script)
aws.ec2.Instance(
    "gzip",
    ami="ami-0123456789abcdef0",
    instance_type="g5.xlarge",
    user_data_base64=base64.b64encode(gzip.compress(script.encode())).decode(),
)
