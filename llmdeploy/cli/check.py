"""`llmdeploy check`: run a policy pack over an offline run of a program, as the Pulumi CLI would.

The pack runs in its own process, started the way the CLI starts a Python pack
(`python -u -m pulumi.policy <engine address> .` in the pack's directory; it
prints the port it serves the Analyzer service on), and is driven over the
Analyzer gRPC protocol in the CLI's order: Handshake (Python packs answer
UNIMPLEMENTED, which the CLI tolerates too), ConfigureStack, GetAnalyzerInfo,
Configure with the reconciled policy config, Analyze for every resource, and
AnalyzeStack with all resources, their parents and (property) dependencies.

Properties go to the pack as the engine marshals them for analyzers
(`KeepUnknowns`, `KeepSecrets`, `SkipInternalKeys`): secrets stay wrapped,
unknowns are the unknown sentinel, output values and resource references are
flattened. Stack outputs reach the pack as the stack resource's properties in
AnalyzeStack, as they do after a real preview.

Nothing this module prints holds a secret: the run's secret values join the
one masker (llmdeploy/cli/masking.py), and messages pass through it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import grpc
import yaml
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc, engine_pb2, engine_pb2_grpc, plugin_pb2

from llmdeploy.cli import wire
from llmdeploy.cli.inputfile import InputFileError, parse_json, read_bounded_text
from llmdeploy.cli.masking import MASKER, Masker
from llmdeploy.cli.mockrun import STACK_TYPE, ProgramRun, RecordedResource, describe_resource_count
from llmdeploy.cli.violations import Violation
from llmdeploy.core.stack_kinds import STACK_KINDS

# The wheel ships the repository's `policies/` directory as this package (pyproject's package-dir), with
# PulumiPolicy.yaml and config/ as package data; a unique name, so it collides with nothing installed.
INSTALLED_PACK = "llmdeploy_policy_pack"


def _shipped_pack_dir() -> Path:
    """The pack that ships with llmdeploy: `policies/` beside the package in a source checkout (so each
    checkout checks with its own pack), else the installed `llmdeploy_policy_pack`."""
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "pyproject.toml").is_file() and (checkout / "policies" / "PulumiPolicy.yaml").is_file():
        return checkout / "policies"
    spec = importlib.util.find_spec(INSTALLED_PACK)
    if spec is None or not spec.submodule_search_locations:
        # Not installed either: PolicyPackProcess.start() names the directory it found no pack in.
        return checkout / "policies"
    return Path(next(iter(spec.submodule_search_locations)))


DEFAULT_PACK_DIR = _shipped_pack_dir()
# Stacks whose policy config the pack ships (`policies/config/<stack>.json`); any other stack gets every
# policy mandatory.
CONFIGURED_STACKS = STACK_KINDS
# A policy config is a few hundred bytes.
MAX_POLICY_CONFIG_BYTES = 1024 * 1024
LEVELS = ("advisory", "mandatory", "remediate", "disabled")
_LEVEL_NAMES = {
    analyzer_pb2.ADVISORY: "advisory",
    analyzer_pb2.MANDATORY: "mandatory",
    analyzer_pb2.REMEDIATE: "remediate",
    analyzer_pb2.DISABLED: "disabled",
}
_LEVEL_VALUES = {name: value for value, name in _LEVEL_NAMES.items()}
_GRPC_OPTIONS = [("grpc.max_receive_message_length", 400 * 1024 * 1024)]
_STARTUP_SECONDS = 90
_CALL_SECONDS = 300


class PolicyPackError(Exception):
    """The pack could not be started or failed while analyzing (check exits 2)."""


class PolicyConfigError(Exception):
    """The policy config is unreadable or does not fit the pack's policies (check exits 2)."""


@dataclass(frozen=True)
class PolicySetting:
    """One policy's configured enforcement level and properties (as in `--policy-pack-config` files)."""

    level: str | None = None
    properties: Mapping[str, Any] = field(default_factory=dict)
    # Why this setting (an accepted exception) is what it is: `"reason"` in the config file.
    reason: str | None = None


