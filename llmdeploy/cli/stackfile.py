"""Reading `Pulumi.yaml` and `Pulumi.<stack>.yaml`: strict YAML, one line per problem.

Every command that reads a stack (plan, check, preflight, verify, rollout) goes
through `read_project` and `read_stack_config`. A file that is not what Pulumi
accepts is refused with a `StackFileError` whose `str()` is one line naming the
file, the line and column where YAML knows them, what was found and what is
accepted. On top of YAML's own syntax errors it refuses what PyYAML's
`safe_load` lets through silently or never finishes:

- a key given twice in one map (YAML 1.2 forbids it; PyYAML keeps the last);
- tags that construct Python objects (`!!python/...`): the safe loader has no
  constructor for them, and the message says so instead of a traceback;
- alias expansion beyond `MAX_EXPANDED_NODES` nodes or nesting beyond
  `MAX_DEPTH` (the "billion laughs" shape: a few lines of anchors that expand to
  gigabytes once the config value is serialised), and recursive aliases;
- files over `MAX_FILE_BYTES`, or bytes that are not UTF-8 text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from llmdeploy.cli.inputfile import InputFileError, read_bounded_text
from llmdeploy.cli.masking import SECRET_MARK

# Far above any real stack file (ours are a few KiB), far below what hurts to parse.
MAX_FILE_BYTES = 1024 * 1024
# Nodes after expanding every alias: a real config has hundreds.
MAX_EXPANDED_NODES = 100_000
MAX_DEPTH = 64
PROJECT_FILE_NAMES = ("Pulumi.yaml", "Pulumi.yml")

# The value a `secure:` config entry gets in an offline run. It is not the
# secret (we never decrypt), and the key is marked secret so it stays masked.
SECRET_STAND_IN = SECRET_MARK


class StackFileError(Exception):
    """A project or stack file that cannot be used; `str()` is one line (commands exit 2)."""


@dataclass(frozen=True)
class ProgramConfig:
    """A stack's config the way the language host passes it to a program."""

    values: dict[str, str]
    secret_keys: list[str]


def _where(path: Path, mark: Any) -> str:
    if mark is None:
        return str(path)
    return f"{path}:{mark.line + 1}:{mark.column + 1}"


class StrictLoader(yaml.SafeLoader):
    """The safe loader, refusing duplicate keys and bounding what aliases expand to."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                first = seen.get(key)
            except TypeError:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"found a {type(key).__name__} as a map key; accepted: a string",
                    key_node.start_mark,
                ) from None
            if first is not None:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"found the key {key!r} twice in one map (first at line {first.line + 1}); "
                    "accepted: each key once",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


def _check_expansion(node: yaml.Node) -> None:
    """Refuse a document whose aliases expand past the bounds, or refer back to themselves."""
    sizes: dict[int, int] = {}
    visiting: set[int] = set()

    def size(current: yaml.Node, depth: int) -> int:
        if depth > MAX_DEPTH:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"found nesting deeper than {MAX_DEPTH} levels; accepted: at most {MAX_DEPTH}",
                current.start_mark,
            )
        key = id(current)
        if key in sizes:
            return sizes[key]
        if key in visiting:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                "found an alias that refers to itself; accepted: aliases to finished nodes",
                current.start_mark,
            )
        visiting.add(key)
        total = 1
        if isinstance(current, yaml.SequenceNode):
            total += sum(size(child, depth + 1) for child in current.value)
        elif isinstance(current, yaml.MappingNode):
            total += sum(size(k, depth + 1) + size(v, depth + 1) for k, v in current.value)
        visiting.discard(key)
        if total > MAX_EXPANDED_NODES:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"found aliases that expand to more than {MAX_EXPANDED_NODES:,} values; "
                "accepted: a config that stays that small once aliases are expanded",
                current.start_mark,
            )
        sizes[key] = total
        return total

    size(node, 0)


def load_yaml(path: Path) -> Any:
    """The one YAML document in `path`, or a `StackFileError` naming file, line and column."""
    try:
        text = read_bounded_text(path, MAX_FILE_BYTES, what="a stack file", text="YAML", unit="KiB")
    except InputFileError as error:
        raise StackFileError(f"{path}: {error}") from None
    loader = StrictLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expansion(node)
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as error:
        problem = " ".join(str(error.problem or error.context or "not YAML").split())
        if "could not determine a constructor for the tag" in problem:
            quoted = re.search(r"'([^']*)'", problem)
            tag = (quoted.group(1) if quoted else "?").replace("tag:yaml.org,2002:", "!!")
            problem = (
                f"found the tag {tag!r}; accepted: plain YAML (maps, lists, strings, numbers, booleans), "
                "no tags that build objects"
            )
        raise StackFileError(f"{_where(path, error.problem_mark)}: {problem}") from None
    except yaml.YAMLError as error:
        raise StackFileError(f"{path}: not YAML: {' '.join(str(error).split())}") from None
    except RecursionError:
        raise StackFileError(
            f"{path}: found nesting too deep to read; accepted: at most {MAX_DEPTH} levels"
        ) from None
    finally:
        loader.dispose()


def _kind(value: Any) -> str:
    names: dict[type, str] = {list: "a list", str: "a string", dict: "a map"}
    return names.get(type(value), f"a {type(value).__name__}")


def _config_map(path: Path, data: Any) -> dict[str, Any]:
    """The `config:` map of a project or stack file, checked to be a map of string keys."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise StackFileError(f"{path}: found {_kind(data)} at the top level; accepted: a map (config: ...)")
    config = data.get("config")
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise StackFileError(f"{path}: config: found {_kind(config)}; accepted: a map of key: value")
    for key in config:
        if not isinstance(key, str) or not key:
            raise StackFileError(f"{path}: config: found the key {key!r}; accepted: a non-empty string key")
    return config


