"""Re-typing a watch frame: deliver a MODIFIED's bytes as an ADDED (pure).

When the client never saw an object's ADDED and the object changed before delivery, the
coalescer sends ONE event: type ADDED, newest object. Contract 1 wants the object's bytes as the
upstream sent them, so only the event type is rewritten:

* JSON (``{"type":"MODIFIED","object":{...}}\\n``): kube-apiserver writes ``type`` first. Fast
  path: the line starts with exactly ``{"type":"<old>",``. That test is a grammar check, not a
  guess: the first ``{`` opens the top-level object, so ``"type"`` is its first key, and the value
  is a plain string without escapes. Only those bytes are replaced; the object bytes are
  untouched. Anything else (whitespace, ``type`` after ``object``) is decoded with orjson, checked
  to be an object with a string ``type``, re-typed and re-encoded (same content, orjson's spacing).
* Protobuf (4-byte big-endian length + a raw ``metav1.WatchEvent``): field 1 is ``type``
  (string), field 2 the ``RawExtension`` object. The top-level fields are walked, field 1 is
  replaced in place, every other field is kept byte for byte, and the length prefix is rewritten.
"""

from __future__ import annotations

from typing import Any

import orjson

from discofilter.errors import CodecError

_FRAME_HEADER = 4


def retype(raw: bytes, new_type: str) -> bytes:
    """``raw`` (a JSON watch line or a protobuf watch frame) with its event type set to
    ``new_type``. Raises ``CodecError`` when the bytes are neither."""
    if raw[:1] == b"{" or raw[:1].isspace():
        # A protobuf frame starting with '{' or whitespace would declare >= 150 MB: impossible
        # (etcd's request limit is 1.5 MiB), so the first byte tells the encodings apart.
        return retype_json(raw, new_type)
    return retype_protobuf(raw, new_type)


def retype_json(raw: bytes, new_type: str) -> bytes:
    """Rewrite the top-level ``"type"`` of one JSON watch line (newline kept as it was)."""
    new_value = new_type.encode()
    if raw.startswith(b'{"type":"'):
        end = raw.find(b'"', 9)
        if end > 9 and raw[end + 1 : end + 2] == b"," and b"\\" not in raw[9:end]:
            return b'{"type":"' + new_value + raw[end:]
    return _retype_json_slow(raw, new_type)


def _retype_json_slow(raw: bytes, new_type: str) -> bytes:
    try:
        obj: Any = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise CodecError(f"watch line is not JSON: {e}") from e
    if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
        raise CodecError("watch line is not an object with a string 'type'")
    obj["type"] = new_type
    tail = raw[len(raw.rstrip(b"\r\n")) :]
    return orjson.dumps(obj) + tail


# --- protobuf wire walk --------------------------------------------------------------------


def _read_varint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    value = 0
    shift = 0
    while pos < end and shift < 64:
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7
    raise CodecError("truncated or overlong varint in protobuf watch frame")


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _skip_field(buf: bytes, pos: int, end: int, wire_type: int) -> int:
    if wire_type == 0:
        return _read_varint(buf, pos, end)[1]
    if wire_type == 1:
        pos += 8
    elif wire_type == 2:
        length, pos = _read_varint(buf, pos, end)
        pos += length
    elif wire_type == 5:
        pos += 4
    else:
        raise CodecError(f"unsupported protobuf wire type {wire_type} in watch frame")
    if pos > end:
        raise CodecError("protobuf field runs past the end of the watch frame")
    return pos


def retype_protobuf(raw: bytes, new_type: str) -> bytes:
    """Rewrite field 1 (type) of a length-prefixed protobuf ``WatchEvent`` frame."""
    if len(raw) < _FRAME_HEADER:
        raise CodecError("protobuf watch frame shorter than its 4-byte length prefix")
    length = int.from_bytes(raw[:_FRAME_HEADER], "big")
    end = _FRAME_HEADER + length
    if end != len(raw):
        raise CodecError(f"protobuf watch frame declares {length} bytes, carries {len(raw) - 4}")
    encoded = new_type.encode()
    new_field = b"\x0a" + _varint(len(encoded)) + encoded  # field 1, wire type 2
    pos = _FRAME_HEADER
    while pos < end:
        start = pos
        tag, pos = _read_varint(raw, pos, end)
        field_no, wire_type = tag >> 3, tag & 7
        pos = _skip_field(raw, pos, end, wire_type)
        if field_no == 1:
            if wire_type != 2:
                raise CodecError("protobuf WatchEvent.type is not a length-delimited string")
            body = raw[_FRAME_HEADER:start] + new_field + raw[pos:end]
            return len(body).to_bytes(_FRAME_HEADER, "big") + body
    # No type field (proto3 default ""): add one at the front; field order is free in protobuf.
    body = new_field + raw[_FRAME_HEADER:end]
    return len(body).to_bytes(_FRAME_HEADER, "big") + body
