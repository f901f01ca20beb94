"""Violates ebs-encrypted: the AMI's root volume, a plain data volume, a template mapping, a volume."""

import pulumi_aws as aws

aws.ec2.Instance(
    "default-root",
    ami="ami-0123456789abcdef0",
    instance_type="g5.xlarge",
    ebs_block_devices=[aws.ec2.InstanceEbsBlockDeviceArgs(device_name="/dev/sdf", volume_size=200)],
)
aws.ec2.LaunchTemplate(
    "plain-mapping",
    image_id="ami-0123456789abcdef0",
    block_device_mappings=[
        aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
            device_name="/dev/sda1",
            ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                volume_size=200, volume_type="gp3", encrypted="false"
            ),
        )
    ],
)
aws.ebs.Volume("weights", availability_zone="eu-west-1a", size=500)
