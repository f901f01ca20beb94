"""Pulumi's wire format for property values: the one walker over it.

Programs send resource inputs to the engine as `google.protobuf.Value`s in which
a struct carrying the signature key (`4dabf18193072939515e22adb298388d`) is a
special value: a secret, an output value (with its own secret flag and maybe no
value: unknown), a resource reference, an asset or an archive. In preview an
unknown plain value is the string `04da6b54-80e4-46f7-96ec-b56ff0331ba9`.

`decode` turns a wire value into plain Python with those special values as the
small types below; everything that reads recorded values (plan's presentation,
the analyzer's view, the secrets a run holds) folds over that one decoding.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from google.protobuf import struct_pb2
from pulumi.runtime import rpc

SIG_KEY = rpc._special_sig_key
SECRET_SIG = rpc._special_secret_sig
RESOURCE_SIG = rpc._special_resource_sig
ASSET_SIG = rpc._special_asset_sig
ARCHIVE_SIG = rpc._special_archive_sig
OUTPUT_SIG = rpc._special_output_value_sig
UNKNOWN = rpc.UNKNOWN


class Unknown:
    """A value known only after deploy (the unknown sentinel, or an output value without a value)."""

    def __repr__(self) -> str:
        return "Unknown"


UNKNOWN_VALUE = Unknown()


@dataclass(frozen=True)
class Secret:
    value: Any


@dataclass(frozen=True)
class OutputValue:
    value: Any  # UNKNOWN_VALUE when the output has no value yet
    secret: bool


@dataclass(frozen=True)
class ResourceReference:
    urn: str
    id: Any  # None when the reference carries no id


@dataclass(frozen=True)
class AssetOrArchive:
    archive: bool
    keys: frozenset[str]
    raw: struct_pb2.Value  # passed on to analyzers as it came


def _number(number: float) -> int | float:
    return int(number) if number.is_integer() else number


def decode(value: struct_pb2.Value) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "null_value" or kind is None:
        return None
    if kind == "bool_value":
        return value.bool_value
    if kind == "number_value":
        return _number(value.number_value)
    if kind == "string_value":
        return UNKNOWN_VALUE if value.string_value == UNKNOWN else value.string_value
    if kind == "list_value":
        return [decode(item) for item in value.list_value.values]
    fields = value.struct_value.fields
    signature = fields[SIG_KEY].string_value if SIG_KEY in fields else None
    if signature == SECRET_SIG:
        return Secret(decode(fields["value"]) if "value" in fields else None)
    if signature == OUTPUT_SIG:
        secret = "secret" in fields and fields["secret"].bool_value
        return OutputValue(decode(fields["value"]) if "value" in fields else UNKNOWN_VALUE, secret)
    if signature == RESOURCE_SIG:
        return ResourceReference(fields["urn"].string_value, decode(fields["id"]) if "id" in fields else None)
    if signature in (ASSET_SIG, ARCHIVE_SIG):
        raw = struct_pb2.Value()
        raw.CopyFrom(value)
        return AssetOrArchive(signature == ARCHIVE_SIG, frozenset(fields) - {SIG_KEY}, raw)
    return {key: decode(item) for key, item in fields.items()}


def decode_struct(struct: struct_pb2.Struct) -> dict[str, Any]:
    return {key: decode(item) for key, item in struct.fields.items()}


def encode(value: Any) -> struct_pb2.Value:
    """Decoded values back onto the wire, as the SDK serializes them."""
    result = struct_pb2.Value()
    if value is None:
        result.null_value = struct_pb2.NULL_VALUE
    elif value is UNKNOWN_VALUE:
        result.string_value = UNKNOWN
    elif isinstance(value, bool):
        result.bool_value = value
    elif isinstance(value, (int, float)):
        result.number_value = float(value)
    elif isinstance(value, str):
        result.string_value = value
    elif isinstance(value, list):
        result.list_value.SetInParent()
        for item in value:
            result.list_value.values.add().CopyFrom(encode(item))
    elif isinstance(value, Secret):
        result.struct_value.fields[SIG_KEY].string_value = SECRET_SIG
        result.struct_value.fields["value"].CopyFrom(encode(value.value))
    elif isinstance(value, OutputValue):
        fields = result.struct_value.fields
        fields[SIG_KEY].string_value = OUTPUT_SIG
        if value.value is not UNKNOWN_VALUE:
            fields["value"].CopyFrom(encode(value.value))
        if value.secret:
            fields["secret"].bool_value = True
    elif isinstance(value, ResourceReference):
        fields = result.struct_value.fields
        fields[SIG_KEY].string_value = RESOURCE_SIG
        fields["urn"].string_value = value.urn
        if value.id is not None:
            fields["id"].CopyFrom(encode(value.id))
    elif isinstance(value, AssetOrArchive):
        result.CopyFrom(value.raw)
    elif isinstance(value, dict):
        result.struct_value.SetInParent()
        for key, item in value.items():
            result.struct_value.fields[key].CopyFrom(encode(item))
    else:
        raise TypeError(f"no wire form for {type(value).__name__}")
    return result


def encode_struct(values: dict[str, Any]) -> struct_pb2.Struct:
    result = struct_pb2.Struct()
    for key, item in values.items():
        result.fields[key].CopyFrom(encode(item))
    return result


def secret_strings(value: Any, inside: bool = False) -> Iterator[str]:
    """Every string held inside a secret (or a secret output) in a decoded value."""
    if isinstance(value, str):
        if inside:
            yield value
    elif isinstance(value, Secret):
        yield from secret_strings(value.value, True)
    elif isinstance(value, OutputValue):
        yield from secret_strings(value.value, inside or value.secret)
    elif isinstance(value, ResourceReference):
        if inside:
            yield value.urn
        yield from secret_strings(value.id, inside)
    elif isinstance(value, list):
        for item in value:
            yield from secret_strings(item, inside)
    elif isinstance(value, dict):
        for item in value.values():
            yield from secret_strings(item, inside)