@dataclass
class CheckResult:
    pack: str
    version: str
    policies: int
    resources: int
    violations: list[Violation]
    # Log lines the pack sent to the engine since the previous check, redacted.
    pack_log: list[str] = field(default_factory=list)
    # Accepted exceptions: policy -> the reason written in the policy config.
    reasons: dict[str, str] = field(default_factory=dict)

    @property
    def mandatory(self) -> list[Violation]:
        return [violation for violation in self.violations if violation.level == "mandatory"]


# ---------------------------------------------------------------------------
# Policy config: the file format `pulumi preview --policy-pack-config` reads.


def parse_policy_config(text: str, source: str) -> dict[str, PolicySetting]:
    """`{"all": "mandatory", "name": "advisory", "other": {"enforcementLevel": ..., "prop": ...}}`."""
    if not text.strip():
        return {}
    try:
        data = parse_json(text)
    except InputFileError as error:
        raise PolicyConfigError(f"{source}: {error}") from None
    if not isinstance(data, dict):
        raise PolicyConfigError(
            f"{source}: found {type(data).__name__}; accepted: a JSON object keyed by policy name"
        )
    settings: dict[str, PolicySetting] = {}
    for name, value in data.items():
        if isinstance(value, str):
            settings[name] = PolicySetting(_level(value, f"{source}: {name}"))
        elif isinstance(value, dict):
            properties = dict(value)
            # Our addition to the format: why an exception is accepted. Kept here, never sent to the pack.
            reason = properties.pop("reason", None)
            if reason is not None and (not isinstance(reason, str) or not reason.strip()):
                raise PolicyConfigError(
                    f"{source}: {name}.reason: found {json.dumps(reason)}; accepted: a sentence saying why"
                )
            level = properties.pop("enforcementLevel", None)
            if level is not None and not isinstance(level, str):
                raise PolicyConfigError(
                    f"{source}: {name}.enforcementLevel: found {json.dumps(level)}; "
                    f"accepted: {', '.join(LEVELS)}"
                )
            settings[name] = PolicySetting(
                _level(level, f"{source}: {name}.enforcementLevel") if level else None, properties, reason
            )
        else:
            raise PolicyConfigError(
                f"{source}: {name}: found {json.dumps(value)}; accepted: an enforcement level "
                f"({', '.join(LEVELS)}) or an object"
            )
    return settings


def _level(value: str, where: str) -> str:
    if value not in LEVELS:
        raise PolicyConfigError(f"{where}: found {json.dumps(value)}; accepted: {', '.join(LEVELS)}")
    return value


def read_policy_config(path: str | os.PathLike[str]) -> dict[str, PolicySetting]:
    try:
        text = read_bounded_text(path, MAX_POLICY_CONFIG_BYTES)
    except InputFileError as error:
        raise PolicyConfigError(f"{path}: the policy config: {error}") from None
    return parse_policy_config(text, str(path))


def stack_policy_config(pack_dir: Path, stack: str) -> tuple[dict[str, PolicySetting], str]:
    """The pack's config for dev/staging/prod; every policy mandatory for any other stack."""
    if stack in CONFIGURED_STACKS:
        path = pack_dir / "config" / f"{stack}.json"
        return read_policy_config(path), str(path)
    return {"all": PolicySetting("mandatory")}, "every policy mandatory (no config file for this stack)"


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "number": (int, float),
    "integer": (int,),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}
_TYPE_WORDS = {
    "string": "a string",
    "number": "a number",
    "integer": "a whole number",
    "boolean": "true or false",
    "array": "an array",
    "object": "an object",
}


def _schema_errors(schema: Mapping[str, Any], value: Any, where: str) -> list[str]:
    """The JSON-schema keywords the pack's config schemas use: type, items, minimum, enum."""
    kind = schema.get("type")
    if isinstance(kind, str) and kind in _JSON_TYPES:
        is_bool = isinstance(value, bool)
        whole = isinstance(value, float) and value.is_integer() and kind == "integer"
        if (is_bool and kind != "boolean") or not (isinstance(value, _JSON_TYPES[kind]) or whole):
            accepted = _TYPE_WORDS[kind]
            items = schema.get("items")
            if kind == "array" and isinstance(items, Mapping) and items.get("type") in _TYPE_WORDS:
                accepted = f"an array of {items['type']}s"
            return [f"{where}: found {json.dumps(value)}; accepted: {accepted}"]
    errors: list[str] = []
    if "enum" in schema and value not in schema["enum"]:
        errors.append(
            f"{where}: found {json.dumps(value)}; accepted: {', '.join(map(json.dumps, schema['enum']))}"
        )
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if "minimum" in schema and number and value < schema["minimum"]:
        errors.append(f"{where}: found {json.dumps(value)}; accepted: at least {schema['minimum']}")
    items = schema.get("items")
    if isinstance(items, Mapping) and isinstance(value, list):
        for index, item in enumerate(value):
            errors.extend(_schema_errors(items, item, f"{where}[{index}]"))
    return errors


