"""Verify: does a deployed stack really serve, and only what it should?

The AWS side first (the instance of a staging stack is running; the targets of
a prod stack's target group are healthy), then the endpoint as a client sees it,
with the official `openai` client: the model is listed, one chat completion,
one streamed completion with its time to first token. Then the health URL,
and, in prod, that `/metrics` is not served through the public endpoint
(metrics belong to monitoring only).
"""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx2 as httpx  # the HTTP client the openai package is built on
import openai

from llmdeploy.cli.deadline import DeadlineExceeded, deadline
from llmdeploy.cli.ops.aws import Aws, OpsError
from llmdeploy.cli.ops.checks import Check, CheckResult, Outcome, failed, passed, run_checks, skipped

# Stack outputs verify reads. The first five every stack exports (stacks/outputs.py).
ENDPOINT_OUTPUT = "endpoint"
MODEL_OUTPUT = "model"
HEALTH_URL_OUTPUT = "health_url"
TARGET_GROUP_OUTPUT = "target_group_arn"
INSTANCE_ID_OUTPUT = "instance_id"

PROMPT = "Reply with one word: hello."
MAX_TOKENS = 16
# Enough to read a Prometheus page's first metrics, not a whole dump.
BODY_LIMIT = 64 * 1024
# An OpenAI API answer to verify's small requests is a few KiB; an endless body must not fill memory.
API_BODY_LIMIT = 8 * 1024 * 1024
# `# HELP name ...`, `# TYPE name counter`, or a sample line `name{labels} 1.5`.
PROMETHEUS_LINE = re.compile(
    r"^(# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]*( |$)|[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? [-+0-9.eENaInf]+)",
    re.MULTILINE,
)


@dataclass(frozen=True)
class VerifyTarget:
    stack: str
    kind: str
    endpoint: str
    model: str
    health_url: str | None = None
    region: str | None = None
    target_group_arn: str | None = None
    instance_id: str | None = None
    api_key: str | None = field(default=None, repr=False)
    timeout_seconds: float = 120.0


