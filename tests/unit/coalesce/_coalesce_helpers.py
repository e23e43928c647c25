"""Builders for watch events as kube-apiserver writes them (JSON lines, protobuf frames)."""

from __future__ import annotations

from typing import Any

import orjson

from discofilter.model import BOOKMARK, ERROR, INITIAL_EVENTS_END, WatchEvent


def pod(name: str, rv: int, *, ns: str = "a", uid: str | None = None, v: int = 0) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "namespace": ns,
            "name": name,
            "uid": f"uid-{name}" if uid is None else uid,
            "resourceVersion": str(rv),
        },
        "spec": {"v": v},
    }


def json_event(type_: str, obj: dict[str, Any]) -> WatchEvent:
    meta = obj.get("metadata", {})
    return WatchEvent(
        type_,
        meta.get("namespace", ""),
        meta.get("name", ""),
        meta.get("uid", ""),
        meta.get("resourceVersion", ""),
        orjson.dumps({"type": type_, "object": obj}) + b"\n",
    )


def ev(
    type_: str, name: str, rv: int, *, ns: str = "a", uid: str | None = None, v: int = 0
) -> WatchEvent:
    return json_event(type_, pod(name, rv, ns=ns, uid=uid, v=v))


def bookmark(rv: int, *, initial_end: bool = False) -> WatchEvent:
    meta: dict[str, Any] = {"resourceVersion": str(rv)}
    if initial_end:
        meta["annotations"] = {INITIAL_EVENTS_END: "true"}
    raw = orjson.dumps({"type": BOOKMARK, "object": {"kind": "Pod", "metadata": meta}}) + b"\n"
    return WatchEvent(BOOKMARK, "", "", "", str(rv), raw, initial_events_end=initial_end)


def error(code: int = 410) -> WatchEvent:
    status = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code}
    raw = orjson.dumps({"type": ERROR, "object": status}) + b"\n"
    return WatchEvent(ERROR, "", "", "", "", raw)


def decode(event: WatchEvent) -> tuple[str, dict[str, Any]]:
    line = orjson.loads(event.raw)
    return line["type"], line["object"]


def brief(events: list[WatchEvent]) -> list[str]:
    """``"TYPE name rv"`` per event, with the type taken from the BYTES (checks re-typing)."""
    out = []
    for e in events:
        wire_type, _ = decode(e)
        assert wire_type == e.type, f"frame type {wire_type} != event type {e.type}"
        out.append(f"{e.type} {e.name} {e.resource_version}".replace("  ", " ").strip())
    return out


# --- protobuf --------------------------------------------------------------------------------


def varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def pb_field(num: int, payload: bytes) -> bytes:
    return varint(num << 3 | 2) + varint(len(payload)) + payload


def pb_frame(type_: str | None, object_raw: bytes, *, extra: bytes = b"") -> bytes:
    """A length-prefixed metav1.WatchEvent: field 1 type, field 2 RawExtension{raw: field 1}."""
    body = (pb_field(1, type_.encode()) if type_ is not None else b"") + pb_field(
        2, pb_field(1, object_raw)
    )
    body += extra
    return len(body).to_bytes(4, "big") + body


def pb_fields(frame: bytes) -> list[tuple[int, bytes]]:
    """Top-level (field number, payload) of a frame whose fields are all length-delimited."""
    assert int.from_bytes(frame[:4], "big") == len(frame) - 4
    out = []
    pos = 4
    while pos < len(frame):
        tag, pos = _read_varint(frame, pos)
        assert tag & 7 == 2
        n, pos = _read_varint(frame, pos)
        out.append((tag >> 3, frame[pos : pos + n]))
        pos += n
    return out


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7
