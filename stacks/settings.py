"""Stack settings: one strict model per stack kind, read once from Pulumi config.

A bad value stops the program before any resource is declared, with one line
per problem naming the config key, the value found and what is accepted:

    llmdeploy:numParallel: found 0; accepted: an integer greater than 0

Keys are the camelCase names users type (`pulumi config set numParallel 4`);
fields are snake_case. Unknown keys are errors, so a typo never silently falls
back to a default.

Settings check shape only (types, ranges, patterns, keys that go together) and
do no I/O. What follows from them (capacity, the chosen max-model-len, names,
user data) is decided once by `stacks.resolve`.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import re
from collections.abc import Mapping
from ipaddress import IPv4Network
from typing import Annotated, Any, ClassVar, Literal

import pulumi

# The pack's measure of "the internet", so settings the stacks accept are rules the pack accepts.
from llmpolicies.netspace import THRESHOLD_TEXT, public_reach
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from llmdeploy.core.boot_time import MIN_GRACE_SECONDS
from llmdeploy.core.collector import OTLP_PORT, PROMETHEUS_EXPORT_PORT
from llmdeploy.core.engines import (
    ENGINE_NAMES,
    ENGINES,
    OLLAMA,
    TGI,
    VLLM,
    VLLM_STACK_GPU_MEMORY_UTILIZATION,
    VLLM_STACK_MAX_NUM_SEQS,
    Engine,
    image_tag,
    is_pinned,
    version_tuple,
    vllm_drains,
)
from llmdeploy.core.gpus import GpuInstanceType, gpu_instance_type, nearest_gpu_instance_types
from llmdeploy.core.proxy import needs_proxy
from llmdeploy.core.schedule import ServingHours
from llmdeploy.core.served_name import default_served_name
from llmdeploy.core.stack_kinds import STACK_KINDS, StackKind
from llmdeploy.core.volumes import DLAMI_ROOT_SNAPSHOT_GIB

PROJECT = "llmdeploy"


def staging_taken_ports(engine: Engine) -> dict[int, str]:
    """Host ports a staging instance uses besides the API port, and what holds each: the API port
    must be none of them (two listeners on one port: the second does not start)."""
    taken = {
        PROMETHEUS_EXPORT_PORT: "the collector's Prometheus port, which monitoring scrapes",
        OTLP_PORT: "the collector's OTLP receiver",
    }
    if engine.metrics_port is not None and engine.metrics_port != engine.container_port:
        taken[engine.metrics_port] = f"{engine.label}'s metrics listener, on loopback for the collector"
    if needs_proxy(engine):
        taken[engine.container_port] = f"{engine.label}'s own port, on loopback behind the proxy"
    return taken


class SettingsError(pulumi.RunError):
    """Settings that cannot make a stack. `str()` is one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


def problem(key: str, found: str, accepted: str) -> PydanticCustomError:
    """A cross-field problem, raised from a model validator, already in our one-line form."""
    return PydanticCustomError("setting", "{line}", {"line": f"{key}: found {found}; accepted: {accepted}"})


def key_of(field_name: str) -> str:
    return f"{PROJECT}:{to_camel(field_name)}"


# ---------------------------------------------------------------------------
# Reusable field types

# Strings checked by a pattern (pydantic's StringConstraints): what a mismatch reports as accepted.
ACCEPTED_BY_PATTERN: dict[str, str] = {}


def _pattern(regex: str, accepted: str) -> StringConstraints:
    ACCEPTED_BY_PATTERN[regex] = accepted
    return StringConstraints(pattern=regex)


def _ip_address(value: str) -> str:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise PydanticCustomError("ip", "an IP address such as 127.0.0.1") from None
    return value


def _model_name(value: str) -> str:
    if not value.strip() or any(ch.isspace() for ch in value):
        raise PydanticCustomError("model", "a model name with no spaces, e.g. llama3.2:1b")
    return value


Duration = Annotated[
    # Go duration syntax as Ollama parses it ("5m", "1h30m", "-1" keeps models loaded).
    str, _pattern(r"^(-1|0|(\d+(\.\d+)?(ns|us|ms|s|m|h))+)$", "a duration such as 30s, 5m, 1h, 0 or -1")
]
IpAddress = Annotated[str, AfterValidator(_ip_address)]


def _served_name(value: str) -> str:
    if not value or any(ch.isspace() for ch in value):
        raise PydanticCustomError("served", "a model name with no spaces, e.g. llama-3.1-8b")
    return value


ServedModelName = Annotated[str, AfterValidator(_served_name)]
ModelRevision = Annotated[
    str, _pattern(r"^[0-9a-f]{40}$", "a commit hash of the model repo: 40 lower-case hex digits")
]
ModelName = Annotated[str, AfterValidator(_model_name)]
ProxyUrl = Annotated[str, _pattern(r"^https?://[^\s]+$", "a proxy URL such as http://proxy.internal:3128")]
Port = Annotated[int, Field(ge=1, le=65535)]
PositiveInt = Annotated[int, Field(gt=0)]


class StrictSettings(BaseModel):
    """dstack-style strict base: unknown keys are errors, camelCase keys, no coercion surprises."""

    model_config = ConfigDict(
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
        hide_input_in_errors=True,
    )

    # Config keys (camelCase) the user stored as Pulumi secrets: their values
    # must stay secret wherever they flow (e.g. a proxy URL with credentials).
    _secret_config_keys: frozenset[str] = PrivateAttr(default=frozenset())
    # The stack these settings were read for: names derived from it (secrets,
    # groups) must be the same inside the program and in `llmdeploy preflight`.
    _stack_name: str = PrivateAttr(default="")

    @property
    def stack_name(self) -> str:
        return self._stack_name

    def is_secret(self, field_name: str) -> bool:
        return to_camel(field_name) in self._secret_config_keys


class CommonSettings(StrictSettings):
    kind: StackKind = Field(description="Stack kind; defaults to the stack name (dev, staging or prod).")
    model: ModelName = Field(description="The model to serve, as the engine names it.")
    image: str | None = Field(
        default=None, description="Engine image reference; default: the catalogue's pinned version."
    )

    # Engines a kind may run; the stack kind fixes it, this key only documents it.
    allowed_engines: ClassVar[tuple[str, ...]] = ENGINE_NAMES
    pinned_images_required: ClassVar[bool] = True

    @field_validator("image")
    @classmethod
    def _image_pinned(cls, value: str | None) -> str | None:
        if value is not None and cls.pinned_images_required and not is_pinned(value):
            raise PydanticCustomError(
                "pinned", "an image pinned by a version tag or a digest (not `latest`, not untagged)"
            )
        return value


