"""JSON-shaped Kubernetes objects ⇄ protobuf bytes, for the emulator and for tests (pure).

Built on our wire subset (``protos/k8s``, generated into ``discofilter._generated.k8s``). The
conversion is driven by the message descriptors: proto field names are Kubernetes' JSON names,
so a JSON key maps to the field of the same name. Special JSON forms:

- ``meta.v1.Time`` ⇄ RFC 3339 ("2024-05-01T10:00:00Z"; Go drops sub-seconds in JSON, so do we
  on the way out, but fractional input is kept in ``nanos``); ``MicroTime`` ⇄ RFC 3339 with six
  fraction digits.
- ``IntOrString`` ⇄ a JSON number (type 0, intVal) or string (type 1, strVal).
- ``Quantity`` ⇄ its string form; ``FieldsV1`` ⇄ the JSON object, whose compact JSON bytes are
  ``Raw`` (field 1), exactly as kube-apiserver stores managedFields.
- ``bytes`` fields (Secret ``data``, ConfigMap ``binaryData``) ⇄ base64 strings.

Policy on what our subset does not know: JSON keys without a field in the subset are DROPPED
when encoding (the emulator serves only the subset in protobuf; a real client-go decodes it fine
because every dropped field is optional). Protobuf fields outside the subset are kept as unknown
fields by the protobuf runtime when parsing, and written back when re-serialising (after the
known fields, so byte order can differ from Go's field-number order; see docs/codec.md).

The object itself carries no kind/apiVersion in protobuf; they travel in the ``k8s\\0`` +
``runtime.Unknown`` envelope, which Go always writes with all four fields (empty
contentEncoding/contentType included); so do we.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

import orjson
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError, Message

from discofilter._generated.k8s.api import core_v1_pb2 as core
from discofilter._generated.k8s.api import discovery_v1_pb2 as discovery
from discofilter._generated.k8s.apimachinery import meta_v1_pb2 as meta
from discofilter._generated.k8s.apimachinery import runtime_pb2 as runtime
from discofilter.codec.wire import K8S_MAGIC, frame
from discofilter.errors import CodecError
from discofilter.sim.k8sproto_types import (
    FIELDSV1,
    INTSTR,
    MICROTIME,
    QUANTITY,
    TIME,
    format_time,
    parse_time,
)
from discofilter.sim.protoencode import encode_message

# (apiVersion, kind) -> message class. The kinds the emulator serves as protobuf.
KINDS: dict[tuple[str, str], type[Message]] = {
    ("v1", "Status"): meta.Status,
    ("meta.k8s.io/v1", "Status"): meta.Status,
    ("meta.k8s.io/v1", "PartialObjectMetadata"): meta.PartialObjectMetadata,
    ("meta.k8s.io/v1", "PartialObjectMetadataList"): meta.PartialObjectMetadataList,
    ("discovery.k8s.io/v1", "EndpointSlice"): discovery.EndpointSlice,
    ("discovery.k8s.io/v1", "EndpointSliceList"): discovery.EndpointSliceList,
}
for _name in (
    "Pod",
    "Service",
    "Endpoints",
    "Namespace",
    "Node",
    "ConfigMap",
    "Secret",
):
    KINDS[("v1", _name)] = getattr(core, _name)
    KINDS[("v1", _name + "List")] = getattr(core, _name + "List")


def supports(api_version: str, kind: str) -> bool:
    """True when ``kind`` of ``api_version`` (object or ``*List``) has a protobuf form here."""
    return (api_version, kind) in KINDS


def message_class(api_version: str, kind: str) -> type[Message]:
    try:
        return KINDS[(api_version, kind)]
    except KeyError:
        raise CodecError(f"no protobuf form for {api_version}/{kind} in our subset") from None


# ---- JSON -> protobuf ----------------------------------------------------------------------


def _scalar(fd: FieldDescriptor, value: Any) -> Any:
    if fd.type == FieldDescriptor.TYPE_BYTES:
        if not isinstance(value, str):
            raise CodecError(f"{fd.full_name}: expected a base64 string")
        try:
            return base64.b64decode(value, validate=True)
        except binascii.Error as e:
            raise CodecError(f"{fd.full_name}: invalid base64") from e
    if fd.type == FieldDescriptor.TYPE_STRING and not isinstance(value, str):
        raise CodecError(f"{fd.full_name}: expected a string")
    if fd.type == FieldDescriptor.TYPE_BOOL and not isinstance(value, bool):
        raise CodecError(f"{fd.full_name}: expected a boolean")
    return value


def _set_message(msg: Message, value: Any) -> None:
    name = msg.DESCRIPTOR.full_name
    if name in (TIME, MICROTIME):
        if not isinstance(value, str):
            raise CodecError(f"{name}: expected an RFC 3339 string")
        msg.seconds, msg.nanos = parse_time(value)
    elif name == FIELDSV1:
        msg.Raw = orjson.dumps(value)
    elif name == INTSTR:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise CodecError("IntOrString: expected a number or a string")
        if isinstance(value, int):
            msg.type, msg.intVal, msg.strVal = 0, value, ""
        else:
            msg.type, msg.intVal, msg.strVal = 1, 0, value
    elif name == QUANTITY:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise CodecError("Quantity: expected a string")
        msg.string = str(value)
    else:
        if not isinstance(value, Mapping):
            raise CodecError(f"{name}: expected a JSON object")
        msg.SetInParent()
        fill(msg, value)


def fill(msg: Message, obj: Mapping[str, Any]) -> None:
    """Set ``msg``'s fields from a JSON-shaped mapping; unknown keys are dropped."""
    fields = msg.DESCRIPTOR.fields_by_name
    for key, value in obj.items():
        fd = fields.get(key)
        if fd is None or value is None:
            continue
        try:
            _fill_field(msg, fd, key, value)
        except (TypeError, ValueError, AttributeError) as e:
            raise CodecError(f"{fd.full_name}: {e}") from e