def reconcile_config(
    info: analyzer_pb2.AnalyzerInfo, given: Mapping[str, PolicySetting], source: str
) -> dict[str, PolicySetting]:
    """The CLI's reconciliation: each policy's default level and schema defaults, then the pack's initial
    config, then `all`, then each policy's own entry; the result is validated against the schemas."""
    schemas: dict[str, dict[str, Any]] = {}
    result: dict[str, PolicySetting] = {}
    for policy in info.policies:
        schema = (
            json_format.MessageToDict(policy.configSchema.properties)
            if policy.HasField("configSchema")
            else {}
        )
        schemas[policy.name] = schema
        defaults = {
            key: spec["default"]
            for key, spec in schema.items()
            if isinstance(spec, dict) and "default" in spec
        }
        result[policy.name] = PolicySetting(_LEVEL_NAMES.get(policy.enforcementLevel, "advisory"), defaults)

    def apply(config: Mapping[str, PolicySetting]) -> None:
        everything = config.get("all")
        if everything is not None and everything.level:
            for name, setting in result.items():
                result[name] = PolicySetting(everything.level, setting.properties)
        for name, setting in config.items():
            if name == "all":
                continue
            current = result.get(name, PolicySetting())
            result[name] = PolicySetting(
                setting.level or current.level, {**current.properties, **setting.properties}
            )

    initial = {
        name: PolicySetting(
            _LEVEL_NAMES.get(value.enforcementLevel) if value.enforcementLevel else None,
            json_format.MessageToDict(value.properties),
        )
        for name, value in info.initialConfig.items()
    }
    apply(initial)
    unknown = sorted(set(given) - set(schemas) - {"all"})
    if unknown:
        raise PolicyConfigError(
            f"{source}: {unknown[0]}: found a policy this pack does not have; accepted: all, "
            + ", ".join(sorted(schemas))
        )
    apply(given)
    errors: list[str] = []
    for name, setting in result.items():
        for key, value in setting.properties.items():
            if key not in schemas[name]:
                accepted = (
                    ", ".join(sorted(schemas[name])) or "none (this policy takes only enforcementLevel)"
                )
                errors.append(
                    f"{name}.{key}: found a property this policy does not have; accepted: {accepted}"
                )
                continue
            errors.extend(_schema_errors(schemas[name][key], value, f"{name}.{key}"))
    if errors:
        raise PolicyConfigError("\n".join(f"{source}: {error}" for error in errors))
    return result


# ---------------------------------------------------------------------------
# Properties as the engine sends them to analyzers.


def _for_analyzer(value: Any) -> Any:
    """One decoded value as the engine marshals it for an analyzer (KeepUnknowns, KeepSecrets)."""
    if isinstance(value, list):
        return [_for_analyzer(item) for item in value]
    if isinstance(value, wire.OutputValue):
        inner = _for_analyzer(value.value)
        return wire.Secret(inner) if value.secret else inner
    if isinstance(value, wire.Secret):
        return wire.Secret(_for_analyzer(value.value))
    if isinstance(value, wire.ResourceReference):
        # Without KeepResources a reference becomes its id, or its URN when it has no id.
        if value.id is wire.UNKNOWN_VALUE or (isinstance(value.id, str) and value.id):
            return value.id
        return value.urn
    if isinstance(value, dict):
        # Internal keys (`__provider`, a dynamic resource's pickled provider) stay in the program.
        return {key: _for_analyzer(item) for key, item in value.items() if not key.startswith("__")}
    return value


def engine_value(value: struct_pb2.Value) -> struct_pb2.Value:
    """One recorded value as the engine marshals it for an analyzer."""
    return wire.encode(_for_analyzer(wire.decode(value)))


