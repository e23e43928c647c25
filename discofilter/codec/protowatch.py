"""Protobuf watch streams: 4-byte big-endian length + ``meta.v1.WatchEvent`` (pure, incremental).

Wire layout (k8s.io/apimachinery, proto2), walked by hand without decoding the object:

    frame        = uint32 big-endian length, WatchEvent bytes
    WatchEvent   = 1: type (string), 2: object (RawExtension)
    RawExtension = 1: raw (bytes) = "k8s\\0" + runtime.Unknown
    Unknown      = 1: typeMeta, 2: raw (the object), 3: contentEncoding, 4: contentType
    object       = 1: metadata (ObjectMeta) for every kind the proxy filters
    ObjectMeta   = 1: name, 3: namespace, 5: uid, 6: resourceVersion, 12: annotations (map)

The outer frame has no "k8s\\0" envelope; only the embedded object does. ``WatchEvent.raw`` is
the whole frame including its length prefix, byte for byte (contract 1).

Why a hand walk and not upb: ``bench/micro_codec.py`` measures both on 6.5 KB-JSON pod events
(see docs/codec.md for the numbers); the walk touches only the few fields on the path to
ObjectMeta and skips spec/status by their length prefix.

Protobuf merge semantics are honoured: a repeated singular field is last-wins, and repeated
occurrences of an embedded message are walked in order (equivalent to merging). For ERROR events
the object is a ``Status`` whose field 1 is a ListMeta, not an ObjectMeta, so its metadata is
not read. An Unknown whose contentType says JSON (never sent by kube-apiserver for built-ins,
but legal) is read with the JSON schema.

Bounded memory (contract 6): the length prefix is checked against ``max_frame_bytes`` before any
payload is buffered.
"""

from __future__ import annotations

from discofilter.codec.base import DEFAULT_MAX_FRAME_BYTES
from discofilter.codec.jsonmeta import JSON_ERRORS, OBJECT_DECODER
from discofilter.codec.wire import K8S_MAGIC, LEN, iter_fields, text
from discofilter.errors import CodecError, FrameTooLarge
from discofilter.model import BOOKMARK, ERROR, EVENT_TYPES, INITIAL_EVENTS_END, WatchEvent

_PREFIX = 4


def unwrap_unknown(buf: bytes, start: int, stop: int) -> tuple[int, int, str]:
    """Given ``k8s\\0`` + Unknown at ``buf[start:stop]``: the object span and its contentType."""
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


def object_meta_spans(buf: bytes, start: int, stop: int) -> list[tuple[int, int]]:
    """The spans of every field-1 (metadata) occurrence of the object at ``buf[start:stop]``."""
    return [(s, e) for fnum, wt, s, e in iter_fields(buf, start, stop) if fnum == 1 and wt == LEN]


def decode_proto_event(frame: bytes) -> WatchEvent:
    """Decode one complete frame (length prefix included) into a ``WatchEvent``."""
    end = len(frame)
    if end < _PREFIX or int.from_bytes(frame[:_PREFIX], "big") != end - _PREFIX:
        raise CodecError("protobuf watch frame length does not match its prefix")
    type_ = ""
    ext_start = ext_stop = -1
    for fnum, wt, s, e in iter_fields(frame, _PREFIX, end):
        if wt != LEN:
            continue
        if fnum == 1:
            type_ = text(frame, s, e)
        elif fnum == 2:
            ext_start, ext_stop = s, e
    if type_ not in EVENT_TYPES:
        raise CodecError(f"unknown watch event type {type_[:64]!r}")
    raw_start = raw_stop = -1
    if ext_start >= 0:
        for fnum, wt, s, e in iter_fields(frame, ext_start, ext_stop):
            if fnum == 1 and wt == LEN:
                raw_start, raw_stop = s, e
    if raw_start < 0:
        raise CodecError(f"{type_} watch event without an object")
    obj_start, obj_stop, content_type = unwrap_unknown(frame, raw_start, raw_stop)
    if type_ == ERROR:
        return WatchEvent(type_, "", "", "", "", frame)
    if content_type and "json" in content_type:
        return _from_json(type_, frame, obj_start, obj_stop)
    ns = name = uid = rv = ""
    initial_end = False
    for ms, me in object_meta_spans(frame, obj_start, obj_stop):
        for fnum, wt, s, e in iter_fields(frame, ms, me):
            if wt != LEN:
                continue
            if fnum == 3:
                ns = text(frame, s, e)
            elif fnum == 1:
                name = text(frame, s, e)
            elif fnum == 5:
                uid = text(frame, s, e)
            elif fnum == 6:
                rv = text(frame, s, e)
            elif fnum == 12 and type_ == BOOKMARK:
                key, value = _map_entry(frame, s, e)
                if key == INITIAL_EVENTS_END:
                    initial_end = value == "true"
    return WatchEvent(type_, ns, name, uid, rv, frame, initial_end)


def _map_entry(buf: bytes, start: int, stop: int) -> tuple[str, str]:
    key = value = ""
    for fnum, wt, s, e in iter_fields(buf, start, stop):
        if wt == LEN and fnum == 1:
            key = text(buf, s, e)
        elif wt == LEN and fnum == 2:
            value = text(buf, s, e)
    return key, value


def _from_json(type_: str, frame: bytes, start: int, stop: int) -> WatchEvent:
    try:
        obj = OBJECT_DECODER.decode(frame[start:stop])
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
        buf = self._buf
        if buf:
            buf += data
            if len(buf) < self._need:
                return out
            data = bytes(buf)
            buf.clear()
        pos = 0
        n = len(data)
        maxlen = self._max
        need = _PREFIX
        while n - pos >= _PREFIX:
            length = int.from_bytes(data[pos : pos + _PREFIX], "big")
            if length > maxlen:
                raise FrameTooLarge(f"protobuf watch frame of {length} bytes exceeds {maxlen}")
            stop = pos + _PREFIX + length
            if stop > n:
                need = _PREFIX + length
                break
            out.append(decode_proto_event(data[pos:stop]))
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