def _fill_field(msg: Message, fd: FieldDescriptor, key: str, value: Any) -> None:
    mt = fd.message_type
    if mt is not None and mt.GetOptions().map_entry:
        if not isinstance(value, Mapping):
            raise CodecError(f"{fd.full_name}: expected a JSON object")
        value_fd = mt.fields_by_name["value"]
        container = getattr(msg, key)
        for k, v in value.items():
            if value_fd.message_type is not None:
                _set_message(container[k], v)
            elif v is not None:
                container[k] = _scalar(value_fd, v)
    elif fd.is_repeated:
        if not isinstance(value, list):
            raise CodecError(f"{fd.full_name}: expected a JSON array")
        container = getattr(msg, key)
        for v in value:
            if mt is not None:
                _set_message(container.add(), v)
            else:
                container.append(_scalar(fd, v))
    elif mt is not None:
        _set_message(getattr(msg, key), value)
    else:
        setattr(msg, key, _scalar(fd, value))


def envelope(api_version: str, kind: str, raw: bytes) -> bytes:
    """``k8s\\0`` + runtime.Unknown around an object's bytes, with all four fields like Go."""
    unknown = runtime.Unknown(
        typeMeta=runtime.TypeMeta(apiVersion=api_version, kind=kind),
        raw=raw,
        contentEncoding="",
        contentType="",
    )
    return K8S_MAGIC + unknown.SerializeToString(deterministic=True)


def _type_of(obj: Mapping[str, Any]) -> tuple[str, str]:
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str):
        raise CodecError("object without apiVersion/kind cannot be encoded as protobuf")
    return api_version, kind


def to_message(obj: Mapping[str, Any]) -> Message:
    """The subset message for a JSON-shaped object (or list) with apiVersion and kind."""
    api_version, kind = _type_of(obj)
    msg = message_class(api_version, kind)()
    fill(msg, obj)
    return msg