def engine_properties(struct: struct_pb2.Struct) -> struct_pb2.Struct:
    """`MarshalProperties(..., KeepUnknowns, KeepSecrets, SkipInternalKeys)` over recorded inputs."""
    return wire.encode_struct(_for_analyzer(wire.decode_struct(struct)))


def run_secrets(run: ProgramRun) -> set[str]:
    """Every string a run holds inside a secret: its resources' inputs and its stack outputs."""
    found: set[str] = set()
    for struct in [*(resource.inputs for resource in run.resources), run.outputs]:
        found.update(wire.secret_strings(wire.decode_struct(struct)))
    return found


# ---------------------------------------------------------------------------
# Requests


def _provider(
    resource: RecordedResource, by_urn: Mapping[str, RecordedResource]
) -> analyzer_pb2.AnalyzerProviderResource | None:
    """An explicit provider (`urn::id` reference) as the engine describes it; default providers are
    the engine's own and never registered by the program, so they are left out."""
    if not resource.provider:
        return None
    urn = resource.provider.rsplit("::", 1)[0]
    provider = by_urn.get(urn)
    if provider is None:
        return None
    return analyzer_pb2.AnalyzerProviderResource(
        urn=urn, type=provider.type, name=provider.name, properties=engine_properties(provider.inputs)
    )


@dataclass(frozen=True)
class _Resource:
    urn: str
    type: str
    name: str
    parent: str
    properties: struct_pb2.Struct  # for Analyze: the inputs
    stack_properties: struct_pb2.Struct  # for AnalyzeStack: what the engine holds after preview
    dependencies: list[str]
    property_dependencies: dict[str, list[str]]
    provider: analyzer_pb2.AnalyzerProviderResource | None


def _resources(run: ProgramRun) -> list[_Resource]:
    by_urn = {resource.urn: resource for resource in run.resources}
    stack_name = f"{run.project}-{run.stack}"
    resources = [
        # The stack itself: no inputs; its outputs are what AnalyzeStack sees.
        _Resource(
            run.stack_urn,
            STACK_TYPE,
            stack_name,
            "",
            struct_pb2.Struct(),
            engine_properties(run.outputs),
            [],
            {},
            None,
        )
    ]
    for resource in run.resources:
        properties = engine_properties(resource.inputs)
        resources.append(
            _Resource(
                urn=resource.urn,
                type=resource.type,
                name=resource.name,
                parent=resource.parent,
                properties=properties,
                # The offline mocks echo inputs as outputs, as a preview shows them.
                stack_properties=properties,
                dependencies=list(dict.fromkeys(resource.dependencies)),
                property_dependencies={
                    key: urns for key, urns in resource.property_dependencies.items() if urns
                },
                provider=_provider(resource, by_urn),
            )
        )
    return resources


# ---------------------------------------------------------------------------
# The engine's side: the address handed to the pack, and the log it may write to.


class _EngineService(engine_pb2_grpc.EngineServicer):
    """The slice of the engine's gRPC service a policy pack can call: its log and the root resource."""

    def __init__(self) -> None:
        self.log: list[tuple[str, str]] = []
        self.root = ""
        self._lock = threading.Lock()

    def Log(self, request: engine_pb2.LogRequest, context: Any) -> empty_pb2.Empty:  # noqa: N802 - gRPC name
        severity = engine_pb2.LogSeverity.Name(request.severity).lower()
        with self._lock:
            self.log.append((severity, request.message))
        return empty_pb2.Empty()

    def take_log(self) -> list[tuple[str, str]]:
        with self._lock:
            taken, self.log = self.log, []
        return taken

    def GetRootResource(self, request: Any, context: Any) -> engine_pb2.GetRootResourceResponse:  # noqa: N802
        return engine_pb2.GetRootResourceResponse(urn=self.root)

    def SetRootResource(self, request: Any, context: Any) -> engine_pb2.SetRootResourceResponse:  # noqa: N802
        self.root = request.urn
        return engine_pb2.SetRootResourceResponse()


# ---------------------------------------------------------------------------
# The pack process


def _read_lines(stream: IO[bytes], lines: queue.Queue[str | None]) -> None:
    for raw in iter(stream.readline, b""):
        lines.put(raw.decode(errors="replace"))
    lines.put(None)


