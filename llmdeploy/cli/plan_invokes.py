"""Answers to provider lookups (invokes) in an offline run.

Nothing can be looked up offline, so each answer is a placeholder that says so
(`offline-...`), shaped like the provider's real result so programs run on.
Lookups we do not know answer with their own arguments, which keeps most
programs going; a program that needs more fails with its own error (exit 2).
"""

from __future__ import annotations

from typing import Any

OFFLINE_REGION = "us-east-1"
OFFLINE_ACCOUNT = "000000000000"
OFFLINE_AMI = "ami-0offline0plan0000"


def _availability_zones(args: dict[str, Any]) -> dict[str, Any]:
    names = [f"{OFFLINE_REGION}{suffix}" for suffix in "abc"]
    return {
        "names": names,
        "zoneIds": [f"use1-az{i}" for i in (1, 2, 4)],
        "id": OFFLINE_REGION,
        "groupNames": [OFFLINE_REGION],
        "state": "available",
    }


def _ssm_parameter(args: dict[str, Any]) -> dict[str, Any]:
    name = str(args.get("name", ""))
    # AMI parameters (DLAMI, Amazon Linux) are by far the most common lookup.
    value = OFFLINE_AMI if "ami" in name.lower() else f"offline-value-of:{name}"
    return {
        "id": name,
        "name": name,
        "value": value,
        "insecureValue": value,
        "type": "String",
        "arn": f"arn:aws:ssm:{OFFLINE_REGION}:{OFFLINE_ACCOUNT}:parameter{name}",
        "version": 1,
        "withDecryption": bool(args.get("withDecryption", True)),
    }


_ANSWERS = {
    "aws:index/getRegion:getRegion": lambda a: {
        "name": OFFLINE_REGION,
        "region": OFFLINE_REGION,
        "id": OFFLINE_REGION,
        "endpoint": "ec2.us-east-1.amazonaws.com",
        "description": "offline plan",
    },
    "aws:index/getCallerIdentity:getCallerIdentity": lambda a: {
        "accountId": OFFLINE_ACCOUNT,
        "arn": f"arn:aws:iam::{OFFLINE_ACCOUNT}:user/offline-plan",
        "id": OFFLINE_ACCOUNT,
        "userId": "OFFLINEPLAN",
    },
    "aws:index/getPartition:getPartition": lambda a: {
        "partition": "aws",
        "dnsSuffix": "amazonaws.com",
        "id": "aws",
        "reverseDnsPrefix": "com.amazonaws",
    },
    "aws:index/getAvailabilityZones:getAvailabilityZones": _availability_zones,
    # Elastic Load Balancing's account in us-east-1 (AWS docs, "Enable access logs for your ALB").
    "aws:elb/getServiceAccount:getServiceAccount": lambda a: {
        "arn": "arn:aws:iam::127311923021:root",
        "id": "127311923021",
    },
    "aws:ssm/getParameter:getParameter": _ssm_parameter,
    "aws:ec2/getAmi:getAmi": lambda a: {
        **a,
        "id": OFFLINE_AMI,
        "imageId": OFFLINE_AMI,
        "architecture": "x86_64",
        "name": "offline-plan-ami",
    },
}


def answer_invoke(token: str, args: dict[str, Any]) -> dict[str, Any]:
    answer = _ANSWERS.get(token)
    return answer(args) if answer else dict(args)