def encode_object(obj: Mapping[str, Any]) -> bytes:
    """``k8s\\0`` + Unknown{typeMeta, raw} for one object (a Status included).

    Uses the compiled direct encoder (``protoencode``), byte-identical to
    ``to_message(obj).SerializeToString(deterministic=True)`` and ~10x faster.
    """
    api_version, kind = _type_of(obj)
    desc = message_class(api_version, kind).DESCRIPTOR
    return envelope(api_version, kind, encode_message(desc, obj))


def encode_list(obj: Mapping[str, Any]) -> bytes:
    """The same envelope for an ``XxxList`` (items are field 2, ListMeta field 1)."""
    return encode_object(obj)


def encode_watch_frame(type_: str, obj: Mapping[str, Any]) -> bytes:
    """A complete protobuf watch frame: length prefix + WatchEvent{type, RawExtension{object}}."""
    event = meta.WatchEvent(type=type_, object=runtime.RawExtension(raw=encode_object(obj)))
    return frame(event.SerializeToString(deterministic=True))


# ---- protobuf -> JSON ----------------------------------------------------------------------


def _json_value(fd: FieldDescriptor, value: Any) -> Any:
    if fd.message_type is not None:
        return _json_message(value)
    if fd.type == FieldDescriptor.TYPE_BYTES:
        return base64.b64encode(value).decode()
    return value


def _json_message(msg: Message) -> Any:
    name = msg.DESCRIPTOR.full_name
    if name in (TIME, MICROTIME):
        return format_time(msg.seconds, msg.nanos, micro=name == MICROTIME)
    if name == FIELDSV1:
        return orjson.loads(msg.Raw) if msg.Raw else {}
    if name == INTSTR:
        return msg.strVal if msg.type == 1 else msg.intVal
    if name == QUANTITY:
        return msg.string
    return to_dict(msg)


def to_dict(msg: Message) -> dict[str, Any]:
    """The JSON-shaped dict of a message's present fields (field-number order)."""
    out: dict[str, Any] = {}
    for fd, value in msg.ListFields():
        mt: Descriptor | None = fd.message_type
        if mt is not None and mt.GetOptions().map_entry:
            vfd = mt.fields_by_name["value"]
            out[fd.name] = {k: _json_value(vfd, value[k]) for k in sorted(value)}
        elif fd.is_repeated:
            out[fd.name] = [_json_value(fd, v) for v in value]
        else:
            out[fd.name] = _json_value(fd, value)
    return out


def unwrap(data: bytes) -> tuple[str, str, bytes]:
    """(apiVersion, kind, raw object bytes) of ``k8s\\0`` + Unknown."""
    if not data.startswith(K8S_MAGIC):
        raise CodecError("protobuf object lacks the k8s\\0 magic")
    unknown = runtime.Unknown()
    try:
        unknown.ParseFromString(data[len(K8S_MAGIC) :])
    except DecodeError as e:
        raise CodecError(f"invalid runtime.Unknown: {e}") from e
    return unknown.typeMeta.apiVersion, unknown.typeMeta.kind, unknown.raw


def decode_message(data: bytes) -> tuple[str, str, Message]:
    """(apiVersion, kind, parsed subset message) of an enveloped object."""
    api_version, kind, raw = unwrap(data)
    msg = message_class(api_version, kind)()
    try:
        msg.ParseFromString(raw)
    except DecodeError as e:
        raise CodecError(f"invalid {kind} protobuf: {e}") from e
    return api_version, kind, msg


def decode_object(data: bytes) -> dict[str, Any]:
    """The JSON-shaped dict (kind and apiVersion first) of an enveloped object or list."""
    api_version, kind, msg = decode_message(data)
    return {"kind": kind, "apiVersion": api_version, **to_dict(msg)}