RUNTIMES = ("python", "nodejs")
# Where a Node.js pack's own @pulumi/pulumi keeps the policy pack runner (`pulumi-analyzer-policy` runs it).
NODE_RUNNER = Path("node_modules") / "@pulumi" / "pulumi" / "cmd" / "run-policy-pack"


def pack_runtime(directory: Path) -> str:
    """PulumiPolicy.yaml's `runtime` (`python`, or `{name: nodejs, options: ...}`)."""
    path = directory / "PulumiPolicy.yaml"
    try:
        project = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as error:
        raise PolicyPackError(f"{path}: cannot read it ({error})") from None
    runtime = project.get("runtime") if isinstance(project, dict) else None
    name = runtime.get("name") if isinstance(runtime, dict) else runtime
    if name not in RUNTIMES:
        raise PolicyPackError(f"{path}: runtime: found {json.dumps(name)}; accepted: {', '.join(RUNTIMES)}")
    return str(name)


def pack_command(directory: Path, engine_address: str, python: str = sys.executable) -> list[str]:
    """The argv the Pulumi CLI starts a pack with, in the pack's directory, per its runtime.

    Python: `python -u -m pulumi.policy <engine> .` (the pulumi-analyzer-policy-python plugin).
    Node.js: `node node_modules/@pulumi/pulumi/cmd/run-policy-pack <engine> .` (what the
    pulumi-analyzer-policy plugin runs); it loads the pack's `main` and prints the port it serves on."""
    if pack_runtime(directory) == "python":
        return [python, "-u", "-m", "pulumi.policy", engine_address, "."]
    runner = directory / NODE_RUNNER
    if not runner.is_dir():
        raise PolicyPackError(
            f"{directory}: a Node.js pack without {NODE_RUNNER}: run `npm ci` in {directory} first"
        )
    node = shutil.which("node")
    if node is None:
        raise PolicyPackError(
            f"{directory}: a Node.js pack, and no `node` on PATH: install Node.js 18 or later"
        )
    return [node, str(runner), engine_address, "."]