def project_file(program_dir: Path) -> Path | None:
    for name in PROJECT_FILE_NAMES:
        if (program_dir / name).is_file():
            return program_dir / name
    return None


def read_project(program_dir: Path) -> dict[str, Any]:
    """`Pulumi.yaml`, checked to name the project and hold a config map.

    A missing file raises `FileNotFoundError`-free `StackFileError` too: callers that want
    a friendlier remedy check `project_file` first.
    """
    path = project_file(program_dir)
    if path is None:
        raise StackFileError(f"{program_dir}: no Pulumi.yaml, so not a Pulumi program directory")
    data = load_yaml(path)
    _config_map(path, data)
    assert data is None or isinstance(data, dict)
    name = (data or {}).get("name")
    if not isinstance(name, str) or not name.strip():
        raise StackFileError(f"{path}: name: found {name!r}; accepted: the project name (a string)")
    main = data.get("main") if data else None
    if main is not None and not isinstance(main, str):
        raise StackFileError(f"{path}: main: found {_kind(main)}; accepted: a path to the program")
    return dict(data or {})


def _config_string(value: Any) -> str:
    # The CLI hands every config value to the program as a string; objects and
    # lists travel as JSON, which `Config.get_object` parses back.
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, default=str)


def _has_secure(value: Any) -> bool:
    if isinstance(value, dict):
        return set(value) == {"secure"} or any(_has_secure(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_secure(v) for v in value)
    return False


def _mask_secure(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return SECRET_STAND_IN
        return {k: _mask_secure(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_secure(v) for v in value]
    return value


def read_stack_config(program_dir: Path, project: Mapping[str, Any], stack: str) -> ProgramConfig:
    """Project defaults from Pulumi.yaml, overlaid by Pulumi.<stack>.yaml."""
    name = str(project["name"])

    def full_key(key: str) -> str:
        return key if ":" in key else f"{name}:{key}"

    values: dict[str, str] = {}
    secret_keys: list[str] = []
    project_path = project_file(program_dir) or program_dir / "Pulumi.yaml"
    for key, spec in _config_map(project_path, dict(project)).items():
        # Project-level config: `key: value`, or `key: {type, default}` / `{value}`.
        if isinstance(spec, dict) and ({"default", "value", "type", "description"} & set(spec)):
            if "value" in spec:
                values[full_key(key)] = _config_string(spec["value"])
            elif "default" in spec:
                values[full_key(key)] = _config_string(spec["default"])
        else:
            values[full_key(key)] = _config_string(spec)

    stack_file = program_dir / f"Pulumi.{stack}.yaml"
    if stack_file.is_file():
        for key, value in _config_map(stack_file, load_yaml(stack_file)).items():
            key = full_key(key)
            if _has_secure(value):
                secret_keys.append(key)
                value = _mask_secure(value)
            values[key] = _config_string(value)
    return ProgramConfig(values=values, secret_keys=secret_keys)
