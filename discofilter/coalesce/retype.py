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

from discofilter.codec.wire import LEN, field_str, iter_fields
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


def retype_protobuf(raw: bytes, new_type: str) -> bytes:
    """Rewrite field 1 (type) of a length-prefixed protobuf ``WatchEvent`` frame."""
    if len(raw) < _FRAME_HEADER:
        raise CodecError("protobuf watch frame shorter than its 4-byte length prefix")
    length = int.from_bytes(raw[:_FRAME_HEADER], "big")
    end = _FRAME_HEADER + length
    if end != len(raw):
        raise CodecError(f"protobuf watch frame declares {length} bytes, carries {len(raw) - 4}")
    new_field = field_str(1, new_type)
    field_start = _FRAME_HEADER
    for field_no, wire_type, _start, stop in iter_fields(raw, _FRAME_HEADER, end):
        if field_no == 1:
            if wire_type != LEN:
                raise CodecError("protobuf WatchEvent.type is not a length-delimited string")
            body = raw[_FRAME_HEADER:field_start] + new_field + raw[stop:end]
            return len(body).to_bytes(_FRAME_HEADER, "big") + body
        field_start = stop
    # No type field (proto3 default ""): add one at the front; field order is free in protobuf.
    body = new_field + raw[_FRAME_HEADER:end]
    return len(body).to_bytes(_FRAME_HEADER, "big") + body
