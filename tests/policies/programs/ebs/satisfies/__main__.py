"""Satisfies ebs-encrypted: encrypted root and data volumes everywhere."""

import pulumi_aws as aws

aws.ec2.Instance(
    "encrypted",
    ami="ami-0123456789abcdef0",
    instance_type="g5.xlarge",
    root_block_device=aws.ec2.InstanceRootBlockDeviceArgs(encrypted=True, volume_size=200, volume_type="gp3"),
    ebs_block_devices=[
        aws.ec2.InstanceEbsBlockDeviceArgs(device_name="/dev/sdf", volume_size=200, encrypted=True)
    ],
)
aws.ec2.LaunchTemplate(
    "encrypted",
    image_id="ami-0123456789abcdef0",
    block_device_mappings=[
        aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
            device_name="/dev/sda1",
            ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                volume_size=200, volume_type="gp3", encrypted="true"
            ),
        )
    ],
)
aws.ebs.Volume("weights", availability_zone="eu-west-1a", size=500, encrypted=True)
