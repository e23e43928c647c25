"""``meta.v1.Status`` in protobuf, hand-encoded so ERROR frames need no generated code (pure).

Field numbers (k8s.io/apimachinery/pkg/apis/meta/v1/generated.proto, proto2):
Status: 1 metadata (ListMeta), 2 status, 3 message, 4 reason, 5 details, 6 code.
ListMeta: 1 selfLink, 2 resourceVersion, 3 continue, 4 remainingItemCount.
StatusDetails: 1 name, 2 group, 3 kind, 4 causes, 5 retryAfterSeconds, 6 uid.
StatusCause: 1 reason (JSON "reason"), 2 message, 3 field.

Like Go's generated marshaller, non-pointer fields are written even when empty (empty strings,
code 0), so the bytes match what kube-apiserver sends for the same Status.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from discofilter.codec.wire import K8S_MAGIC, field_bytes, field_str, field_varint


def _s(d: Mapping[str, Any], key: str) -> str:
    v = d.get(key)
    return v if isinstance(v, str) else ""


def _i(d: Mapping[str, Any], key: str) -> int:
    v = d.get(key)
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


def encode_list_meta(meta: Mapping[str, Any]) -> bytes:
    out = field_str(1, _s(meta, "selfLink"))
    out += field_str(2, _s(meta, "resourceVersion"))
    out += field_str(3, _s(meta, "continue"))
    if isinstance(meta.get("remainingItemCount"), int):
        out += field_varint(4, meta["remainingItemCount"])
    return out


def _encode_details(details: Mapping[str, Any]) -> bytes:
    out = field_str(1, _s(details, "name"))
    out += field_str(2, _s(details, "group"))
    out += field_str(3, _s(details, "kind"))
    for cause in details.get("causes") or []:
        c = field_str(1, _s(cause, "reason"))
        c += field_str(2, _s(cause, "message"))
        c += field_str(3, _s(cause, "field"))
        out += field_bytes(4, c)
    out += field_varint(5, _i(details, "retryAfterSeconds"))
    out += field_str(6, _s(details, "uid"))
    return out


def encode_status(status: Mapping[str, Any]) -> bytes:
    """The Status message bytes (no envelope)."""
    meta = status.get("metadata")
    out = field_bytes(1, encode_list_meta(meta if isinstance(meta, Mapping) else {}))
    out += field_str(2, _s(status, "status"))
    out += field_str(3, _s(status, "message"))
    out += field_str(4, _s(status, "reason"))
    details = status.get("details")
    if isinstance(details, Mapping):
        out += field_bytes(5, _encode_details(details))
    out += field_varint(6, _i(status, "code"))
    return out


def wrap_unknown(api_version: str, kind: str, raw: bytes) -> bytes:
    """``k8s\\0`` + runtime.Unknown{typeMeta{apiVersion, kind}, raw, "", ""}."""
    type_meta = field_str(1, api_version) + field_str(2, kind)
    return (
        K8S_MAGIC
        + field_bytes(1, type_meta)
        + field_bytes(2, raw)
        + field_str(3, "")
        + field_str(4, "")
    )


def watch_event_message(type_: str, enveloped_object: bytes) -> bytes:
    """A ``meta.v1.WatchEvent`` message (no length prefix) around an enveloped object."""
    return field_str(1, type_) + field_bytes(2, field_bytes(1, enveloped_object))
