"""AWS access for the ops commands: one way to make clients, one way to read their errors.

Every boto3 call of `preflight`, `verify` and `rollout` goes through `call` or
`paginate`, so a throttled, denied or missing-resource answer always reads the
same way: one line naming the IAM action (`ec2:DescribeInstanceTypes`) and the
resource, and a second saying what to do.

Clients use botocore's *standard* retry mode: throttling and transient errors
(5xx, connection resets) are retried with exponential backoff and jitter, up to
`RETRY_MAX_ATTEMPTS` attempts in all, or AWS_MAX_ATTEMPTS when the user sets it
(botocore's own variable, which an explicit client config would otherwise
override). The endpoint is botocore's own choice, so
`AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_<SERVICE>` point the commands at another
endpoint (the tests use this to reach moto on loopback).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import boto3  # type: ignore[import-untyped]
from botocore.config import Config  # type: ignore[import-untyped]
from botocore.exceptions import (  # type: ignore[import-untyped]
    BotoCoreError,
    ClientError,
    ConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
    ProfileNotFound,
    ReadTimeoutError,
    SSOError,
    TokenRetrievalError,
)
from botocore.parsers import ResponseParserError  # type: ignore[import-untyped]

from llmdeploy.cli.deadline import DeadlineExceeded, deadline

RETRY_MAX_ATTEMPTS = 5
MAX_ATTEMPTS_ENV = "AWS_MAX_ATTEMPTS"
# Per attempt: AWS answers these describe/get calls in well under a second.
CONNECT_TIMEOUT_SECONDS = 5
READ_TIMEOUT_SECONDS = 20
# One call, retries and backoff included (standard mode sleeps at most ~15 s over 5 attempts):
# the socket timeouts bound each read only, so a peer dripping bytes needs a wall-clock bound.
CALL_DEADLINE_SECONDS = 60


def client_config(max_attempts: int = RETRY_MAX_ATTEMPTS) -> Config:
    return Config(
        retries={"mode": "standard", "total_max_attempts": max_attempts},
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=READ_TIMEOUT_SECONDS,
        user_agent_appid="llmdeploy",
    )


def max_attempts_from_environment() -> int:
    value = os.environ.get(MAX_ATTEMPTS_ENV, "").strip()
    if not value:
        return RETRY_MAX_ATTEMPTS
    if not value.isdigit() or int(value) < 1:
        raise OpsError(
            f"{MAX_ATTEMPTS_ENV}: found {value!r}; accepted: a whole number of attempts, at least 1",
            f"unset {MAX_ATTEMPTS_ENV} for the default of {RETRY_MAX_ATTEMPTS}",
        )
    return int(value)


# The codes botocore's standard mode treats as throttling (botocore/retries/standard.py), less
# LimitExceededException (also a resource limit in several services) and TransactionInProgressException.
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
    }
)
ACCESS_DENIED_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "UnauthorizedAccess",
        "AuthorizationError",
        "AuthorizationErrorException",
        "Forbidden",
    }
)
REJECTED_CREDENTIALS_CODES = frozenset(
    {
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "SignatureDoesNotMatch",
        "IncompleteSignature",
        "InvalidAccessKeyId",
        "AuthFailure",
        "ExpiredToken",
        "ExpiredTokenException",
        "RequestExpired",
    }
)
MISSING_RESOURCE_CODES = frozenset(
    {
        "ParameterNotFound",
        "ResourceNotFoundException",
        "NoSuchResourceException",
        "NoSuchEntity",
        "TargetGroupNotFound",
        "LoadBalancerNotFound",
        "ActiveInstanceRefreshNotFound",
        "InvalidInstanceType",
    }
)
# EC2 reports a missing or malformed id as e.g. InvalidInstanceID.NotFound, InvalidAMIID.Malformed.
_MISSING_RESOURCE_PATTERN = re.compile(r"^Invalid\w+\.(NotFound|Malformed)$|NotFound(Exception|Fault)?$")

CREDENTIALS_REMEDY = (
    "set AWS_PROFILE or run `aws configure`; for IAM Identity Center run `aws sso login`; "
    "or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
)


T = TypeVar("T")


class OpsError(Exception):
    """One line saying what went wrong, and one saying what to do about it."""

    def __init__(self, message: str, remedy: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.remedy = remedy

    def report(self) -> str:
        """What a command prints to stderr before exiting 1."""
        return f"error: {self.message}" + (f"\nwhat to do: {self.remedy}" if self.remedy else "")


class AwsThrottled(OpsError):
    pass


class AwsAccessDenied(OpsError):
    def __init__(self, message: str, remedy: str, action: str) -> None:
        super().__init__(message, remedy)
        self.action = action


class AwsCredentialsRejected(OpsError):
    pass


class AwsResourceMissing(OpsError):
    pass


class AwsUnreachable(OpsError):
    pass


class AwsCallFailed(OpsError):
    pass


def iam_action(client: Any, operation_name: str) -> str:
    """The IAM action a call needs: the service's signing name and the API operation."""
    return f"{client.meta.service_model.signing_name}:{operation_name}"


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def translate(error: Exception, *, action: str, resource: str, region: str) -> OpsError:
    """Turn a botocore error into an `OpsError` naming the permission or the resource."""
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        code = str(details.get("Code", "Unknown"))
        aws_message = _one_line(details.get("Message", ""))
        said = f" (AWS: {aws_message})" if aws_message else ""
        if code in THROTTLING_CODES:
            attempts = error.response.get("ResponseMetadata", {}).get("RetryAttempts", 0) + 1
            return AwsThrottled(
                f"AWS throttled {action} in {region} ({code}) on all {attempts} attempts",
                "wait a minute and run again; if it persists, another tool in this account is using "
                "up the API rate for this service",
            )
        if code == "403":
            # botocore names the error by its HTTP status when it cannot parse the body (a proxy's
            # page; moto's server answering a JSON-protocol service in XML): AWS's words are noise then.
            said = ""
        if code in ACCESS_DENIED_CODES or code == "403":
            return AwsAccessDenied(
                f"access denied: the credentials in use may not call {action} on {resource}{said}",
                f"allow {action} in the IAM policy of the credentials in use, or use credentials with it",
                action,
            )
        if code in REJECTED_CREDENTIALS_CODES:
            return AwsCredentialsRejected(
                f"AWS rejected the credentials ({code}) when calling {action}{said}", CREDENTIALS_REMEDY
            )
        if code in MISSING_RESOURCE_CODES or _MISSING_RESOURCE_PATTERN.search(code):
            return AwsResourceMissing(
                f"not found: {resource} in {region} ({code} from {action})",
                f"check the name and that it exists in {region}",
            )
        return AwsCallFailed(f"{action} failed for {resource} in {region}: {code}{said}")
    if isinstance(error, NoCredentialsError | PartialCredentialsError):
        return AwsCredentialsRejected(f"no usable AWS credentials found for {action}", CREDENTIALS_REMEDY)
    if isinstance(error, SSOError | TokenRetrievalError):
        return AwsCredentialsRejected(
            f"the AWS SSO session could not give credentials for {action}: {_one_line(str(error))}",
            "run `aws sso login` for the profile in use",
        )
    if isinstance(error, ResponseParserError):
        return AwsCallFailed(
            f"{action} in {region}: the answer was not an AWS API response ({_one_line(str(error))[:120]})",
            "check AWS_ENDPOINT_URL and proxy settings: something other than AWS answered",
        )
    if isinstance(error, ConnectionError | ReadTimeoutError):
        return AwsUnreachable(
            f"cannot reach AWS for {action} in {region}: {_one_line(str(error))}",
            "check the network or proxy settings, and that the region name is right",
        )
    return AwsCallFailed(f"{action} failed for {resource} in {region}: {_one_line(str(error))}")


