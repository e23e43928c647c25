"""Protobuf wire-format primitives: varints, field walking and field encoding (pure).

Only what the codec needs to walk Kubernetes messages without materialising them: read a tag,
skip a value, return the byte span of length-delimited fields, and write fields back. Every
read is bounds-checked and raises ``CodecError`` on truncated or malformed input, so hostile
bytes can never raise anything else (the fuzz tests hold this to account).

Wire types: 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32. Groups (3/4) are deprecated
and never produced by Kubernetes; they are rejected.
"""

from __future__ import annotations

from collections.abc import Iterator

from discofilter.errors import CodecError

VARINT = 0
FIXED64 = 1
LEN = 2
FIXED32 = 5

# k8s\0: the magic every Kubernetes protobuf object body starts with (runtime/serializer/protobuf).
K8S_MAGIC = b"k8s\x00"


def read_varint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    """The varint at ``pos`` and the position after it; at most 10 bytes (64 bits)."""
    result = 0
    shift = 0
    while True:
        if pos >= end:
            raise CodecError("truncated protobuf varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise CodecError("protobuf varint longer than 10 bytes")


def iter_fields(buf: bytes, pos: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """Yield ``(field_number, wire_type, start, stop)`` for each field in ``buf[pos:end]``.

    For LEN fields ``[start, stop)`` is the payload; for VARINT fields ``start`` is the decoded
    value and ``stop`` the position after it; for fixed fields it is the value's byte span.
    """
    while pos < end:
        b = buf[pos]
        if b < 0x80:
            key = b
            pos += 1
        else:
            key, pos = read_varint(buf, pos, end)
        fnum = key >> 3
        wt = key & 7
        if fnum == 0:
            raise CodecError("protobuf field number 0")
        if wt == LEN:
            b = buf[pos] if pos < end else 0x80
            if b < 0x80 and pos < end:
                length = b
                pos += 1
            else:
                length, pos = read_varint(buf, pos, end)
            stop = pos + length
            if stop > end:
                raise CodecError("protobuf length-delimited field overruns its message")
            yield fnum, wt, pos, stop
            pos = stop
        elif wt == VARINT:
            value, pos = read_varint(buf, pos, end)
            yield fnum, wt, value, pos
        elif wt == FIXED64:
            if pos + 8 > end:
                raise CodecError("truncated protobuf fixed64")
            yield fnum, wt, pos, pos + 8
            pos += 8
        elif wt == FIXED32:
            if pos + 4 > end:
                raise CodecError("truncated protobuf fixed32")
            yield fnum, wt, pos, pos + 4
            pos += 4
        else:
            raise CodecError(f"unsupported protobuf wire type {wt}")


def text(buf: bytes, start: int, stop: int) -> str:
    """A UTF-8 string field's value."""
    try:
        return buf[start:stop].decode()
    except UnicodeDecodeError as e:
        raise CodecError("protobuf string field is not UTF-8") from e


def encode_varint(value: int) -> bytes:
    """Varint encoding; a negative int64 takes 10 bytes (two's complement)."""
    if value < 0:
        value += 1 << 64
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def field_bytes(fnum: int, payload: bytes) -> bytes:
    """A length-delimited field: tag, length, payload."""
    return encode_varint((fnum << 3) | LEN) + encode_varint(len(payload)) + payload


def field_varint(fnum: int, value: int) -> bytes:
    """A varint field: tag, value."""
    return encode_varint(fnum << 3) + encode_varint(value)


def field_str(fnum: int, value: str) -> bytes:
    return field_bytes(fnum, value.encode())


def frame(message: bytes) -> bytes:
    """A watch-stream frame: 4-byte big-endian length, then the message."""
    return len(message).to_bytes(4, "big") + message