class DevSettings(CommonSettings):
    """Ollama in Docker on the developer's machine."""

    kind: Literal["dev"] = Field(default="dev", description="Stack kind; defaults to the stack name.")
    engine: Literal["ollama"] = Field(default="ollama", description="The dev stack serves with Ollama.")
    pinned_images_required: ClassVar[bool] = False

    extra_models: list[ModelName] = Field(
        default_factory=list, description="More models to pull beside `model`. Default: none."
    )
    bind_address: IpAddress = Field(
        default="127.0.0.1",
        description="Host address the API is published on. Default 127.0.0.1: Ollama has no "
        "authentication, so never publish it further without a proxy in front.",
    )
    host_port: Port = Field(default=OLLAMA.container_port, description="Host port. Default 11434.")
    keep_alive: Duration = Field(default="5m", description="OLLAMA_KEEP_ALIVE. Default 5m.")
    num_parallel: PositiveInt = Field(default=1, description="OLLAMA_NUM_PARALLEL. Default 1.")
    context_length: PositiveInt | None = Field(
        default=None, description="OLLAMA_CONTEXT_LENGTH. Default: Ollama's own."
    )
    max_loaded_models: PositiveInt | None = Field(
        default=None, description="OLLAMA_MAX_LOADED_MODELS. Default: Ollama's own."
    )
    origins: list[str] = Field(
        default_factory=list, description="OLLAMA_ORIGINS: extra CORS origins. Default: none."
    )
    https_proxy: ProxyUrl | None = Field(default=None, description="HTTPS_PROXY for model pulls.")
    no_proxy: str | None = Field(default=None, description="NO_PROXY for model pulls.")
    gpu: bool = Field(default=False, description="Give the container every GPU (gpus=all). Default false.")
    restart: Literal["no", "on-failure", "always", "unless-stopped"] = Field(
        default="unless-stopped", description="Docker restart policy. Default unless-stopped."
    )
    volume_name: str = Field(
        default="llmdeploy-ollama-models", description="Docker volume holding the models."
    )
    pull_timeout_seconds: PositiveInt = Field(
        default=3600, description="How long `pulumi up` waits for a model pull. Default 3600."
    )

    @property
    def models(self) -> list[str]:
        return [self.model, *[m for m in self.extra_models if m != self.model]]

    @property
    def image_reference(self) -> str:
        return self.image or OLLAMA.image()


# ---------------------------------------------------------------------------
# AWS stacks (staging and prod)

# The AWS Deep Learning Base OSS Nvidia Driver GPU AMI (Amazon Linux 2023): NVIDIA
# driver, Docker, the NVIDIA container toolkit, the AWS CLI and the SSM agent.
# Name format from the DLAMI guide ("Finding the ID of a DLAMI"):
# /aws/service/deeplearning/ami/$architecture/$ami_type/latest/ami-id.
DLAMI_PARAMETER = (
    "/aws/service/deeplearning/ami/x86_64/base-oss-nvidia-driver-gpu-amazon-linux-2023/latest/ami-id"
)

# TGI's `--quantize` values (text-generation-launcher reference, TGI 3.3).
TGI_QUANTIZE = (
    "awq",
    "compressed-tensors",
    "eetq",
    "exl2",
    "gptq",
    "marlin",
    "bitsandbytes",
    "bitsandbytes-nf4",
    "bitsandbytes-fp4",
    "fp8",
)


CIDR_ACCEPTED = "an IPv4 CIDR block such as 203.0.113.0/24"


def _cidr_text(value: Any) -> Any:
    # IPv4Network also takes an integer (5 -> 0.0.0.5/32): a CIDR is typed as text.
    if not isinstance(value, (str, IPv4Network)):
        raise PydanticCustomError("cidr", CIDR_ACCEPTED)
    return value


def _vpc_prefix(value: IPv4Network) -> IPv4Network:
    if not 16 <= value.prefixlen <= 24:
        raise PydanticCustomError("vpc_cidr", "an IPv4 CIDR block from /16 to /24, such as 10.40.0.0/16")
    return value


def _tag_key(value: str) -> str:
    if not value or len(value) > 128 or value.lower().startswith("aws:"):
        raise PydanticCustomError("tag", "tag keys of 1-128 characters, not starting with aws:")
    return value


# A Secrets Manager secret by name (letters, digits and /_+=.@-) or by ARN.
SecretNameOrArn = Annotated[
    str,
    _pattern(
        r"^([A-Za-z0-9/_+=.@-]{1,512}|arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+)$",
        "a Secrets Manager secret name (letters, digits, /_+=.@-) or its ARN",
    ),
]
AmiId = Annotated[str, _pattern(r"^ami-[0-9a-f]{8,17}$", "an id such as ami-0123456789abcdef0")]
VpcId = Annotated[str, _pattern(r"^vpc-[0-9a-f]{8,17}$", "an id such as vpc-0123456789abcdef0")]
SubnetId = Annotated[str, _pattern(r"^subnet-[0-9a-f]{8,17}$", "an id such as subnet-0123456789abcdef0")]
SecurityGroupId = Annotated[str, _pattern(r"^sg-[0-9a-f]{8,17}$", "an id such as sg-0123456789abcdef0")]
# pydantic's IPv4Network: strict (no host bits), IPv4 only.
Ipv4Cidr = Annotated[IPv4Network, BeforeValidator(_cidr_text)]
VpcCidr = Annotated[IPv4Network, BeforeValidator(_cidr_text), AfterValidator(_vpc_prefix)]
# Regional zones only (us-east-1a ... us-east-1h): subnets are carved by the zone letter.
AvailabilityZone = Annotated[
    str, _pattern(r"^[a-z]{2}(-[a-z]+)+-\d[a-h]$", "an availability zone name such as us-east-1a")
]
SsmParameterName = Annotated[
    str, _pattern(r"^/[A-Za-z0-9_./-]+$", f"an SSM parameter name such as {DLAMI_PARAMETER}")
]
Url = Annotated[
    str, _pattern(r"^(https?|grpc)://[^\s/]+(/\S*)?$", "a URL such as http://otel-collector.internal:4317")
]
TagKey = Annotated[str, AfterValidator(_tag_key)]
WorkspaceArn = Annotated[
    str,
    _pattern(
        r"^arn:aws[a-z-]*:aps:[a-z0-9-]+:\d{12}:workspace/ws-[A-Za-z0-9-]+$",
        "an Amazon Managed Prometheus workspace ARN such as "
        "arn:aws:aps:us-east-1:123456789012:workspace/ws-0123abcd-4567-89ef-0123-456789abcdef",
    ),
]


def hf_token_secret_name_for(project: str, stack: str) -> str:
    """The Secrets Manager name of a stack's Hugging Face token: one per project and stack."""
    return f"{project}/{stack}/hf-token"