@dataclass
class Aws:
    """A boto3 session in one region, handing out clients with llmdeploy's retry settings."""

    session: boto3.Session
    region: str
    max_attempts: int = RETRY_MAX_ATTEMPTS
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.session.client(
                service, region_name=self.region, config=client_config(self.max_attempts)
            )
        return self._clients[service]

    def call(self, service: str, operation: str, resource: str, **params: Any) -> dict[str, Any]:
        """`client.<operation>(**params)`, with errors translated (see `translate`)."""

        def run(client: Any) -> dict[str, Any]:
            response: dict[str, Any] = getattr(client, operation)(**params)
            return response

        return self._guarded(service, operation, resource, run)

    def paginate(
        self, service: str, operation: str, resource: str, result_key: str, **params: Any
    ) -> list[Any]:
        """Every item under `result_key` across all pages, with errors translated."""

        def run(client: Any) -> list[Any]:
            items: list[Any] = []
            for page in client.get_paginator(operation).paginate(**params):
                items.extend(page.get(result_key, []))
            return items

        return self._guarded(service, operation, resource, run)

    def _guarded(self, service: str, operation: str, resource: str, run: Callable[[Any], T]) -> T:
        """`run(client)` within `CALL_DEADLINE_SECONDS`, every failure an `OpsError`.

        The client is made inside: botocore resolves credentials then, and half a key pair
        (PartialCredentialsError) is an answer to report, not a crash.
        """
        action = f"{service}:{operation}"
        try:
            with deadline(CALL_DEADLINE_SECONDS, f"{action} in {self.region}") as mine:
                client = self.client(service)
                action = iam_action(client, client.meta.method_to_api_mapping[operation])
                return run(client)
        except (ClientError, BotoCoreError, ResponseParserError) as error:
            raise translate(error, action=action, resource=resource, region=self.region) from error
        except DeadlineExceeded as expired:
            if expired.deadline is not mine:
                raise
            raise AwsUnreachable(
                f"no answer from AWS for {action} in {self.region} within {CALL_DEADLINE_SECONDS} s",
                "check the network, proxy and AWS_ENDPOINT_URL settings",
            ) from None


