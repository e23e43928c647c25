"""Protobuf watch streams: 4-byte big-endian length + ``meta.v1.WatchEvent`` (pure, incremental).

Wire layout (k8s.io/apimachinery, proto2):

    frame        = uint32 big-endian length, WatchEvent bytes
    WatchEvent   = 1: type (string), 2: object (RawExtension)
    RawExtension = 1: raw (bytes) = "k8s\\0" + runtime.Unknown
    Unknown      = 1: typeMeta, 2: raw (the object), 3: contentEncoding, 4: contentType
    object       = 1: metadata (ObjectMeta) for every kind the proxy filters
    ObjectMeta   = 1: name, 3: namespace, 5: uid, 6: resourceVersion, 12: annotations (map)

The outer frame has no "k8s\\0" envelope; only the embedded object does. ``WatchEvent.raw`` is
the whole frame including its length prefix, byte for byte (contract 1).

The envelope (WatchEvent, RawExtension, the ``k8s\\0`` magic) is read by hand when it is laid
out exactly as Go writes it: type first, the object second and last, one raw field covering the
RawExtension (``go_envelope``: a few byte reads, exact for every frame it accepts, since each
field then occurs once). Any other layout takes the upb path for the whole frame. This saves the
WatchEvent parse and two copies of the object (~1 µs of ~3, docs/performance.md).

Metadata-only extraction uses upb (the C protobuf runtime) with *lite* messages
(``protos/k8s/lite``) that declare only the fields read; spec, status and managedFields stay
opaque unknown bytes; ``UnknownLite`` parses the envelope and the object's metadata in one go.
``bench/micro_codec.py`` on 6.5 KB-JSON pod events: ~2.5-3.5 µs/event this way, ~10-12 µs
for a hand-written Python wire walk that honours protobuf semantics (every field walked, the
last occurrence wins), ~6.5 µs for a walk that stops after ObjectMeta field 6, which is
correct only for Go's field order. upb gives exact merge semantics too.

For ERROR events the object is a ``Status`` whose field 1 is a ListMeta, not an ObjectMeta, so
its metadata is not read. An Unknown whose contentType says JSON (never sent by kube-apiserver
for built-ins, but legal) is read with the JSON schema. proto2 does not validate UTF-8, so upb
hands back ``bytes`` for an invalid string; that is a ``CodecError`` here.

Bounded memory (contract 6): the length prefix is checked against ``max_frame_bytes`` before any
payload is buffered.
"""

from __future__ import annotations

from google.protobuf.message import DecodeError

from discofilter._generated.k8s.apimachinery import meta_v1_pb2, runtime_pb2
from discofilter._generated.k8s.lite import metadata_lite_pb2 as lite
from discofilter.codec.base import DEFAULT_MAX_FRAME_BYTES
from discofilter.codec.jsonmeta import JSON_ERRORS, OBJECT_DECODER
from discofilter.codec.wire import K8S_MAGIC, LEN, iter_fields, text
from discofilter.errors import CodecError, FrameTooLarge
from discofilter.model import BOOKMARK, ERROR, EVENT_TYPES, INITIAL_EVENTS_END, WatchEvent

_PREFIX = 4
_WATCH_EVENT = meta_v1_pb2.WatchEvent.FromString
_UNKNOWN = runtime_pb2.Unknown.FromString
_OBJECT = lite.ObjectLite.FromString
_BOOKMARK_OBJECT = lite.BookmarkLite.FromString
_UNKNOWN_LITE = lite.UnknownLite.FromString
_UNKNOWN_BOOKMARK = lite.UnknownBookmarkLite.FromString
# What upb and the str checks raise on malformed input; all mean "not a valid frame".
_PB_ERRORS = (DecodeError, UnicodeDecodeError, TypeError, ValueError)


def unwrap_unknown(buf: bytes, start: int, stop: int) -> tuple[int, int, str]:
    """Given ``k8s\\0`` + Unknown at ``buf[start:stop]``: the object span and its contentType.

    A wire walk (not upb) because list filtering and pruning splice bytes by position.
    """
    if buf[start : start + 4] != K8S_MAGIC:
        raise CodecError("embedded object lacks the k8s\\0 protobuf magic")
    obj_start = obj_stop = -1
    content_type = ""
    for fnum, wt, s, e in iter_fields(buf, start + 4, stop):
        if wt != LEN:
            continue
        if fnum == 2:
            obj_start, obj_stop = s, e
        elif fnum == 3 and e > s:
            raise CodecError("content-encoded protobuf objects are not supported")
        elif fnum == 4:
            content_type = text(buf, s, e)
    if obj_start < 0:
        raise CodecError("runtime.Unknown without raw object bytes")
    return obj_start, obj_stop, content_type


def object_namespace(obj: bytes) -> str:
    """metadata.namespace of an object's protobuf bytes (no envelope), via the lite message."""
    try:
        return _str(_OBJECT(obj).metadata.namespace, "namespace")
    except _PB_ERRORS as e:
        raise CodecError(f"invalid protobuf object: {e}") from e


def _str(value: object, what: str) -> str:
    if type(value) is not str:
        raise CodecError(f"protobuf {what} is not valid UTF-8")
    return value