def _present(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def verify_target_from_outputs(
    stack: str,
    kind: str,
    outputs: Mapping[str, Any],
    *,
    region: str | None = None,
    api_key: str | None = None,
    timeout_seconds: float = 120.0,
) -> VerifyTarget:
    """Adapter from stack outputs (as `pulumi stack output --json` prints them)."""
    endpoint = _present(outputs.get(ENDPOINT_OUTPUT))
    if endpoint is None or not re.match(r"^https?://[^\s/]+(/\S*)?$", endpoint):
        raise OpsError(
            f"{ENDPOINT_OUTPUT}: found {endpoint!r}; accepted: the OpenAI base URL, http(s)://host[:port]/v1",
            "deploy the stack first (`pulumi up`), or pass --endpoint URL",
        )
    model = _present(outputs.get(MODEL_OUTPUT))
    if model is None:
        raise OpsError(
            f"{MODEL_OUTPUT}: found nothing; accepted: the served model name",
            "pass --model NAME, or read the outputs of a deployed stack",
        )
    return VerifyTarget(
        stack=stack,
        kind=kind,
        endpoint=endpoint.rstrip("/"),
        model=model,
        health_url=_present(outputs.get(HEALTH_URL_OUTPUT)),
        region=region,
        target_group_arn=_present(outputs.get(TARGET_GROUP_OUTPUT)),
        instance_id=_present(outputs.get(INSTANCE_ID_OUTPUT)),
        api_key=api_key,
        timeout_seconds=timeout_seconds,
    )


@dataclass
class VerifyContext:
    target: VerifyTarget
    open_aws: Callable[[str | None], Aws]
    _aws: Aws | None = field(default=None, repr=False)
    _client: openai.OpenAI | None = field(default=None, repr=False)

    def aws(self) -> Aws:
        if self._aws is None:
            self._aws = self.open_aws(self.target.region)
        return self._aws

    def client(self) -> openai.OpenAI:
        if self._client is None:
            http_client = httpx.Client(
                transport=BoundedTransport(API_BODY_LIMIT), timeout=self.target.timeout_seconds
            )
            # No retries: verify reports what one client sees on its first try.
            self._client = openai.OpenAI(
                base_url=self.target.endpoint,
                # The client insists on a key; engines started without --api-key ignore it.
                api_key=self.target.api_key or "llmdeploy-verify",
                max_retries=0,
                timeout=self.target.timeout_seconds,
                http_client=http_client,
            )
        return self._client


class AnswerTooLarge(BaseException):
    """A body past its limit. A `BaseException`, so the openai client does not retry or rewrap it."""


class _BoundedStream(httpx.SyncByteStream):
    def __init__(self, stream: httpx.SyncByteStream, limit: int) -> None:
        self._stream = stream
        self._limit = limit

    def __iter__(self) -> Iterator[bytes]:
        size = 0
        for chunk in self._stream:
            size += len(chunk)
            if size > self._limit:
                raise AnswerTooLarge(f"the answer is over {self._limit // (1024 * 1024)} MiB")
            yield chunk

    def close(self) -> None:
        self._stream.close()


class BoundedTransport(httpx.HTTPTransport):
    """httpx's transport, with every response body cut off at `limit` bytes."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self._limit = limit

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        assert isinstance(response.stream, httpx.SyncByteStream)
        response.stream = _BoundedStream(response.stream, self._limit)
        return response


def within_timeout(what: str, run: Callable[[VerifyContext], Outcome]) -> Callable[[VerifyContext], Outcome]:
    """`run`, failed when its request takes longer than --timeout in all or its answer is too large.

    The client's own timeout bounds each read; a server that drips a byte a second passes it.
    """

    def guarded(context: VerifyContext) -> Outcome:
        seconds = context.target.timeout_seconds
        endpoint = context.target.endpoint
        try:
            with deadline(seconds, what) as mine:
                return run(context)
        except DeadlineExceeded as expired:
            if expired.deadline is not mine:
                raise
            return failed(
                f"{what}: no complete answer from {endpoint} within {seconds:g} s",
                "the engine may still be loading the model or be overloaded; wait and verify again, "
                "or raise --timeout",
            )
        except AnswerTooLarge as error:
            return failed(f"{what}: {endpoint}: {error}", "check that the endpoint is the engine's")

    return guarded


# ---------------------------------------------------------------------------
# AWS side


def check_instance(context: VerifyContext) -> Outcome:
    target = context.target
    if target.kind != "staging":
        return skipped(f"{target.kind} stack: see targets")
    if not target.instance_id:
        return skipped(f"no {INSTANCE_ID_OUTPUT} output or --instance-id given")
    aws = context.aws()
    reservations = aws.call(
        "ec2", "describe_instances", f"instance {target.instance_id}", InstanceIds=[target.instance_id]
    ).get("Reservations", [])
    instances = [instance for reservation in reservations for instance in reservation.get("Instances", [])]
    if not instances:
        raise OpsError(f"not found: instance {target.instance_id} in {aws.region}")
    instance = instances[0]
    state = instance.get("State", {}).get("Name", "unknown")
    zone = instance.get("Placement", {}).get("AvailabilityZone", "?")
    where = f"{instance.get('InstanceType', '?')} in {zone}"
    if state == "running":
        return passed(f"instance {target.instance_id} is running ({where})")
    start = f"aws ec2 start-instances --instance-ids {target.instance_id} --region {aws.region}"
    remedies = {
        "pending": "wait for it to start, then verify again",
        "stopped": f"start it: {start}",
        "stopping": "wait for it to stop, then start it",
    }
    return failed(
        f"instance {target.instance_id} is {state} ({where})",
        remedies.get(state, "the instance is gone: run `pulumi up` to replace it"),
    )


# Transitional states: a target is starting (within the health-check grace
# period) or leaving. Anything else but healthy means a target that does not serve.
TRANSITIONAL_TARGET_STATES = ("initial", "draining")


def check_targets(context: VerifyContext) -> Outcome:
    target = context.target
    if target.kind != "prod":
        return skipped(f"{target.kind} stack: see instance")
    if not target.target_group_arn:
        return skipped(f"no {TARGET_GROUP_OUTPUT} output or --target-group-arn given")
    descriptions = (
        context.aws()
        .call(
            "elbv2",
            "describe_target_health",
            f"target group {target.target_group_arn}",
            TargetGroupArn=target.target_group_arn,
        )
        .get("TargetHealthDescriptions", [])
    )
    states = [
        (item["Target"]["Id"], item["TargetHealth"]["State"], item["TargetHealth"].get("Reason", ""))
        for item in descriptions
    ]
    healthy = [target_id for target_id, state, _ in states if state == "healthy"]
    broken = [
        f"{target_id} {state}" + (f" ({reason})" if reason else "")
        for target_id, state, reason in states
        if state != "healthy" and state not in TRANSITIONAL_TARGET_STATES
    ]
    summary = f"{len(healthy)} of {len(states)} targets healthy"
    if not states:
        return failed(
            "the target group has no registered targets",
            "check that the Auto Scaling group is attached to the target group and has running instances",
        )
    if not healthy or broken:
        return failed(
            f"{summary}" + (f": {', '.join(broken)}" if broken else ""),
            "read the engine's logs on the failing instances; an engine refuses connections while it "
            "loads the model, so a new instance needs the health-check grace period first",
        )
    waiting = [f"{target_id} {state}" for target_id, state, _ in states if state != "healthy"]
    return passed(summary + (f" ({', '.join(waiting)})" if waiting else ""))


# ---------------------------------------------------------------------------
# The endpoint, as a client sees it


def _endpoint_failure(context: VerifyContext, error: openai.OpenAIError, what: str) -> Outcome:
    endpoint = context.target.endpoint
    if isinstance(error, openai.APITimeoutError):
        return failed(
            f"{what}: no answer from {endpoint} within {context.target.timeout_seconds:g} s",
            "the engine may still be loading the model; wait and verify again, or raise --timeout",
        )
    if isinstance(error, openai.APIConnectionError):
        cause = error.__cause__ or error
        return failed(
            f"{what}: cannot connect to {endpoint} ({' '.join(str(cause).split()) or type(cause).__name__})",
            "check the endpoint output, that the instance or load balancer is up, and that its "
            "security group lets this machine in",
        )
    if isinstance(error, openai.AuthenticationError | openai.PermissionDeniedError):
        return failed(
            f"{what}: {endpoint} answered HTTP {error.status_code}: it wants an API key",
            "export LLMDEPLOY_API_KEY with the endpoint's key",
        )
    if isinstance(error, openai.APIStatusError):
        message = " ".join(str(error.message).split())[:160]
        return failed(
            f"{what}: {endpoint} answered HTTP {error.status_code}: {message}",
            "read the engine's logs; a 404 for the model means the served name differs from the model output",
        )
    return failed(f"{what}: {' '.join(str(error).split())}", "read the engine's logs")


def check_models(context: VerifyContext) -> Outcome:
    try:
        served = [model.id for model in context.client().models.list()]
    except openai.OpenAIError as error:
        return _endpoint_failure(context, error, "GET /models")
    if context.target.model not in served:
        return failed(
            f"{context.target.model} is not served; the endpoint lists {', '.join(served) or 'no model'}",
            "the model output and the engine's served model name differ: fix the model setting "
            "(vLLM: --served-model-name)",
        )
    return passed(f"{context.target.model} listed ({len(served)} model{'s' if len(served) != 1 else ''})")


def _messages() -> list[Any]:
    return [{"role": "user", "content": PROMPT}]


def check_chat(context: VerifyContext) -> Outcome:
    started = time.perf_counter()
    try:
        completion = context.client().chat.completions.create(
            model=context.target.model, messages=_messages(), max_tokens=MAX_TOKENS, temperature=0
        )
    except openai.OpenAIError as error:
        return _endpoint_failure(context, error, "chat completion")
    seconds = time.perf_counter() - started
    if not completion.choices:
        return failed("chat completion came back with no choices", "read the engine's logs")
    content = completion.choices[0].message.content or ""
    tokens = completion.usage.completion_tokens if completion.usage else None
    if not content and not tokens:
        return failed("chat completion came back empty (no content, no tokens)", "read the engine's logs")
    counted = f"{tokens} tokens" if tokens is not None else f"{len(content)} characters"
    return passed(
        f"{counted} in {seconds:.2f} s, finish_reason {completion.choices[0].finish_reason}",
        {"seconds": round(seconds, 4), **({"completion_tokens": float(tokens)} if tokens else {})},
    )


def check_stream(context: VerifyContext) -> Outcome:
    started = time.perf_counter()
    first_token: float | None = None
    chunks = 0
    try:
        stream = context.client().chat.completions.create(
            model=context.target.model,
            messages=_messages(),
            max_tokens=MAX_TOKENS,
            temperature=0,
            stream=True,
        )
        for chunk in stream:
            chunks += 1
            # The first chunk usually carries only the role: the first token is the first content.
            if first_token is None and chunk.choices and chunk.choices[0].delta.content:
                first_token = time.perf_counter() - started
    except openai.OpenAIError as error:
        return _endpoint_failure(context, error, "streamed chat completion")
    total = time.perf_counter() - started
    if first_token is None:
        return failed(f"the stream ended after {chunks} chunks without a token", "read the engine's logs")
    return passed(
        f"first token after {first_token * 1000:.0f} ms; {chunks} chunks in {total * 1000:.0f} ms",
        {"time_to_first_token_seconds": round(first_token, 4), "seconds": round(total, 4)},
    )


@dataclass(frozen=True)
class HttpAnswer:
    status: int | None
    body: str = ""
    error: str = ""


def http_get(url: str, timeout: float) -> HttpAnswer:
    """One GET with no credentials, as anyone on the internet would send it."""
    request = urllib.request.Request(url, headers={"User-Agent": "llmdeploy-verify"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return HttpAnswer(response.status, response.read(BODY_LIMIT).decode("utf-8", "replace"))
    except urllib.error.HTTPError as error:
        return HttpAnswer(error.code, error.read(BODY_LIMIT).decode("utf-8", "replace"))
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        return HttpAnswer(None, error=" ".join(str(reason).split()) or type(error).__name__)


def check_health(context: VerifyContext) -> Outcome:
    url = context.target.health_url
    if not url:
        return skipped(f"no {HEALTH_URL_OUTPUT} output or --health-url given")
    started = time.perf_counter()
    answer = http_get(url, context.target.timeout_seconds)
    seconds = time.perf_counter() - started
    if answer.status is None:
        return failed(
            f"GET {url}: cannot connect ({answer.error})",
            "check that the instance or load balancer is up and reachable from here",
        )
    if answer.status != 200:
        remedies = {
            404: "the health_url output points at a path the engine does not serve",
            503: "the engine is up but unhealthy (its model failed, or is still loading): read its logs",
        }
        return failed(
            f"GET {url} answered HTTP {answer.status}",
            remedies.get(answer.status, "read the engine's and the load balancer's logs"),
        )
    return passed(f"GET {url} answered 200 in {seconds * 1000:.0f} ms")


def public_metrics_url(endpoint: str) -> str:
    parts = urlsplit(endpoint)
    return f"{parts.scheme}://{parts.netloc}/metrics"


def looks_like_prometheus(body: str) -> bool:
    return bool(PROMETHEUS_LINE.search(body))


def check_metrics_private(context: VerifyContext) -> Outcome:
    if context.target.kind != "prod":
        return skipped(f"{context.target.kind} stack: checked in prod only")
    url = public_metrics_url(context.target.endpoint)
    answer = http_get(url, context.target.timeout_seconds)
    if answer.status == 200 and looks_like_prometheus(answer.body):
        sample = next(iter(PROMETHEUS_LINE.finditer(answer.body))).group(0).strip()
        return failed(
            f"GET {url} answered 200 with Prometheus metrics ({sample[:60]}): metrics are public",
            "metrics belong to monitoring only: make the load balancer's listener answer /metrics with "
            "403 or 404 (a listener rule), and let only the monitoring security group reach the metrics port",
        )
    if answer.status is None:
        return passed(f"GET {url}: not reachable ({answer.error})")
    not_metrics = ", not metrics" if answer.status == 200 else ""
    return passed(f"GET {url} answered HTTP {answer.status}{not_metrics}")


VERIFY_CHECKS: list[Check[VerifyContext]] = [
    Check("instance", check_instance),
    Check("targets", check_targets),
    Check("models", within_timeout("GET /models", check_models)),
    Check("chat", within_timeout("chat completion", check_chat), requires=("models",)),
    Check("stream", within_timeout("streamed chat completion", check_stream), requires=("models",)),
    Check("health", within_timeout("GET health URL", check_health)),
    Check("metrics-private", within_timeout("GET /metrics", check_metrics_private)),
]


def run_verify(
    target: VerifyTarget,
    open_aws: Callable[[str | None], Aws],
    checks: list[Check[VerifyContext]] | None = None,
) -> list[CheckResult]:
    return run_checks(VERIFY_CHECKS if checks is None else checks, VerifyContext(target, open_aws))
