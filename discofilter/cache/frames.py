"""Object bytes <-> watch frames in one content type (pure).

The cache stores each object's bytes once and builds every frame it sends from them, once per
upstream event (shared by the window and every watcher). For the two wire formats
kube-apiserver writes, the rebuilt event frame is byte-identical to the upstream's (contract 1):

* JSON: Go's ``json.Encoder`` writes ``{"type":"<T>","object":<object>}`` + ``\\n``, so
  ``split`` slices the object out and ``event`` glues it back;
* protobuf: a 4-byte big-endian length + ``WatchEvent{1: type, 2: RawExtension{1: raw}}``, where
  ``raw`` is the ``k8s\\0``-enveloped object, written in field order as Go's marshaller does.

``split`` is the reflector's half (phase B): it refuses (``CodecError``) a frame it cannot slice
exactly, rather than re-encode it, so the bytes a client gets are always the upstream's.
Bookmarks carry only the resourceVersion (and the initial-events-end annotation), as
kube-apiserver's do; their bytes need not match anyone's, only decode the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import orjson

from discofilter.codec.errorevent import encode_error_event
from discofilter.codec.mediatype import JSON, PROTOBUF, is_protobuf
from discofilter.codec.protostatus import watch_event_message, wrap_unknown
from discofilter.codec.wire import (
    encode_varint,
    field_bytes,
    field_str,
    frame,
    read_varint,
    text,
)
from discofilter.errors import CodecError
from discofilter.model import BOOKMARK, EVENT_TYPES, INITIAL_EVENTS_END


class Framer(Protocol):
    """Builds (and splits) the watch frames of one content type and kind."""

    content_type: str

    def event(self, type_: str, obj: bytes) -> bytes:
        """The frame of an ADDED/MODIFIED/DELETED event carrying ``obj``."""
        ...

    def bookmark(self, resource_version: str, initial_events_end: bool = False) -> bytes:
        """A BOOKMARK frame at ``resource_version``."""
        ...

    def error(self, status: Mapping[str, Any]) -> bytes:
        """An ERROR frame carrying a ``Status`` dict (410 Expired and friends)."""
        ...

    def split(self, raw_frame: bytes) -> tuple[str, bytes]:
        """(event type, object bytes) of an upstream frame, so that ``event`` rebuilds it."""
        ...


_JSON_HEAD = b'{"type":"'
_JSON_MID = b'","object":'


class JsonFramer:
    """``application/json`` watch lines of one kind."""

    content_type = JSON

    def __init__(self, api_version: str, kind: str) -> None:
        self._type_meta = orjson.dumps({"kind": kind, "apiVersion": api_version})[1:-1]

    def event(self, type_: str, obj: bytes) -> bytes:
        return b"".join((_JSON_HEAD, type_.encode(), _JSON_MID, obj, b"}\n"))

    def bookmark(self, resource_version: str, initial_events_end: bool = False) -> bytes:
        # ObjectMeta in Go's field order: resourceVersion, creationTimestamp (null), annotations.
        meta = b'{"resourceVersion":' + orjson.dumps(resource_version)
        meta += b',"creationTimestamp":null'
        if initial_events_end:
            meta += b',"annotations":' + orjson.dumps({INITIAL_EVENTS_END: "true"})
        obj = b"{" + self._type_meta + b',"metadata":' + meta + b"}}"
        return self.event(BOOKMARK, obj)

    def error(self, status: Mapping[str, Any]) -> bytes:
        return encode_error_event(status, JSON)

    def split(self, raw_frame: bytes) -> tuple[str, bytes]:
        if not (raw_frame.startswith(_JSON_HEAD) and raw_frame.endswith(b"}\n")):
            raise CodecError("JSON watch line is not in Go's {type,object} form")
        # The type is at most "MODIFIED"/"BOOKMARK" (8 bytes): look no further than that.
        mid = raw_frame.find(_JSON_MID, len(_JSON_HEAD), len(_JSON_HEAD) + 8 + len(_JSON_MID))
        if mid < 0:
            raise CodecError("JSON watch line is not in Go's {type,object} form")
        type_ = raw_frame[len(_JSON_HEAD) : mid].decode("ascii", "replace")
        if type_ not in EVENT_TYPES:
            raise CodecError(f"unknown watch event type {type_[:64]!r}")
        return type_, raw_frame[mid + len(_JSON_MID) : -2]


class ProtoFramer:
    """``application/vnd.kubernetes.protobuf`` watch frames of one kind."""

    content_type = PROTOBUF

    def __init__(self, api_version: str, kind: str) -> None:
        self._api_version = api_version
        self._kind = kind

    def event(self, type_: str, obj: bytes) -> bytes:
        return frame(watch_event_message(type_, obj))

    def bookmark(self, resource_version: str, initial_events_end: bool = False) -> bytes:
        # ObjectMeta 6: resourceVersion, 12: annotations (map entry 1: key, 2: value); every
        # kind the proxy filters has its ObjectMeta as field 1.
        meta = field_str(6, resource_version)
        if initial_events_end:
            meta += field_bytes(12, field_str(1, INITIAL_EVENTS_END) + field_str(2, "true"))
        obj = wrap_unknown(self._api_version, self._kind, field_bytes(1, meta))
        return self.event(BOOKMARK, obj)

    def error(self, status: Mapping[str, Any]) -> bytes:
        return encode_error_event(status, PROTOBUF)

    def split(self, raw_frame: bytes) -> tuple[str, bytes]:
        # Straight-line: 0x0A type, 0x12 RawExtension{0x0A raw} filling the rest of the frame.
        # Passing these checks with the minimal total length means ``event`` rebuilds exactly
        # these bytes (Go's field order, minimal varints, nothing else); ~3x cheaper than a
        # general field walk, which matters once per upstream event.
        n = len(raw_frame)
        if n < 5 or int.from_bytes(raw_frame[:4], "big") != n - 4 or raw_frame[4] != 0x0A:
            raise CodecError("not a protobuf WatchEvent frame in canonical form")
        tlen, p = read_varint(raw_frame, 5, n)
        type_ = text(raw_frame, p, min(p + tlen, n))
        p += tlen
        if p + 1 >= n or raw_frame[p] != 0x12:
            raise CodecError("protobuf WatchEvent without its object after the type")
        olen, p = read_varint(raw_frame, p + 1, n)
        if p + olen != n or p >= n or raw_frame[p] != 0x0A:
            raise CodecError("protobuf WatchEvent object is not one RawExtension.raw")
        rlen, p = read_varint(raw_frame, p + 1, n)
        if p + rlen != n or 4 + _ld_len(tlen) + _ld_len(_ld_len(rlen)) != n:
            raise CodecError("protobuf WatchEvent not in canonical form")
        if type_ not in EVENT_TYPES:
            raise CodecError(f"unknown watch event type {type_[:64]!r}")
        return type_, raw_frame[p:]


def _ld_len(n: int) -> int:
    """Bytes of a length-delimited field with a one-byte tag and an ``n``-byte payload."""
    return 1 + len(encode_varint(n)) + n


def framer_for(content_type: str, api_version: str, kind: str) -> Framer:
    """The framer for a key's content type."""
    if is_protobuf(content_type):
        return ProtoFramer(api_version, kind)
    return JsonFramer(api_version, kind)
