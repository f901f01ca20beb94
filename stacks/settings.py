"""Stack settings: one strict model per stack kind, read once from Pulumi config.

A bad value stops the program before any resource is declared, with one line
per problem naming the config key, the value found and what is accepted:

    llmdeploy:numParallel: found 0; accepted: an integer greater than 0

Keys are the camelCase names users type (`pulumi config set numParallel 4`);
fields are snake_case. Unknown keys are errors, so a typo never silently falls
back to a default.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import re
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

import pulumi
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from llmdeploy.engines import ENGINE_NAMES, OLLAMA, is_pinned

PROJECT = "llmdeploy"
STACK_KINDS = ("dev", "staging", "prod")
StackKind = Literal["dev", "staging", "prod"]


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


def _duration(value: str) -> str:
    # Go duration syntax as Ollama parses it ("5m", "1h30m", "-1" keeps models loaded).
    if not re.fullmatch(r"-1|0|(\d+(\.\d+)?(ns|us|ms|s|m|h))+", value):
        raise PydanticCustomError("duration", "a duration such as 30s, 5m, 1h, 0 or -1")
    return value


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


Duration = Annotated[str, AfterValidator(_duration)]
IpAddress = Annotated[str, AfterValidator(_ip_address)]
ModelName = Annotated[str, AfterValidator(_model_name)]
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
    https_proxy: str | None = Field(default=None, description="HTTPS_PROXY for model pulls.")
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

    @field_validator("https_proxy")
    @classmethod
    def _proxy_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^\s]+$", value):
            raise PydanticCustomError("url", "a proxy URL such as http://proxy.internal:3128")
        return value


SETTINGS_BY_KIND: dict[str, type[CommonSettings]] = {"dev": DevSettings}

StackSettings = DevSettings


# ---------------------------------------------------------------------------
# Reading and reporting


def _display(value: Any) -> str:
    if isinstance(value, SecretStr):
        return "[secret]"
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
    known = sorted(info.alias or name for name, info in model.model_fields.items())
    for item in error.errors():
        loc = tuple(item["loc"])
        if item["type"] == "setting":
            lines.append(item["msg"])
            continue
        key = _key_for(loc)
        value = _raw_at(raw, loc)
        found = "[secret]" if loc and str(loc[0]) in secret_keys else _display(value)
        if item["type"] == "extra_forbidden":
            guess = difflib.get_close_matches(str(loc[0]), known, n=1)
            hint = f" (did you mean {PROJECT}:{guess[0]}?)" if guess else ""
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
        settings = model.model_validate(raw)
    except ValidationError as error:
        problems += _lines_from(error, raw, model, secrets)
    if problems:
        raise SettingsError(problems)
    settings._secret_config_keys = frozenset(secrets)
    return settings


def current_config() -> tuple[dict[str, str], set[str]]:
    """This program's config as the language host handed it over, and its secret keys."""
    from pulumi.runtime import config as runtime_config

    values = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    secret_keys = {key for key in values if runtime_config.is_config_secret(key)}
    secret_keys |= set(runtime_config.get_config_secret_keys_env())
    return values, secret_keys