def open_aws(region: str | None, profile: str | None = None) -> Aws:
    """A session for `region`, else AWS_REGION (as the Pulumi AWS provider reads it), else botocore's
    own choice (AWS_DEFAULT_REGION, the profile)."""
    try:
        session = boto3.Session(profile_name=profile, region_name=region)
    except ProfileNotFound as error:
        raise OpsError(
            f"AWS profile {profile!r} not found ({_one_line(str(error))})",
            "name a profile from ~/.aws/config, or leave --profile out",
        ) from error
    chosen = region or os.environ.get("AWS_REGION") or session.region_name
    if not chosen:
        raise OpsError(
            "aws:region: found nothing; accepted: an AWS region such as us-east-1",
            "run `pulumi config set aws:region us-east-1`, pass --region, or set AWS_REGION",
        )
    if not re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d+", chosen):
        raise OpsError(
            f"aws:region: found {chosen!r}; accepted: an AWS region name such as us-east-1 or eu-west-3",
            "fix the region in the stack config (`pulumi config set aws:region ...`) or --region",
        )
    return Aws(session=session, region=chosen, max_attempts=max_attempts_from_environment())


__all__ = [
    "MAX_ATTEMPTS_ENV",
    "RETRY_MAX_ATTEMPTS",
    "Aws",
    "AwsAccessDenied",
    "AwsCallFailed",
    "AwsCredentialsRejected",
    "AwsResourceMissing",
    "AwsThrottled",
    "AwsUnreachable",
    "OpsError",
    "client_config",
    "iam_action",
    "max_attempts_from_environment",
    "open_aws",
    "translate",
]