class PolicyPackProcess:
    """A policy pack running in its own process, as `pulumi preview --policy-pack DIR` runs it.

    Start it once and `check` as many runs as needed: each check configures the
    pack afresh (ConfigureStack, Configure) before analyzing.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str] = DEFAULT_PACK_DIR,
        *,
        project: str | None = None,
        stack: str | None = None,
        python: str = sys.executable,
    ) -> None:
        self.directory = Path(directory).resolve()
        self.project = project
        self.stack = stack
        self.python = python
        self.info = analyzer_pb2.AnalyzerInfo()
        # Where the pack can reach the engine's service (its log), once started.
        self.engine_address = ""
        self._engine = _EngineService()
        self._engine_server: grpc.Server | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._channel: grpc.Channel | None = None
        self._stub: analyzer_pb2_grpc.AnalyzerStub | None = None

    def __enter__(self) -> PolicyPackProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _pack_stderr(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace").strip()

    def _failure(self, what: str, redact: Masker = MASKER) -> PolicyPackError:
        detail = self._pack_stderr()
        tail = "\n".join(detail.splitlines()[-20:])
        text = f"policy pack {self.directory}: {what}" + (f"\n{tail}" if tail else "")
        return PolicyPackError(redact(text))

    def start(self) -> None:
        if not (self.directory / "PulumiPolicy.yaml").is_file():
            raise PolicyPackError(f"{self.directory}: no PulumiPolicy.yaml, so not a policy pack directory")
        pack_command(self.directory, "", self.python)  # fails before anything starts
        self._engine_server = grpc.server(futures.ThreadPoolExecutor(max_workers=2), options=_GRPC_OPTIONS)
        engine_pb2_grpc.add_EngineServicer_to_server(self._engine, self._engine_server)
        engine_port = self._engine_server.add_insecure_port("127.0.0.1:0")
        self._engine_server.start()
        engine_address = self.engine_address = f"127.0.0.1:{engine_port}"

        # The environment the CLI gives a pack (constructEnv): project, stack, dry run. Program config
        # (PULUMI_CONFIG) is left out: no policy here reads it, and it would carry decrypted secrets.
        env = {key: value for key, value in os.environ.items() if not key.startswith("PULUMI_CONFIG")}
        env.update({"PULUMI_DRY_RUN": "true", "PULUMI_ORGANIZATION": "organization", "PYTHONUNBUFFERED": "1"})
        if self.project:
            env["PULUMI_PROJECT"] = self.project
        if self.stack:
            env["PULUMI_STACK"] = self.stack
        # Closed in close(): the file outlives this method, as the process does.
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115
        self._process = subprocess.Popen(
            pack_command(self.directory, engine_address, self.python),
            cwd=self.directory,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=env,
        )
        assert self._process.stdout is not None
        lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=_read_lines, args=(self._process.stdout, lines), daemon=True).start()
        try:
            first = lines.get(timeout=_STARTUP_SECONDS)
        except queue.Empty:
            self.close()
            raise self._failure(f"printed no port within {_STARTUP_SECONDS} s") from None
        if first is None or not first.strip().isdigit():
            self._process.wait(timeout=10)
            error = self._failure(f"exited before serving (exit code {self._process.returncode})")
            self.close()
            raise error
        self._channel = grpc.insecure_channel(f"127.0.0.1:{first.strip()}", options=_GRPC_OPTIONS)
        try:
            grpc.channel_ready_future(self._channel).result(timeout=_STARTUP_SECONDS)
        except grpc.FutureTimeoutError:
            self.close()
            raise self._failure("did not answer on the port it printed") from None
        self._stub = analyzer_pb2_grpc.AnalyzerStub(self._channel)
        try:
            self._stub.Handshake(
                analyzer_pb2.AnalyzerHandshakeRequest(
                    engine_address=engine_address,
                    root_directory=str(self.directory),
                    program_directory=str(self.directory),
                ),
                timeout=_CALL_SECONDS,
            )
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.UNIMPLEMENTED:
                self.close()
                raise self._failure(f"Handshake failed: {error.details()}") from None
        try:
            self.info = self._stub.GetAnalyzerInfo(empty_pb2.Empty(), timeout=_CALL_SECONDS)
        except grpc.RpcError as error:
            self.close()
            raise self._failure(f"GetAnalyzerInfo failed: {error.details()}") from None
        # As the CLI does: PulumiPolicy.yaml's version wins over the one the pack reports.
        project = yaml.safe_load((self.directory / "PulumiPolicy.yaml").read_text()) or {}
        if isinstance(project, dict) and project.get("version"):
            self.info.version = str(project["version"])

    def plugin_version(self) -> str:
        assert self._stub is not None
        info: plugin_pb2.PluginInfo = self._stub.GetPluginInfo(empty_pb2.Empty(), timeout=_CALL_SECONDS)
        return info.version

    def close(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        if self._process is not None:
            if self._process.poll() is None:
                self._process.terminate()
                try:
                    self._process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self._process.kill()
                    self._process.wait()
            if self._process.stdout is not None:
                self._process.stdout.close()
            self._process = None
        if self._engine_server is not None:
            self._engine_server.stop(grace=None)
            self._engine_server = None
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def check(self, run: ProgramRun, config: Mapping[str, PolicySetting], config_source: str) -> CheckResult:
        """Configure the pack for this run's stack and config, analyze every resource, then the stack."""
        if self._stub is None:
            raise PolicyPackError("the policy pack is not running")
        settings = reconcile_config(self.info, config, config_source)
        MASKER.add(run_secrets(run))
        redact = MASKER
        resources = _resources(run)
        self._engine.root = run.stack_urn
        diagnostics: list[tuple[str, analyzer_pb2.AnalyzeDiagnostic]] = []
        try:
            self._stub.ConfigureStack(
                analyzer_pb2.AnalyzerStackConfigureRequest(
                    stack=run.stack, project=run.project, organization="organization", dry_run=True
                ),
                timeout=_CALL_SECONDS,
            )
            request = analyzer_pb2.ConfigureAnalyzerRequest()
            for name, setting in settings.items():
                policy_config = request.policyConfig[name]
                policy_config.enforcementLevel = _LEVEL_VALUES[setting.level or "advisory"]
                # The engine always sends `properties`, empty or not: a Node.js pack calls
                # `getProperties().toJavaScript()` on it and fails when it is absent.
                policy_config.properties.SetInParent()
                policy_config.properties.update(dict(setting.properties))
            self._stub.Configure(request, timeout=_CALL_SECONDS)
            # All in flight at once, as the engine analyzes each resource when it registers: the pack
            # serves them on its threads while this process encodes the next, and no call waits on another.
            pending = [
                (
                    resource.urn,
                    self._stub.Analyze.future(
                        analyzer_pb2.AnalyzeRequest(
                            urn=resource.urn,
                            type=resource.type,
                            name=resource.name,
                            properties=resource.properties,
                            options=analyzer_pb2.AnalyzerResourceOptions(parent=resource.parent),
                            provider=resource.provider,
                        ),
                        timeout=_CALL_SECONDS,
                    ),
                )
                for resource in resources
            ]
            stack_request = analyzer_pb2.AnalyzeStackRequest()
            for resource in resources:
                stack_request.resources.add(
                    urn=resource.urn,
                    type=resource.type,
                    name=resource.name,
                    properties=resource.stack_properties,
                    options=analyzer_pb2.AnalyzerResourceOptions(parent=resource.parent),
                    provider=resource.provider,
                    parent=resource.parent,
                    dependencies=resource.dependencies,
                    propertyDependencies={
                        key: analyzer_pb2.AnalyzerPropertyDependencies(urns=urns)
                        for key, urns in resource.property_dependencies.items()
                    },
                )
            response = self._stub.AnalyzeStack(stack_request, timeout=_CALL_SECONDS)
            # The engine files a resource's diagnostics under that resource, in registration order.
            for urn, call in pending:
                diagnostics.extend((urn, diagnostic) for diagnostic in call.result().diagnostics)
            diagnostics.extend((run.stack_urn, diagnostic) for diagnostic in response.diagnostics)
        except grpc.RpcError as error:
            raise self._failure(f"the Analyzer call failed: {error.details()}", redact) from None

        violations = [
            Violation(
                policy=diagnostic.policyName,
                urn=redact(diagnostic.urn or default_urn),
                level=_LEVEL_NAMES.get(diagnostic.enforcementLevel, "advisory"),
                message=redact(diagnostic.message),
            )
            for default_urn, diagnostic in diagnostics
        ]
        return CheckResult(
            pack=self.info.name,
            version=self.info.version,
            policies=len(self.info.policies),
            resources=len(resources),
            violations=sorted(violations, key=lambda v: (v.level != "mandatory", v.policy, v.urn, v.message)),
            pack_log=[redact(f"{severity}: {message}") for severity, message in self._engine.take_log()],
            reasons={name: setting.reason for name, setting in config.items() if setting.reason},
        )