class AwsSettings(CommonSettings):
    """What staging and prod share: the GPU instance, its AMI, the network, the token, tags."""

    # Keys whose values must be Pulumi secrets (`load_settings` rejects plaintext ones).
    secret_fields: ClassVar[tuple[str, ...]] = ("hfToken",)

    instance_type: str = Field(
        description="EC2 GPU instance type from the GPU catalogue, e.g. g5.xlarge (llmdeploy/data)."
    )
    ami_parameter: SsmParameterName = Field(
        default=DLAMI_PARAMETER,
        description="Public SSM parameter holding the AMI id. Default: the Deep Learning Base OSS "
        "Nvidia Driver GPU AMI (Amazon Linux 2023), x86_64.",
    )
    ami_id: AmiId | None = Field(
        default=None, description="An explicit AMI id; overrides amiParameter. Default: none."
    )

    vpc_id: VpcId | None = Field(
        default=None, description="Bring your own VPC (with publicSubnetIds and privateSubnetIds)."
    )
    public_subnet_ids: list[SubnetId] = Field(
        default_factory=list, description="Bring your own network: public subnets. Default: none."
    )
    private_subnet_ids: list[SubnetId] = Field(
        default_factory=list, description="Bring your own network: private subnets. Default: none."
    )
    vpc_cidr: VpcCidr = Field(
        default=IPv4Network("10.40.0.0/16"),
        description="CIDR of the VPC llmdeploy creates. Default 10.40.0.0/16.",
    )
    availability_zones: list[AvailabilityZone] = Field(
        default_factory=list,
        description="Zones for the created VPC (at least two). Default: the region's first two.",
    )
    nat_gateway: bool = Field(
        default=False, description="Give private subnets a NAT gateway (about $33/month). Default false."
    )
    vpc_endpoints: bool = Field(
        default=False,
        description="Interface endpoints (ECR, Secrets Manager, SSM, logs, monitoring) and the S3 "
        "gateway endpoint in the created VPC. Default false.",
    )

    api_allowed_cidrs: list[Ipv4Cidr] = Field(
        default_factory=list,
        description="CIDRs that may call the API. Default: none (no 0.0.0.0/0 unless you say so).",
    )
    monitoring_cidrs: list[Ipv4Cidr] = Field(
        default_factory=list, description="CIDRs that may scrape the metrics port. Default: none."
    )
    monitoring_security_group_id: SecurityGroupId | None = Field(
        default=None, description="Security group that may scrape the metrics port. Default: none."
    )

    hf_token: SecretStr | None = Field(
        default=None,
        description="Hugging Face token, as a secret: `pulumi config set --secret hfToken hf_...`.",
    )
    model_needs_token: bool = Field(
        default=False, description="The model is gated or private, so hfToken is required. Default false."
    )
    model_revision: ModelRevision | None = Field(
        default=None,
        description="The model repo's commit (40 hex digits), passed to the engine as --revision, so "
        "the weights are as reviewed, not whatever the hub serves that day. Default: none (the "
        "model-revision-pinned policy advises one).",
    )

    root_volume_gib: Annotated[int, Field(gt=0)] | None = Field(
        default=None,
        description="Root volume size in GiB. Default: the AMI, the engine image and the weights "
        "the instance's GPUs can hold.",
    )
    otlp_endpoint: Url | None = Field(
        default=None, description="OpenTelemetry collector for traces. Default: none."
    )
    prometheus_workspace_arn: WorkspaceArn | None = Field(
        default=None,
        description="An Amazon Managed Service for Prometheus workspace the instances' collector also "
        "remote-writes every engine series to (SigV4, aps:RemoteWrite on it alone). Default: none.",
    )
    otlp_headers_secret_name: SecretNameOrArn | None = Field(
        default=None,
        description="An existing Secrets Manager secret (name or ARN) whose value is a JSON object of "
        'header name to value, e.g. {"authorization": "Bearer ..."}: the collector sends these '
        "headers to otlpEndpoint, and the engine's traces go through the collector. Read at every "
        "collector start into its root-only environment; the role may read this secret alone (a "
        "customer-managed KMS key needs kms:Decrypt granted by you). Needs otlpEndpoint. Default: none.",
    )
    traces_to_xray: bool = Field(
        default=False,
        description="Send the engine's traces (OTLP to the instance's collector) to AWS X-Ray as well "
        "(xray:PutTraceSegments and xray:PutTelemetryRecords). vLLM only. Default false.",
    )
    tags: dict[TagKey, str] = Field(
        default_factory=dict, description="Tags on every resource, beside llmdeploy's own."
    )

    @field_validator("instance_type")
    @classmethod
    def _gpu_instance(cls, value: str) -> str:
        if gpu_instance_type(value) is None:
            nearest = nearest_gpu_instance_types(value)
            raise PydanticCustomError(
                "gpu_instance",
                "a GPU instance type from the catalogue (nearest: {nearest})",
                {"nearest": ", ".join(nearest)},
            )
        return value

    @field_validator("hf_token")
    @classmethod
    def _token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and (
            not value.get_secret_value() or any(c.isspace() for c in value.get_secret_value())
        ):
            raise PydanticCustomError("token", "a token with no spaces or newlines")
        return value

    @field_validator("availability_zones")
    @classmethod
    def _two_zones(cls, value: list[str]) -> list[str]:
        if value and (len(value) < 2 or len(set(value)) != len(value)):
            raise PydanticCustomError("azs", "at least two different availability zones, or none")
        return value

    @model_validator(mode="after")
    def _aws_consistent(self) -> AwsSettings:
        byo = {
            "vpcId": self.vpc_id is not None,
            "publicSubnetIds": bool(self.public_subnet_ids),
            "privateSubnetIds": bool(self.private_subnet_ids),
        }
        given = [key for key, present in byo.items() if present]
        if given and len(given) != len(byo):
            missing = [key for key, present in byo.items() if not present]
            raise problem(
                key_of(_field_of(missing[0])),
                f"nothing, while {', '.join(key_of(_field_of(k)) for k in given)} "
                f"{'is' if len(given) == 1 else 'are'} set",
                "vpcId, publicSubnetIds and privateSubnetIds all together (your own network) "
                "or none of them (llmdeploy creates one)",
            )
        if given:
            created_only = sorted(
                {"vpc_cidr", "availability_zones", "nat_gateway", "vpc_endpoints"} & self.model_fields_set
            )
            if created_only:
                raise problem(
                    key_of(created_only[0]),
                    f"{_display(getattr(self, created_only[0]))} while {key_of('vpc_id')} is set",
                    "this key only with a network llmdeploy creates (leave it out with your own VPC)",
                )
        monitoring_cidrs = [str(cidr) for cidr in self.monitoring_cidrs]
        monitoring = public_reach(monitoring_cidrs)
        if monitoring.is_internet:
            raise problem(
                key_of("monitoring_cidrs"),
                f"{monitoring_cidrs} ({monitoring.describe()})",
                f"the monitoring networks only, never the internet ({THRESHOLD_TEXT}): the metrics port is "
                "never public (it re-exposes every engine series, for monitoring only)",
            )
        if self.otlp_headers_secret_name is not None and self.otlp_endpoint is None:
            raise problem(
                key_of("otlp_headers_secret_name"),
                f"{self.otlp_headers_secret_name!r} without otlpEndpoint",
                "otlpEndpoint set too (the headers are for that endpoint), or no otlpHeadersSecretName",
            )
        if self.traces_to_xray and self.engine_entry is not VLLM:
            raise problem(
                key_of("traces_to_xray"),
                f"true with engine {self.engine_entry.name}",
                "engine vllm (the only engine whose traces flag llmdeploy has verified), or false",
            )
        if self.model_needs_token and self.hf_token is None:
            raise problem(
                key_of("hf_token"),
                f"nothing, while {key_of('model_needs_token')} is true",
                "the Hugging Face token as a secret: pulumi config set --secret hfToken hf_...",
            )
        if (
            self.root_volume_gib is not None
            and self.ami_id is None
            and self.root_volume_gib < DLAMI_ROOT_SNAPSHOT_GIB
        ):
            raise problem(
                key_of("root_volume_gib"),
                str(self.root_volume_gib),
                f"at least {DLAMI_ROOT_SNAPSHOT_GIB} (the DLAMI's root snapshot size)",
            )
        return self

    @property
    def engine_entry(self) -> Engine:
        """The engine on the instances: each stack kind has its own `engine` key and default."""
        raise NotImplementedError

    @property
    def gpu(self) -> GpuInstanceType:
        found = gpu_instance_type(self.instance_type)
        assert found is not None  # checked by the validator
        return found

    @property
    def api_allowed_cidr_blocks(self) -> list[str]:
        """apiAllowedCidrs as the provider takes them (text)."""
        return [str(cidr) for cidr in self.api_allowed_cidrs]

    @property
    def monitoring_cidr_blocks(self) -> list[str]:
        return [str(cidr) for cidr in self.monitoring_cidrs]

    @property
    def bring_your_own_network(self) -> bool:
        return self.vpc_id is not None

    @property
    def hf_token_secret_name(self) -> str | None:
        """Where the token lives in Secrets Manager; None when no token is configured."""
        if self.hf_token is None:
            return None
        return hf_token_secret_name_for(PROJECT, self.stack_name)