def decode_proto_event(frame: bytes) -> WatchEvent:
    """Decode one complete frame (length prefix included) into a ``WatchEvent``."""
    if len(frame) < _PREFIX or int.from_bytes(frame[:_PREFIX], "big") != len(frame) - _PREFIX:
        raise CodecError("protobuf watch frame length does not match its prefix")
    return _decode_frame(frame)


_TYPES = {t.encode(): t for t in EVENT_TYPES}


def _varint3(buf: bytes, p: int) -> tuple[int, int]:
    """The varint at ``p`` if it is 1-3 bytes long (lengths up to 2 MiB), else (-1, p); the
    caller guarantees 3 readable bytes."""
    b = buf[p]
    if b < 0x80:
        return b, p + 1
    c = buf[p + 1]
    if c < 0x80:
        return (b & 0x7F) | c << 7, p + 2
    d = buf[p + 2]
    if d < 0x80:
        return (b & 0x7F) | (c & 0x7F) << 7 | d << 14, p + 3
    return -1, p


def go_envelope(frame: bytes) -> tuple[str, int] | None:
    """(event type, offset of the runtime.Unknown) when ``frame`` (length prefix included) is
    laid out as Go writes it, else None. Exact: accepted only when WatchEvent is field 1 (a
    known type, length < 128) then field 2 reaching the frame's end, and RawExtension is one
    field 1 reaching its end and starting with ``k8s\\0``, so every field occurs once and
    protobuf's merge rules (last one wins, messages merge) have nothing to merge."""
    end = len(frame)
    if end < 16 or frame[4] != 0x0A:
        return None
    p = 6 + frame[5]
    if frame[5] >= 0x80 or end - p < 10 or frame[p] != 0x12:
        return None
    type_ = _TYPES.get(frame[6:p])
    if type_ is None:
        return None
    n, p = _varint3(frame, p + 1)
    if p + n != end or n < 6 or frame[p] != 0x0A:
        return None
    n, p = _varint3(frame, p + 1)
    if p + n != end or n < 4 or frame[p : p + 4] != K8S_MAGIC:
        return None
    return type_, p + 4


def _decode_frame(frame: bytes) -> WatchEvent:
    """``decode_proto_event`` for a frame whose length prefix the caller already checked.

    Go's layout (``go_envelope``): one upb parse of the envelope *and* the object's metadata
    (``UnknownLite`` reads Unknown.raw as an embedded ObjectLite). Anything unusual, including
    every frame that would raise, is decided by ``_decode_frame_upb``, the reference.
    """
    env_at = go_envelope(frame)
    if env_at is None:
        return _decode_frame_upb(frame)
    type_, start = env_at
    if type_ == ERROR:
        return _decode_frame_upb(frame)
    try:
        env = (_UNKNOWN_BOOKMARK if type_ == BOOKMARK else _UNKNOWN_LITE)(frame[start:])
        if env.contentEncoding or env.contentType:
            return _decode_frame_upb(frame)
        m = env.raw.metadata
        ns, name, uid, rv = m.namespace, m.name, m.uid, m.resourceVersion
        # Empty identity: maybe no raw object at all, which the reference path refuses.
        if not (rv or name) and not env.HasField("raw"):
            return _decode_frame_upb(frame)
        # proto2 strings are not UTF-8 checked: upb returns bytes for invalid ones.
        if type(ns) is not str or type(name) is not str or type(uid) is not str:
            return _decode_frame_upb(frame)
        if type(rv) is not str:
            return _decode_frame_upb(frame)
        initial_end = type_ == BOOKMARK and m.annotations.get(INITIAL_EVENTS_END) == "true"
    except _PB_ERRORS:
        return _decode_frame_upb(frame)
    return WatchEvent(type_, ns, name, uid, rv, frame, initial_end)


def _decode_frame_upb(frame: bytes) -> WatchEvent:
    """The reference decode (every layout protobuf allows), and the one that raises.

    Two upb parses (the WatchEvent, then the envelope and the object's metadata in one go) and
    a handful of attribute reads: ~3 µs for a 6.5 KB pod (bench/micro_codec.py). Walking the
    whole envelope by hand down to ObjectMeta and giving upb only those bytes was measured no
    faster (docs/performance.md); ``go_envelope`` reads only the two outer headers.
    """
    try:
        ev = _WATCH_EVENT(frame[_PREFIX:])
        type_ = ev.type
        if type_ not in EVENT_TYPES:
            raise CodecError(f"unknown watch event type {type_[:64]!r}")
        raw = ev.object.raw
        if raw[:4] != K8S_MAGIC:
            if not raw:
                raise CodecError(f"{type_} watch event without an object")
            raise CodecError("embedded object lacks the k8s\\0 protobuf magic")
        if type_ == ERROR:
            return _slow_path(type_, frame, _UNKNOWN(raw[4:]))
        try:
            env = (_UNKNOWN_BOOKMARK if type_ == BOOKMARK else _UNKNOWN_LITE)(raw[4:])
        except DecodeError:
            env = None  # e.g. a JSON object (contentType says so): the slow path decides
        if env is None or env.contentEncoding or env.contentType or not env.HasField("raw"):
            return _slow_path(type_, frame, _UNKNOWN(raw[4:]))
        m = env.raw.metadata
        ns, name, uid, rv = m.namespace, m.name, m.uid, m.resourceVersion
        # proto2 strings are not UTF-8 checked: upb returns bytes for invalid ones.
        if type(ns) is not str or type(name) is not str or type(uid) is not str:
            raise CodecError("protobuf ObjectMeta string is not valid UTF-8")
        initial_end = type_ == BOOKMARK and m.annotations.get(INITIAL_EVENTS_END) == "true"
        return WatchEvent(type_, ns, name, uid, _str(rv, "resourceVersion"), frame, initial_end)
    except _PB_ERRORS as e:
        raise CodecError(f"invalid protobuf watch event: {e}") from e