def check_program_run(
    run: ProgramRun,
    config: Mapping[str, PolicySetting],
    config_source: str,
    pack_dir: str | os.PathLike[str] = DEFAULT_PACK_DIR,
) -> CheckResult:
    """Start the pack, check one run, stop the pack."""
    with PolicyPackProcess(pack_dir, project=run.project, stack=run.stack) as pack:
        return pack.check(run, config, config_source)


# ---------------------------------------------------------------------------
# Output

FORMATS = ("text", "json")


def format_json(result: CheckResult) -> str:
    return json.dumps([violation.as_dict() for violation in result.violations], indent=2) + "\n"


def format_text(result: CheckResult, run: ProgramRun, config_source: str) -> str:
    lines = [
        f"Policy pack {result.pack} {result.version}: {result.policies} policies over "
        f"{describe_resource_count(len(run.resources))} of stack {run.stack} (project {run.project})",
        f"Policy config: {config_source}",
    ]
    for violation in result.violations:
        lines.append("")
        lines.append(f"[{violation.level}] {violation.policy}")
        lines.append(f"  {violation.urn}")
        lines.extend(f"  {line}" for line in violation.message.splitlines())
        if violation.policy in result.reasons:
            lines.append(f"  accepted exception: {result.reasons[violation.policy]}")
    mandatory = len(result.mandatory)
    others = len(result.violations) - mandatory
    lines.append("")
    if not result.violations:
        lines.append("No policy violations.")
    else:
        lines.append(f"{mandatory} mandatory and {others} advisory violation{'s' if others != 1 else ''}.")
    return "\n".join(lines) + "\n"