def _field_of(key: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()


def _docker_size_bytes(value: str) -> int | None:
    # Docker's --shm-size syntax (go-units RAMInBytes): a number and an optional
    # binary unit b, k, m, g, t (optionally followed by "b" or "ib").
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([bkmgt]?)(?:i?b)?", value.strip().lower())
    if not match:
        return None
    number, unit = match.groups()
    scale = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}[unit]
    return int(float(number) * scale)


def _shm_size(value: str) -> str:
    size = _docker_size_bytes(value)
    if size is None or size < TGI.min_shm_bytes or value != value.strip():
        raise PydanticCustomError(
            "shm", "a Docker size of at least {minimum}, such as 1g or 8g", {"minimum": "1g"}
        )
    return value


ShmSize = Annotated[str, AfterValidator(_shm_size)]


def _s3_prefix(value: str) -> str:
    if not re.fullmatch(r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[A-Za-z0-9!_.*'()/-]*)?", value):
        raise PydanticCustomError(
            "s3", "an S3 prefix such as s3://my-models/meta-llama/Llama-3.1-8B-Instruct"
        )
    return value.rstrip("/")


S3Prefix = Annotated[str, AfterValidator(_s3_prefix)]
Hour = Annotated[int, Field(ge=0, le=23)]


class ScheduleSettings(StrictSettings):
    """Off-hours: the GPUs serve from startHour to stopHour (timezone) on the days given."""

    start_hour: Hour = Field(description="Hour the GPUs start serving, 0-23.")
    stop_hour: Hour = Field(description="Hour they stop, 1-23, after startHour.")
    days: Literal["weekdays", "daily"] = Field(default="weekdays", description="weekdays or daily.")
    timezone: str = Field(default="UTC", description="IANA time zone of the hours. Default UTC.")
    # prod only: the group's size outside the hours (0 and 0: nothing runs).
    off_hours_min_size: Annotated[int, Field(ge=0)] = Field(default=0, description="prod: minSize off-hours.")
    off_hours_max_size: Annotated[int, Field(ge=0)] = Field(default=0, description="prod: maxSize off-hours.")

    @model_validator(mode="after")
    def _ordered(self) -> ScheduleSettings:
        if self.start_hour >= self.stop_hour:
            raise problem(
                key_of("schedule"),
                f"startHour {self.start_hour}, stopHour {self.stop_hour}",
                "startHour before stopHour, both 0-23",
            )
        if self.off_hours_min_size > self.off_hours_max_size:
            raise problem(
                key_of("schedule"),
                f"offHoursMinSize {self.off_hours_min_size}, offHoursMaxSize {self.off_hours_max_size}",
                "offHoursMinSize <= offHoursMaxSize",
            )
        return self

    @property
    def serving_hours(self) -> ServingHours:
        return ServingHours(self.start_hour, self.stop_hour, self.days, self.timezone)


def staging_api_key_secret_name_for(project: str, stack: str) -> str:
    """The Secrets Manager name of a staging stack's API key (any engine reads it)."""
    return f"{project}/{stack}/api-key"


class StagingSettings(AwsSettings):
    """TGI on one GPU EC2 instance."""

    kind: Literal["staging"] = Field(default="staging", description="Stack kind; defaults to the stack name.")
    secret_fields: ClassVar[tuple[str, ...]] = ("hfToken", "apiKey")
    api_key: SecretStr = Field(
        description="API key clients send as `Authorization: Bearer ...`, as a secret: `pulumi config set "
        '--secret apiKey "$(openssl rand -hex 32)"`. Required: the instance answers on the network. TGI '
        "takes it as API_KEY (guards its generate and chat routes), vLLM as VLLM_API_KEY, SGLang as "
        "--api-key; all read it at boot from Secrets Manager."
    )
    engine: Literal["tgi", "vllm", "sglang"] = Field(
        default="tgi",
        description="The engine on the instance: tgi, vllm or sglang (maxTotalTokens is their context "
        "length, maxConcurrentRequests their batch; quantize and shmSize are TGI's). Default tgi.",
    )
    served_model_name: ServedModelName | None = Field(
        default=None,
        description="vLLM --served-model-name, SGLang --served-model-name: the `model` clients send "
        "(TGI ignores it). Default: the model repo's name in lower case.",
    )

    shm_size: ShmSize = Field(
        default="1g",
        description="docker run --shm-size. Default 1g (TGI's docs); NCCL needs it with several shards.",
    )
    max_input_tokens: PositiveInt = Field(
        default=4096, description="TGI --max-input-tokens: the longest prompt. Default 4096."
    )
    max_total_tokens: PositiveInt = Field(
        default=8192,
        description="TGI --max-total-tokens: prompt plus generated tokens per request. Default 8192.",
    )
    max_concurrent_requests: PositiveInt = Field(
        default=128, description="TGI --max-concurrent-requests; above it TGI answers 429. Default 128."
    )
    quantize: Literal[TGI_QUANTIZE] | None = Field(  # type: ignore[valid-type]
        default=None, description="TGI --quantize. Default: none (pre-quantized models say so themselves)."
    )
    api_port: Port = Field(default=8080, description="Host port of the API. Default 8080.")
    public_address: bool = Field(
        default=True,
        description="Put the instance in a public subnet with a public IP, so it can download the "
        "image and weights without a NAT gateway. false: a private subnet (needs natGateway or "
        "your own egress). Default true.",
    )
    model_source: S3Prefix | None = Field(
        default=None,
        description="Where the instance reads the weights: an s3:// prefix holding the model repo's files "
        "(`llmdeploy models mirror`). TGI reads local files, so the unit copies the prefix to the root "
        "volume first (AWS CLI, 32 parallel requests); the role may read that prefix only. Default: the "
        "Hugging Face hub.",
    )
    schedule: ScheduleSettings | None = Field(
        default=None,
        description="Off-hours: {startHour, stopHour, days, timezone}; EventBridge Scheduler starts and "
        "stops the instance (its own role may do only that, on this instance). Default: always on.",
    )

    @property
    def engine_entry(self) -> Engine:
        return ENGINES[self.engine]

    @property
    def api_key_secret_name(self) -> str:
        return staging_api_key_secret_name_for(PROJECT, self.stack_name)

    @property
    def image_reference(self) -> str:
        return self.image or self.engine_entry.image()

    @property
    def served_name(self) -> str:
        return self.served_model_name or default_served_name(self.model)

    @property
    def shm_size_bytes(self) -> int:
        size = _docker_size_bytes(self.shm_size)
        assert size is not None  # checked by the validator
        return size

    @model_validator(mode="after")
    def _staging_consistent(self) -> StagingSettings:
        if self.max_input_tokens >= self.max_total_tokens:
            raise problem(
                key_of("max_input_tokens"),
                f"{self.max_input_tokens} with {key_of('max_total_tokens')} {self.max_total_tokens}",
                f"fewer tokens than {key_of('max_total_tokens')} (the prompt plus one generated token)",
            )
        if self.quantize == "exl2" and self.gpu.gpu_count > 1:
            raise problem(
                key_of("quantize"),
                f"'exl2' on {self.instance_type} ({self.gpu.gpu_count} GPUs)",
                "another method, or a one-GPU instance type (TGI's exl2 does not support num_shard > 1)",
            )
        if self.engine != "tgi" and self.quantize is not None:
            raise problem(
                key_of("quantize"),
                f"{self.quantize!r} with engine {self.engine!r}",
                "nothing: quantize is TGI's flag; vLLM and SGLang serve a quantized checkpoint as its "
                "config.json says",
            )
        if self.engine != "tgi" and self.model_source is not None:
            raise problem(
                key_of("model_source"),
                f"{self.model_source!r} with engine {self.engine!r}",
                "nothing: weights from S3 are copied for TGI only so far; use the Hugging Face hub",
            )
        taken = staging_taken_ports(self.engine_entry)
        if self.api_port in taken:
            raise problem(
                key_of("api_port"),
                str(self.api_port),
                f"a port other than {self.api_port} ({taken[self.api_port]}) and "
                f"{', '.join(str(port) for port in sorted(set(taken) - {self.api_port}))}",
            )
        if not self.public_address and not self.bring_your_own_network and not self.nat_gateway:
            raise problem(
                key_of("public_address"),
                f"false with {key_of('nat_gateway')} false",
                "true, or natGateway true: a private instance needs a way out to ghcr.io and the "
                "Hugging Face hub",
            )
        return self


# ---------------------------------------------------------------------------
# prod: vLLM on a GPU Auto Scaling group behind an ALB

# ALB idle timeout: long prefills and queued streams send nothing for a while;
# the ALB default of 60 s cuts them. The policy pack requires at least 300 s.
MIN_IDLE_TIMEOUT_SECONDS = 300
MAX_IDLE_TIMEOUT_SECONDS = 4000  # the ALB's own limit
# A target group's deregistration delay is at most an hour; the drain must fit in it.
MAX_DRAIN_SECONDS = 3600


CertificateArn = Annotated[
    str,
    _pattern(
        r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[A-Za-z0-9-]+$",
        "an ACM certificate ARN such as arn:aws:acm:us-east-1:123456789012:certificate/...",
    ),
]
SnsTopicArn = Annotated[
    str,
    _pattern(
        r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]+(\.fifo)?$",
        "an SNS topic ARN such as arn:aws:sns:us-east-1:123456789012:oncall",
    ),
]


def api_key_secret_name_for(project: str, stack: str) -> str:
    """The Secrets Manager name of a stack's API key (named when prod served vLLM only; kept so that
    existing deployments keep their secret, whichever engine reads it)."""
    return f"{project}/{stack}/vllm-api-key"


class ProdSettings(AwsSettings):
    """vLLM on a GPU Auto Scaling group behind an Application Load Balancer."""

    kind: Literal["prod"] = Field(default="prod", description="Stack kind; defaults to the stack name.")
    engine: Literal["vllm", "sglang", "tgi"] = Field(
        default="vllm",
        description="The engine on every instance: vllm, sglang or tgi, each at the catalogue's pinned "
        "image. maxModelLen is their context length and maxNumSeqs their batch; modelSource, "
        "generationConfig, gpuMemoryUtilization and maxNumBatchedTokens are vLLM's. Default vllm.",
    )
    secret_fields: ClassVar[tuple[str, ...]] = ("hfToken", "apiKey")

    # Private instances reach Docker Hub and the Hugging Face hub through it.
    nat_gateway: bool = Field(
        default=True,
        description="Give private subnets a NAT gateway: the instances pull the image from Docker Hub "
        "and the weights from the Hugging Face hub. Default true.",
    )

    min_size: PositiveInt = Field(
        default=1,
        description="Fewest instances. At least 1: with none, no queue metric and no target exist to "
        "scale out from. Default 1.",
    )
    desired_capacity: PositiveInt | None = Field(
        default=None,
        description="Instances at creation; afterwards the autoscaler owns it (ignored on update). "
        "Default: minSize.",
    )
    max_size: PositiveInt = Field(default=2, description="Most instances. Default 2.")

    max_model_len: PositiveInt | None = Field(
        default=None,
        description="vLLM --max-model-len: prompt plus output tokens per sequence; vLLM refuses to start "
        "when one sequence does not fit the KV cache, so a value that cannot is a settings error. "
        "Default: chosen to fit, the longest multiple of 256 (at most the model's own) with which one "
        "sequence fits on every instance type of the group (the plan's `capacity` output shows it); "
        "required when the capacity planner cannot size the model.",
    )
    gpu_memory_utilization: Annotated[float, Field(gt=0, le=0.95)] = Field(
        default=VLLM_STACK_GPU_MEMORY_UTILIZATION,
        description="vLLM --gpu-memory-utilization, above 0 and at most 0.95. Default 0.9.",
    )
    max_num_seqs: PositiveInt = Field(
        default=VLLM_STACK_MAX_NUM_SEQS,
        description="vLLM --max-num-seqs: sequences batched at once per instance. Default 128.",
    )
    max_num_batched_tokens: PositiveInt | None = Field(
        default=None, description="vLLM --max-num-batched-tokens. Default: vLLM's own."
    )
    served_model_name: ServedModelName | None = Field(
        default=None,
        description="vLLM --served-model-name: the `model` clients send (the `model` output). "
        "Default: the model repo's name in lower case (meta-llama/Llama-3.1-8B-Instruct: "
        "llama-3.1-8b-instruct).",
    )
    generation_config: Literal["vllm", "auto"] = Field(
        default="vllm",
        description="vLLM --generation-config: `vllm` keeps vLLM's explicit sampling defaults; `auto` "
        "applies the model repo's generation_config.json (may change sampling and cap max tokens). "
        "Default vllm.",
    )
    api_key: SecretStr = Field(
        description="API key clients send as `Authorization: Bearer ...` (vLLM VLLM_API_KEY; guards "
        "/v1/*), as a secret: `pulumi config set --secret apiKey ...`. Required: the endpoint is "
        "on the internet."
    )

    certificate_arn: CertificateArn | None = Field(
        default=None,
        description="ACM certificate for the HTTPS listener (HTTP then redirects to HTTPS). "
        "Required unless allowPlainHttp.",
    )
    allow_plain_http: bool = Field(
        default=False,
        description="Serve plain HTTP when no certificate is configured (API key and prompts in "
        "clear text). Default false.",
    )
    idle_timeout_seconds: Annotated[int, Field(ge=MIN_IDLE_TIMEOUT_SECONDS, le=MAX_IDLE_TIMEOUT_SECONDS)] = (
        Field(
            default=MIN_IDLE_TIMEOUT_SECONDS,
            description="ALB idle timeout, 300-4000 s: long prefills and queued streams are silent for "
            "a while and the ALB's own 60 s cuts them. vLLM's keep-alive is set above it. Default 300.",
        )
    )
    health_check_grace_seconds: Annotated[int, Field(ge=MIN_GRACE_SECONDS)] | None = Field(
        default=None,
        description="ELB health-check grace period, at least 600 s. Default: the cold-start budget "
        "of a fresh launch with its margin (the plan's capacity.cold_start), or 180 s behind the launch "
        "hook (the grace then starts once vLLM answers).",
    )
    shutdown_timeout: Annotated[int, Field(gt=0, le=MAX_DRAIN_SECONDS)] | None = Field(
        default=None,
        description="vLLM --shutdown-timeout (TGI --graceful-termination-timeout): seconds in-flight "
        "requests may finish on scale-in or refresh; the target group's deregistration delay and the "
        f"stop timeouts follow it. Default: the engine's drain (vLLM {VLLM.drain_seconds}, TGI "
        f"{TGI.drain_seconds}); SGLang has no drain and takes none.",
    )

    use_spot: bool = Field(
        default=False,
        description="Spot capacity above an on-demand base, with capacity rebalance. Not with "
        "warmPool. Default false.",
    )
    on_demand_base_capacity: Annotated[int, Field(ge=0)] = Field(
        default=1, description="With useSpot: instances always bought on demand. Default 1."
    )
    spot_instance_types: list[str] = Field(
        default_factory=list,
        description="With useSpot: more instance types for more Spot pools (same GPU count, at least "
        "the GPU memory of instanceType). Default: none.",
    )
    warm_pool: bool = Field(
        default=False,
        description="Keep stopped instances beside the group to scale out faster. With the launch "
        "lifecycle hook (always on with a warm pool) each warm instance pulls the image, loads the weights "
        "and runs vLLM once before it is stopped, so a warm start is boot plus load (the plan's "
        "capacity.cold_start.warm); stopped instances cost their EBS volume only. Not with useSpot. "
        "Default false.",
    )
    warm_pool_min_size: Annotated[int, Field(ge=0)] = Field(
        default=0, description="With warmPool: instances kept in the pool. Default 0."
    )
    launch_hook: bool = Field(
        default=False,
        description="A launch lifecycle hook: each new instance completes it once vLLM answers /health, "
        "so it joins the target group only when it serves (and a warm-pool instance finishes pulling "
        "the image, loading the weights and compiling before it is stopped). Always on with warmPool. "
        "Default false.",
    )
    model_source: S3Prefix | None = Field(
        default=None,
        description="Where the instances read the weights: an s3:// prefix holding the model repo's files "
        "(`llmdeploy models mirror MODEL --to s3://...` copies a hub revision there). vLLM streams them "
        "with --load-format runai_streamer; the instance role may read that prefix only; with "
        "vpcEndpoints the S3 gateway endpoint carries them. Default: the Hugging Face hub.",
    )
    image_in_ami: bool = Field(
        default=False,
        description="amiId is an image with the engine image already pulled (baked by EC2 Image Builder "
        "or Packer, see README): `docker run` finds it locally and a launch pulls nothing. Needs amiId. "
        "Default false.",
    )
    schedule: ScheduleSettings | None = Field(
        default=None,
        description="Off-hours: {startHour, stopHour, days, timezone, offHoursMinSize, offHoursMaxSize}; "
        "scheduled actions set the group's minimum and maximum. Default: always on.",
    )

    scaling_metric: Literal["queue_depth", "alb_requests"] = Field(
        default="queue_depth",
        description="Target tracking on vLLM's requests waiting per instance (queue_depth) or on the "
        "ALB's requests per target (alb_requests). Default queue_depth.",
    )
    target_queue_depth_per_instance: Annotated[float, Field(gt=0)] = Field(
        default=2.0,
        description="queue_depth scaling: requests waiting (vllm:num_requests_waiting) per instance "
        "to hold. Default 2.",
    )
    target_requests_per_instance: PositiveInt = Field(
        default=60, description="alb_requests scaling: requests per target per minute. Default 60."
    )

    alarm_server_errors_per_minute: PositiveInt = Field(
        default=5, description="Alarm when the ALB or the targets answer this many 5xx a minute. Default 5."
    )
    alarm_p99_response_seconds: Annotated[float, Field(gt=0)] = Field(
        default=60.0,
        description="Alarm when p99 target response time (to the first response byte) exceeds this. "
        "Default 60.",
    )
    alarm_queue_depth_per_instance: Annotated[float, Field(gt=0)] = Field(
        default=8.0,
        description="Alarm when requests waiting per instance stay above this for 10 minutes. Default 8.",
    )
    alarm_topic_arns: list[SnsTopicArn] = Field(
        default_factory=list, description="SNS topics notified when an alarm fires or clears. Default: none."
    )
    root_device_name: Literal["/dev/xvda", "/dev/sda1"] | None = Field(
        default=None,
        description="The AMI's root device (the launch template sizes it). Default: /dev/sda1 for an "
        "Ubuntu amiParameter, else /dev/xvda (Amazon Linux).",
    )

    @field_validator("spot_instance_types")
    @classmethod
    def _spot_types(cls, value: list[str]) -> list[str]:
        for item in value:
            if gpu_instance_type(item) is None:
                nearest = nearest_gpu_instance_types(item)
                raise PydanticCustomError(
                    "gpu_instance",
                    "GPU instance types from the catalogue (nearest to {found}: {nearest})",
                    {"found": item, "nearest": ", ".join(nearest)},
                )
        return value

    @model_validator(mode="after")
    def _prod_consistent(self) -> ProdSettings:
        desired = self.desired
        if not self.min_size <= desired <= self.max_size:
            raise problem(
                key_of("desired_capacity" if self.desired_capacity is not None else "min_size"),
                f"minSize={self.min_size}, desiredCapacity={desired}, maxSize={self.max_size}",
                "minSize <= desiredCapacity <= maxSize",
            )
        if self.certificate_arn is None and not self.allow_plain_http:
            raise problem(
                key_of("certificate_arn"),
                "nothing, and allowPlainHttp is false",
                "an ACM certificate ARN for HTTPS, or allowPlainHttp true to serve plain HTTP "
                "(API key and prompts in clear text)",
            )
        if not self.api_allowed_cidrs:
            raise problem(
                key_of("api_allowed_cidrs"),
                "[]",
                "at least one CIDR that may reach the load balancer (0.0.0.0/0 for a public API, "
                "which the API key then guards)",
            )
        if self.image_in_ami and self.ami_id is None:
            raise problem(
                key_of("image_in_ami"),
                "true without amiId",
                "amiId set to the AMI that holds the engine image (a public DLAMI parameter has none)",
            )
        if self.use_spot and self.warm_pool:
            raise problem(
                key_of("warm_pool"),
                "true with useSpot true",
                "one of them: EC2 Auto Scaling does not combine a warm pool with a mixed instances "
                "(Spot) policy",
            )
        if self.use_spot and self.on_demand_base_capacity > self.max_size:
            raise problem(
                key_of("on_demand_base_capacity"),
                f"{self.on_demand_base_capacity} with maxSize {self.max_size}",
                "at most maxSize",
            )
        for spot_type in self.spot_instance_types:
            other = gpu_instance_type(spot_type)
            assert other is not None  # checked by the field validator
            if other.gpu_count != self.gpu.gpu_count or other.gpu_memory_mib < self.gpu.gpu_memory_mib:
                raise problem(
                    key_of("spot_instance_types"),
                    f"{spot_type!r} ({other.gpu_count} x {other.gpu_memory_mib // 1024} GiB)",
                    f"types with the GPU count of {self.instance_type} ({self.gpu.gpu_count}) and at least "
                    f"{self.gpu.gpu_memory_mib // 1024} GiB per GPU: the tensor-parallel size is fixed "
                    "per launch template",
                )
        if not self.bring_your_own_network and not (self.nat_gateway or self.vpc_endpoints):
            raise problem(
                key_of("nat_gateway"),
                "false with vpcEndpoints false",
                "natGateway true (Docker Hub, the Hugging Face hub), or vpcEndpoints true with the "
                "image in ECR and weights the instances can reach",
            )
        self._engine_supports_settings()
        tag = image_tag(self.image_reference)
        if self.engine_entry is VLLM and tag is not None and version_tuple(tag) and not vllm_drains(tag):
            raise problem(
                key_of("image"),
                repr(self.image_reference),
                "vLLM 0.18 or later: earlier releases abort in-flight requests on SIGTERM (no "
                "--shutdown-timeout), so every scale-in or refresh would cut streams",
            )
        return self

    # Settings only vLLM has (its flags, or a path built for it only), and what the others accept.
    VLLM_ONLY: ClassVar[dict[str, str]] = {
        "model_source": "nothing: weights stream from S3 with vLLM's Run:ai streamer only; use the Hugging "
        "Face hub (or engine vllm)",
        "generation_config": "nothing: --generation-config is vLLM's flag",
        "gpu_memory_utilization": "nothing: --gpu-memory-utilization is vLLM's flag (SGLang takes the "
        "catalogue's --mem-fraction-static, TGI its own memory fraction)",
        "max_num_batched_tokens": "nothing: --max-num-batched-tokens is vLLM's flag",
    }

    def _engine_supports_settings(self) -> None:
        if self.engine_entry is VLLM:
            return
        for field_name, accepted in self.VLLM_ONLY.items():
            if field_name in self.model_fields_set and getattr(self, field_name) is not None:
                raise problem(
                    key_of(field_name),
                    f"{getattr(self, field_name)!r} with engine {self.engine!r}",
                    accepted,
                )
        if self.shutdown_timeout is not None and not self.engine_entry.drain_seconds:
            raise problem(
                key_of("shutdown_timeout"),
                f"{self.shutdown_timeout} with engine {self.engine!r}",
                f"nothing: {self.engine_entry.label} has no drain on SIGTERM (in-flight requests are cut); "
                "engine vllm or tgi drain",
            )

    @property
    def engine_entry(self) -> Engine:
        return ENGINES[self.engine]

    @property
    def drain_seconds(self) -> int:
        """How long the engine drains on SIGTERM: the setting, else the engine's own."""
        return self.shutdown_timeout if self.shutdown_timeout is not None else self.engine_entry.drain_seconds

    @property
    def uses_launch_hook(self) -> bool:
        """A warm pool needs the hook: without it the group stops a warm instance mid-boot."""
        return self.launch_hook or self.warm_pool

    @property
    def fleet_instance_types(self) -> list[str]:
        """Every type the group may launch from its one launch template: instanceType, Spot pools."""
        spot = [t for t in self.spot_instance_types if t != self.instance_type] if self.use_spot else []
        return [self.instance_type, *dict.fromkeys(spot)]

    @property
    def desired(self) -> int:
        return self.desired_capacity if self.desired_capacity is not None else self.min_size

    @property
    def image_reference(self) -> str:
        return self.image or self.engine_entry.image()

    @property
    def image_version_tag(self) -> str:
        """The version part of the image reference (`v0.30.0`), also for `repo:tag@sha256:...`."""
        return image_tag(self.image_reference) or self.engine_entry.default_tag

    @property
    def served_name(self) -> str:
        return self.served_model_name or default_served_name(self.model)

    @property
    def api_key_secret_name(self) -> str:
        return api_key_secret_name_for(PROJECT, self.stack_name)

    @property
    def resolved_root_device_name(self) -> str:
        if self.root_device_name is not None:
            return self.root_device_name
        return "/dev/sda1" if "ubuntu" in self.ami_parameter.lower() else "/dev/xvda"


# A stack's settings: one model per kind, told apart by `kind` (pydantic picks the model by it).
StackSettings = Annotated[DevSettings | StagingSettings | ProdSettings, Field(discriminator="kind")]
STACK_SETTINGS = TypeAdapter(StackSettings)

# Each kind's model, from the union (the README tables and the error lines use it).
SETTINGS_BY_KIND: dict[str, type[CommonSettings]] = {
    model.model_fields["kind"].default: model for model in (DevSettings, StagingSettings, ProdSettings)
}


# ---------------------------------------------------------------------------
# Reading and reporting


def _display(value: Any) -> str:
    if isinstance(value, SecretStr):
        return "[secret]"
    if isinstance(value, IPv4Network):
        value = str(value)
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


_ACCEPTED = {
    "int_parsing": "an integer",
    "int_type": "an integer",
    "int_from_float": "a whole number",
    "float_parsing": "a number",
    "float_type": "a number",
    "bool_parsing": "true or false",
    "bool_type": "true or false",
    "string_type": "a string",
    "list_type": "a list",
    "dict_type": "an object",
    "model_type": "an object",
    "missing": "a value (this key is required)",
    "ip_v4_network": CIDR_ACCEPTED,
}


def _accepted(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind in _ACCEPTED:
        return _ACCEPTED[kind]
    if kind == "greater_than":
        return f"a number greater than {ctx['gt']}"
    if kind == "greater_than_equal":
        return f"a number of at least {ctx['ge']}"
    if kind == "less_than":
        return f"a number less than {ctx['lt']}"
    if kind == "less_than_equal":
        return f"a number of at most {ctx['le']}"
    if kind == "literal_error":
        return f"one of {ctx['expected']}"
    if kind == "string_pattern_mismatch":
        return ACCEPTED_BY_PATTERN.get(ctx["pattern"], f"a string matching {ctx['pattern']}")
    if kind == "string_too_short":
        return f"a string of at least {ctx['min_length']} characters"
    if kind == "too_short":
        return f"at least {ctx['min_length']} items"
    return str(error["msg"])


def _key_for(loc: tuple[Any, ...]) -> str:
    parts = [str(part) for part in loc]
    return f"{PROJECT}:" + ".".join(parts) if parts else PROJECT


def _raw_at(raw: Mapping[str, Any], loc: tuple[Any, ...]) -> Any:
    value: Any = raw
    for part in loc:
        try:
            value = value[part]
        except (KeyError, IndexError, TypeError):
            return None
    return value


def _lines_from(
    error: ValidationError, raw: Mapping[str, Any], model: type[StrictSettings], secret_keys: set[str]
) -> list[str]:
    lines = []
    secret_keys = secret_keys | set(getattr(model, "secret_fields", ()))
    known = sorted(info.alias or name for name, info in model.model_fields.items())
    kind = raw.get("kind")
    for item in error.errors():
        loc = tuple(item["loc"])
        if loc[:1] == (kind,):
            loc = loc[1:]  # the discriminated union's tag: the kind, not a key
        if item["type"] == "setting":
            # A model validator's problem, already in the one-line form (`problem`).
            lines += item["msg"].split("\n")
            continue
        key = _key_for(loc)
        value = _raw_at(raw, loc)
        found = "[secret]" if loc and str(loc[0]) in secret_keys else _display(value)
        if item["type"] == "extra_forbidden":
            # Case-insensitive: `InstanceType` is one letter from instanceType, not four.
            by_lower = {name.lower(): name for name in known}
            guess = difflib.get_close_matches(str(loc[0]).lower(), list(by_lower), n=1)
            hint = f" (did you mean {PROJECT}:{by_lower[guess[0]]}?)" if guess else ""
            lines.append(f"{key}: found an unknown key{hint}; accepted keys: {', '.join(known)}")
        elif item["type"] == "missing":
            lines.append(f"{key}: found nothing; accepted: {_describe(model, loc)}")
        else:
            lines.append(f"{key}: found {found}; accepted: {_accepted(item)}")
    return lines


def _describe(model: type[StrictSettings], loc: tuple[Any, ...]) -> str:
    for name, info in model.model_fields.items():
        if loc and (info.alias == loc[0] or name == loc[0]):
            return f"a value (required): {info.description}"
    return "a value (required)"


def _decode(value: str) -> Any:
    # Pulumi hands structured config (`--path` or YAML objects) to programs as JSON.
    stripped = value.strip()
    if stripped[:1] in ("[", "{"):
        try:
            return json.loads(stripped)
        except json.JSONDecodeError:
            return value
    return value


def stack_kind(stack: str, raw: Mapping[str, Any]) -> str:
    kind = raw.get("kind", stack)
    if kind not in STACK_KINDS:
        if "kind" in raw:
            raise SettingsError(
                [f"{PROJECT}:kind: found {_display(kind)}; accepted: one of {', '.join(STACK_KINDS)}"]
            )
        raise SettingsError(
            [
                f"{PROJECT}:kind: found nothing, and the stack name {stack!r} is not a "
                f"stack kind; accepted: one of {', '.join(STACK_KINDS)} (set "
                f"`pulumi config set kind prod`, or name the stack after its kind)"
            ]
        )
    return str(kind)


def load_settings(
    stack: str, config: Mapping[str, str], secret_keys: set[str] | frozenset[str] = frozenset()
) -> CommonSettings:
    """Validate a stack's `llmdeploy:*` config into its kind's settings model.

    `config` maps full keys (`llmdeploy:model`, `aws:region`) to the strings
    Pulumi hands a program. Keys of other namespaces belong to providers and
    are left alone.
    """
    prefix = f"{PROJECT}:"
    raw = {key[len(prefix) :]: _decode(value) for key, value in config.items() if key.startswith(prefix)}
    secrets = {key[len(prefix) :] for key in secret_keys if key.startswith(prefix)}
    kind = stack_kind(stack, raw)
    raw.setdefault("kind", kind)
    model = SETTINGS_BY_KIND.get(kind)
    if model is None:
        raise SettingsError(
            [
                f"{PROJECT}:kind: found {kind!r}; this version of llmdeploy builds "
                f"only {', '.join(SETTINGS_BY_KIND)} stacks"
            ]
        )
    problems = [
        f"{prefix}{key}: found a plaintext value ([secret] not shown); accepted: a secret, set with "
        f"`pulumi config set --secret {key} ...`"
        for key in getattr(model, "secret_fields", ())
        if key in raw and key not in secrets
    ]
    try:
        settings: CommonSettings = STACK_SETTINGS.validate_python(raw)
    except ValidationError as error:
        problems += _lines_from(error, raw, model, secrets)
    if problems:
        raise SettingsError(problems)
    settings._secret_config_keys = frozenset(secrets)
    settings._stack_name = stack
    return settings


def current_config() -> tuple[dict[str, str], set[str]]:
    """This program's config as the language host handed it over, and its secret keys."""
    from pulumi.runtime import config as runtime_config

    values = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    secret_keys = {key for key in values if runtime_config.is_config_secret(key)}
    secret_keys |= set(runtime_config.get_config_secret_keys_env())
    return values, secret_keys