def _slow_path(type_: str, frame: bytes, unknown: runtime_pb2.Unknown) -> WatchEvent:
    """Unusual envelopes: empty object, content encoding, or an explicit content type."""
    if unknown.contentEncoding:
        raise CodecError("content-encoded protobuf objects are not supported")
    if not unknown.HasField("raw"):
        raise CodecError("runtime.Unknown without raw object bytes")
    if type_ == ERROR:
        return WatchEvent(type_, "", "", "", "", frame)
    content_type = _str(unknown.contentType, "content type")
    if "json" in content_type:
        return _from_json(type_, frame, unknown.raw)
    if type_ == BOOKMARK:
        m = _BOOKMARK_OBJECT(unknown.raw).metadata
        initial_end = m.annotations.get(INITIAL_EVENTS_END) == "true"
    else:
        m = _OBJECT(unknown.raw).metadata
        initial_end = False
    return WatchEvent(
        type_,
        _str(m.namespace, "namespace"),
        _str(m.name, "name"),
        _str(m.uid, "uid"),
        _str(m.resourceVersion, "resourceVersion"),
        frame,
        initial_end,
    )


def _from_json(type_: str, frame: bytes, obj_bytes: bytes) -> WatchEvent:
    try:
        obj = OBJECT_DECODER.decode(obj_bytes)
    except JSON_ERRORS as e:
        raise CodecError(f"invalid JSON object in protobuf watch event: {e}") from e
    m = obj.metadata
    if m is None:
        return WatchEvent(type_, "", "", "", "", frame)
    return WatchEvent(
        type_, m.namespace or "", m.name or "", m.uid or "", m.resourceVersion or "", frame
    )


class ProtoWatchDecoder:
    """Incremental decoder for ``application/vnd.kubernetes.protobuf;stream=watch``."""

    __slots__ = ("_buf", "_max", "_need")

    def __init__(self, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> None:
        if max_frame_bytes <= 0:
            raise ValueError("max_frame_bytes must be positive")
        self._max = max_frame_bytes
        # Invariant: _buf holds the start of exactly one incomplete frame (< _need bytes), at
        # most 4 + _max bytes; _need is 4 until the prefix is known, then 4 + length. Appending
        # until _need is reached keeps a large frame arriving in small chunks O(n), not O(n^2).
        self._buf = bytearray()
        self._need = _PREFIX

    def feed(self, data: bytes) -> list[WatchEvent]:
        out: list[WatchEvent] = []
        if not data:
            return out
        pos = 0
        n = len(data)
        maxlen = self._max
        buf = self._buf
        if buf:
            # Complete the pending frame from the head of ``data`` and copy only those bytes:
            # appending the whole chunk and copying it back out (the earlier way) cost two
            # memcpys of every 64-256 KiB read: 0.2-0.7 us per 4.3 KB pod event
            # (bench/micro_proxy.py, docs/performance.md).
            while True:
                take = min(self._need - len(buf), n - pos)
                buf += data[pos : pos + take]
                pos += take
                if len(buf) < self._need:
                    return out
                if self._need == _PREFIX:
                    length = int.from_bytes(buf, "big")
                    if length > maxlen:
                        raise FrameTooLarge(
                            f"protobuf watch frame of {length} bytes exceeds {maxlen}"
                        )
                    self._need = _PREFIX + length
                    if length:
                        continue
                frame = bytes(buf)
                buf.clear()
                self._need = _PREFIX
                out.append(_decode_frame(frame))
                break
        need = _PREFIX
        while n - pos >= _PREFIX:
            length = int.from_bytes(data[pos : pos + _PREFIX], "big")
            if length > maxlen:
                raise FrameTooLarge(f"protobuf watch frame of {length} bytes exceeds {maxlen}")
            stop = pos + _PREFIX + length
            if stop > n:
                need = _PREFIX + length
                break
            out.append(_decode_frame(data[pos:stop]))
            pos = stop
        if pos < n:
            buf += data[pos:]
            self._need = need
        else:
            self._need = _PREFIX
        return out

    def flush(self) -> list[WatchEvent]:
        n = len(self._buf)
        self._buf.clear()
        self._need = _PREFIX
        if n:
            raise CodecError(f"protobuf watch stream ended inside a frame ({n} bytes pending)")
        return []
