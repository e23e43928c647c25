"""Fast JSON-shaped dict → protobuf bytes for our Kubernetes subset, without message objects.

``k8sproto.fill`` sets fields on upb messages one Python call at a time (~1 µs per field,
~200+ µs for a 6.5 KB pod): too slow for the emulator to serve thousands of protobuf watch
events per second. This module compiles, once per message type, a *plan* (JSON key → field
number, kind, tag, argument) and one loop (``_encode``) writes the wire bytes directly, with
strings, scalars and nested messages handled inline: few Python calls per field.

Output is what Go's generated marshallers write and what upb's deterministic serialisation of
``k8sproto.to_message(obj)`` gives (tests/unit/codec/test_codec_protoencode.py): fields in
field-number order, map entries sorted by key in plain lexicographic order like Go's
``sortkeys.Strings`` (upb orders keys that are prefixes of each other differently, the one
byte-level difference from upb), present-but-empty values written (proto2 presence), Time as
seconds+nanos, IntOrString with all three fields, FieldsV1 as compact JSON bytes. JSON keys
outside the subset are dropped; a value of the wrong JSON type raises ``CodecError``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from typing import Any

import orjson
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from discofilter.codec.wire import encode_varint
from discofilter.errors import CodecError
from discofilter.sim.k8sproto_types import FIELDSV1, INTSTR, MICROTIME, QUANTITY, TIME, parse_time

_ONE_BYTE = [bytes((i,)) for i in range(128)]

# Varint field types and their value ranges (upb rejects values outside them; so do we).
_INT_RANGES = {
    FieldDescriptor.TYPE_INT32: (-(1 << 31), 1 << 31),
    FieldDescriptor.TYPE_INT64: (-(1 << 63), 1 << 63),
    FieldDescriptor.TYPE_UINT32: (0, 1 << 32),
    FieldDescriptor.TYPE_UINT64: (0, 1 << 64),
}

# Field kinds of a plan entry. REP_ = repeated, MAP_ = map<string, X>. CMSG = a message whose
# encodings are memoised (below).
STR, BYTES, BOOL, INT, MSG, SPECIAL, CMSG = range(7)
REP = 8
MAP = 16

Plan = dict[str, tuple[int, int, bytes, Any, str]]
"""JSON key → (field number, kind, tag bytes, argument, field name for errors)."""


def varint(value: int) -> bytes:
    """``wire.encode_varint`` with the one-byte values precomputed (most tags and lengths)."""
    if 0 <= value < 128:
        return _ONE_BYTE[value]
    return encode_varint(value)


def _ld(tag: bytes, payload: bytes) -> bytes:
    """A length-delimited field."""
    n = len(payload)
    return tag + (_ONE_BYTE[n] if n < 128 else varint(n)) + payload


def _time(v: Any) -> bytes:
    if type(v) is not str:
        raise CodecError("Time: expected an RFC 3339 string")
    seconds, nanos = parse_time(v)
    return b"\x08" + varint(seconds) + b"\x10" + varint(nanos)


def _intstr(v: Any) -> bytes:
    if type(v) is int:
        if not -(1 << 31) <= v < 1 << 31:
            raise CodecError("IntOrString: integer out of int32 range")
        return b"\x08\x00\x10" + varint(v) + b"\x1a\x00"
    if type(v) is str:
        return b"\x08\x01\x10\x00" + _ld(b"\x1a", v.encode())
    raise CodecError("IntOrString: expected a number or a string")


def _quantity(v: Any) -> bytes:
    if type(v) is bool or not isinstance(v, int | float | str):
        raise CodecError("Quantity: expected a string")
    return _ld(b"\x0a", str(v).encode())


def _fieldsv1(v: Any) -> bytes:
    return _ld(b"\x0a", orjson.dumps(v))


_SPECIAL: dict[str, Callable[[Any], bytes]] = {
    TIME: _time,
    MICROTIME: _time,
    INTSTR: _intstr,
    QUANTITY: _quantity,
    FIELDSV1: _fieldsv1,
}

_PLANS: dict[str, Plan] = {}

# Memoised sub-messages. The emulator re-encodes the same pod template (spec) for every pod of
# a workload and for every MODIFIED event of a pod; encoding a PodSpec costs ~60-100 µs in
# Python, its orjson bytes ~3 µs. Keyed by message type and ``orjson.dumps(value)``: equal
# JSON bytes mean equal values, and the encoding does not depend on key order (fields sorted
# by number, map entries by key), so a hit is always exact. Bounded: at most _MEMO_MAX entries
# (~10 MB for pods), evicting the oldest first.
_MEMO_TYPES = frozenset(
    {
        "k8s.io.api.core.v1.PodSpec",
        "k8s.io.api.core.v1.PodStatus",
        "k8s.io.api.core.v1.ServiceSpec",
        "k8s.io.api.core.v1.NodeSpec",
        "k8s.io.api.core.v1.NodeStatus",
        "k8s.io.api.core.v1.EndpointSubset",
        "k8s.io.api.discovery.v1.Endpoint",
        "k8s.io.apimachinery.pkg.apis.meta.v1.ManagedFieldsEntry",
    }
)
_MEMO_MAX = 2048
_memo: dict[tuple[int, bytes], bytes] = {}
"""(id of the message's plan, JSON bytes of the value) → the message's bytes (no tag)."""


def plan_for(desc: Descriptor) -> Plan:
    """The (cached) plan of a message type; built before its fields so recursion terminates."""
    plan = _PLANS.get(desc.full_name)
    if plan is not None:
        return plan
    plan = {}
    _PLANS[desc.full_name] = plan
    for fd in desc.fields:
        plan[fd.name] = _entry(fd)
    return plan


def _value_kind(fd: FieldDescriptor) -> tuple[int, int, Any]:
    """(kind, wire type, argument) of one value of ``fd``."""
    t = fd.type
    if t == FieldDescriptor.TYPE_MESSAGE:
        special = _SPECIAL.get(fd.message_type.full_name)
        if special is not None:
            return SPECIAL, 2, special
        kind = CMSG if fd.message_type.full_name in _MEMO_TYPES else MSG
        return kind, 2, plan_for(fd.message_type)
    if t == FieldDescriptor.TYPE_STRING:
        return STR, 2, None
    if t == FieldDescriptor.TYPE_BYTES:
        return BYTES, 2, None
    if t == FieldDescriptor.TYPE_BOOL:
        return BOOL, 0, None
    if t in _INT_RANGES:
        return INT, 0, _INT_RANGES[t]
    raise CodecError(f"{fd.full_name}: field type {t} not supported")


def _entry(fd: FieldDescriptor) -> tuple[int, int, bytes, Any, str]:
    mt = fd.message_type
    if mt is not None and mt.GetOptions().map_entry:
        kind, wt, arg = _value_kind(mt.fields_by_name["value"])
        value_tag = varint((2 << 3) | wt)
        return fd.number, MAP | kind, varint((fd.number << 3) | 2), (value_tag, arg), fd.full_name
    kind, wt, arg = _value_kind(fd)
    if fd.is_repeated:
        kind |= REP
    return fd.number, kind, varint((fd.number << 3) | wt), arg, fd.full_name


def _value(kind: int, tag: bytes, arg: Any, v: Any, name: str) -> bytes:
    """One value of a field with its tag (kind without REP/MAP bits)."""
    if kind == STR:
        if type(v) is not str:
            raise CodecError(f"{name}: expected a string")
        return _ld(tag, v.encode())
    if kind == MSG:
        if type(v) is not dict and not isinstance(v, Mapping):
            raise CodecError(f"{name}: expected a JSON object")
        return _ld(tag, _encode(arg, v))
    if kind == SPECIAL:
        return _ld(tag, arg(v))
    if kind == CMSG:
        if type(v) is not dict and not isinstance(v, Mapping):
            raise CodecError(f"{name}: expected a JSON object")
        # The message type is part of the key: "{}" is a valid PodSpec and PodStatus alike.
        key = (id(arg), orjson.dumps(v))
        payload = _memo.get(key)
        if payload is None:
            payload = _encode(arg, v)
            if len(_memo) >= _MEMO_MAX:
                del _memo[next(iter(_memo))]
            _memo[key] = payload
        return _ld(tag, payload)
    if kind == INT:
        if type(v) is not int or not arg[0] <= v < arg[1]:
            raise CodecError(f"{name}: expected an integer in [{arg[0]}, {arg[1]})")
        return tag + varint(v)
    if kind == BOOL:
        if type(v) is not bool:
            raise CodecError(f"{name}: expected a boolean")
        return tag + (b"\x01" if v else b"\x00")
    # BYTES
    if type(v) is not str:
        raise CodecError(f"{name}: expected a base64 string")
    try:
        return _ld(tag, base64.b64decode(v, validate=True))
    except binascii.Error as e:
        raise CodecError(f"{name}: invalid base64") from e


def _encode(plan: Plan, obj: Mapping[str, Any]) -> bytes:
    fields: list[tuple[int, bytes]] = []
    last = 0
    ordered = True
    for key, v in obj.items():
        entry = plan.get(key)
        if entry is None or v is None:
            continue
        fnum, kind, tag, arg, name = entry
        if kind == STR:
            if type(v) is not str:
                raise CodecError(f"{name}: expected a string")
            b = v.encode()
            n = len(b)
            data = tag + (_ONE_BYTE[n] if n < 128 else varint(n)) + b
        elif kind < REP:
            data = _value(kind, tag, arg, v, name)
        elif kind < MAP:
            if type(v) is not list:
                raise CodecError(f"{name}: expected a JSON array")
            k = kind & ~REP
            data = b"".join([_value(k, tag, arg, x, name) for x in v])
        else:
            data = _map(kind & ~MAP, tag, arg, v, name)
        if fnum < last:
            ordered = False
        last = fnum
        fields.append((fnum, data))
    if not ordered:
        fields.sort(key=_first)
    return b"".join([d for _, d in fields])


def _map(kind: int, tag: bytes, arg: tuple[bytes, Any], v: Any, name: str) -> bytes:
    if type(v) is not dict and not isinstance(v, Mapping):
        raise CodecError(f"{name}: expected a JSON object")
    value_tag, value_arg = arg
    parts = []
    for key in sorted(v):
        val = v[key]
        if val is None:
            continue
        if type(key) is not str:
            raise CodecError(f"{name}: map keys must be strings")
        entry = _ld(b"\x0a", key.encode()) + _value(kind, value_tag, value_arg, val, name)
        parts.append(_ld(tag, entry))
    return b"".join(parts)


def _first(item: tuple[int, bytes]) -> int:
    return item[0]


def encode_message(desc: Descriptor, obj: Mapping[str, Any]) -> bytes:
    """Wire bytes of ``obj`` as message ``desc`` (see the module docstring)."""
    try:
        return _encode(plan_for(desc), obj)
    except (TypeError, ValueError, OverflowError, RecursionError) as e:
        raise CodecError(f"{desc.full_name}: {e}") from e
