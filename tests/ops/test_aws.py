"""The AWS helper: retries in standard mode, and one clear message per kind of error."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

from llmdeploy.cli.ops.aws import (
    RETRY_MAX_ATTEMPTS,
    AwsAccessDenied,
    AwsCallFailed,
    AwsCredentialsRejected,
    AwsResourceMissing,
    AwsThrottled,
    AwsUnreachable,
    OpsError,
    client_config,
    iam_action,
    open_aws,
    translate,
)
from tests.fixtures.aws_test_doubles import ThrottlingTestDouble
from tests.fixtures.moto_server import MotoServer
from tests.fixtures.servers import closed_port


def client_error(
    code: str, message: str = "", operation: str = "DescribeImages", retries: int = 0
) -> ClientError:
    response = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"RetryAttempts": retries}}
    return ClientError(response, operation)  # type: ignore[arg-type]


def translated(error: Exception) -> OpsError:
    return translate(error, action="ec2:DescribeImages", resource="AMI ami-1", region="eu-west-1")


def test_clients_retry_in_standard_mode() -> None:
    retries = client_config().retries
    assert retries == {"mode": "standard", "total_max_attempts": RETRY_MAX_ATTEMPTS}


def test_iam_action_uses_the_signing_name() -> None:
    session = boto3.Session(aws_access_key_id="a", aws_secret_access_key="b", region_name="us-east-1")
    assert iam_action(session.client("elbv2"), "DescribeTargetHealth") == (
        "elasticloadbalancing:DescribeTargetHealth"
    )
    assert iam_action(session.client("service-quotas"), "GetServiceQuota") == "servicequotas:GetServiceQuota"


@pytest.mark.parametrize(
    "code", ["Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException"]
)
def test_throttling(code: str) -> None:
    error = translated(client_error(code, retries=4))
    assert isinstance(error, AwsThrottled)
    assert error.message == f"AWS throttled ec2:DescribeImages in eu-west-1 ({code}) on all 5 attempts"
    assert error.remedy.startswith("wait a minute and run again")


@pytest.mark.parametrize("code", ["AccessDenied", "AccessDeniedException", "UnauthorizedOperation"])
def test_access_denied_names_the_permission(code: str) -> None:
    error = translated(client_error(code, "You are not authorized to perform this operation."))
    assert isinstance(error, AwsAccessDenied)
    assert error.action == "ec2:DescribeImages"
    assert error.message == (
        "access denied: the credentials in use may not call ec2:DescribeImages on AMI ami-1 "
        "(AWS: You are not authorized to perform this operation.)"
    )
    assert error.remedy.startswith("allow ec2:DescribeImages in the IAM policy")


@pytest.mark.parametrize(
    "code", ["ParameterNotFound", "ResourceNotFoundException", "InvalidAMIID.NotFound", "TargetGroupNotFound"]
)
def test_missing_resource_names_the_resource(code: str) -> None:
    error = translated(client_error(code))
    assert isinstance(error, AwsResourceMissing)
    assert error.message == f"not found: AMI ami-1 in eu-west-1 ({code} from ec2:DescribeImages)"


def test_rejected_and_missing_credentials() -> None:
    rejected = translated(
        client_error("InvalidClientTokenId", "The security token included in the request is invalid.")
    )
    assert isinstance(rejected, AwsCredentialsRejected)
    assert "aws sso login" in rejected.remedy
    missing = translated(NoCredentialsError())
    assert isinstance(missing, AwsCredentialsRejected)
    assert missing.message == "no usable AWS credentials found for ec2:DescribeImages"


def test_unreachable_endpoint() -> None:
    error = translated(EndpointConnectionError(endpoint_url="https://ec2.eu-west-1.amazonaws.com/"))
    assert isinstance(error, AwsUnreachable)
    assert error.message.startswith("cannot reach AWS for ec2:DescribeImages in eu-west-1")


def test_other_errors_keep_the_aws_code_and_message() -> None:
    error = translated(client_error("InvalidParameterCombination", "Bad   combination\nof parameters"))
    assert isinstance(error, AwsCallFailed)
    assert error.message == (
        "ec2:DescribeImages failed for AMI ami-1 in eu-west-1: InvalidParameterCombination "
        "(AWS: Bad combination of parameters)"
    )


def test_region_is_required_and_checked(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    with pytest.raises(OpsError) as missing:
        open_aws(None)
    assert missing.value.message == "aws:region: found nothing; accepted: an AWS region such as us-east-1"
    with pytest.raises(OpsError) as bad:
        open_aws("us-east")
    assert bad.value.message.startswith("aws:region: found 'us-east'; accepted: an AWS region name")
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    assert open_aws(None).region == "eu-central-1"


def test_max_attempts_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    assert open_aws("us-east-1").max_attempts == 2
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "zero")
    with pytest.raises(OpsError) as bad:
        open_aws("us-east-1")
    assert (
        bad.value.message
        == "AWS_MAX_ATTEMPTS: found 'zero'; accepted: a whole number of attempts, at least 1"
    )


def test_unknown_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    with pytest.raises(OpsError) as error:
        open_aws("us-east-1", profile="nobody")
    assert error.value.message.startswith("AWS profile 'nobody' not found")


# ---------------------------------------------------------------------------
# Over the wire


@pytest.fixture
def throttling_sts(aws_env: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[ThrottlingTestDouble]:
    double = ThrottlingTestDouble()
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", double.url)
    yield double
    double.stop()


def test_throttled_calls_are_retried_then_reported(
    throttling_sts: ThrottlingTestDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two attempts keep the backoff (up to 1 s here) short; the default is RETRY_MAX_ATTEMPTS.
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    aws = open_aws("us-east-1")
    with pytest.raises(AwsThrottled) as error:
        aws.call("sts", "get_caller_identity", "the caller identity")
    assert throttling_sts.requests == 2, "standard mode retries a throttled call"
    assert (
        error.value.message
        == "AWS throttled sts:GetCallerIdentity in us-east-1 (Throttling) on all 2 attempts"
    )


def test_moto_answers_through_the_helper(aws_env: MotoServer) -> None:
    aws = open_aws("eu-west-1")
    assert aws.call("sts", "get_caller_identity", "the caller identity")["Account"] == "123456789012"
    offerings = aws.paginate(
        "ec2",
        "describe_instance_type_offerings",
        "offerings",
        "InstanceTypeOfferings",
        LocationType="availability-zone",
    )
    # Every type of every zone of the region (moto answers in one page; AWS in many).
    assert {offer["Location"] for offer in offerings} == {"eu-west-1a", "eu-west-1b", "eu-west-1c"}


def test_missing_resource_over_the_wire(aws_env: MotoServer) -> None:
    aws = open_aws("us-east-1")
    with pytest.raises(AwsResourceMissing) as error:
        aws.call("ssm", "get_parameter", "SSM parameter /llmdeploy/nothing", Name="/llmdeploy/nothing")
    assert error.value.message == (
        "not found: SSM parameter /llmdeploy/nothing in us-east-1 (ParameterNotFound from ssm:GetParameter)"
    )


def test_unreachable_endpoint_over_the_wire(aws_env: MotoServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    with pytest.raises(AwsUnreachable) as error:
        open_aws("us-east-1").call("sts", "get_caller_identity", "the caller identity")
    assert error.value.message.startswith("cannot reach AWS for sts:GetCallerIdentity in us-east-1")
