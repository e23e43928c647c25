"""Re-typing a watch frame keeps the object bytes (JSON fast path, JSON fallback, protobuf)."""

from __future__ import annotations

import orjson
import pytest
from _coalesce_helpers import pb_field, pb_fields, pb_frame, pod

from discofilter.coalesce.retype import retype, retype_json, retype_protobuf
from discofilter.errors import CodecError


def test_json_fast_path_changes_only_the_type_bytes() -> None:
    obj_bytes = orjson.dumps(pod("p", 7, v=3))
    raw = b'{"type":"MODIFIED","object":' + obj_bytes + b"}\n"
    out = retype_json(raw, "ADDED")
    assert out == b'{"type":"ADDED","object":' + obj_bytes + b"}\n"
    assert orjson.loads(out)["type"] == "ADDED"


@pytest.mark.parametrize(
    ("raw", "expected_tail"),
    [
        # whitespace after the brace or colon: not the fast path, decoded and re-encoded
        (b'{ "type": "MODIFIED", "object": {"metadata": {"name": "p"}}}\n', b"\n"),
        (b'{"type" : "MODIFIED","object":{"metadata":{"name":"p"}}}', b""),
        # sorted-key writers put "object" first: "type" is not the first key
        (
            b'{"object":{"metadata":{"name":"p","labels":{"type":"x"}}},"type":"MODIFIED"}\r\n',
            b"\r\n",
        ),
        # an escaped string value cannot take the fast path
        (b'{"type":"MODIFIE\\u0044","object":{}}\n', b"\n"),
    ],
)
def test_json_fallback_decodes_and_keeps_content(raw: bytes, expected_tail: bytes) -> None:
    out = retype_json(raw, "ADDED")
    decoded = orjson.loads(out)
    original = orjson.loads(raw)
    assert decoded["type"] == "ADDED"
    assert decoded["object"] == original["object"]
    assert out.endswith(expected_tail)
    if expected_tail == b"":
        assert out.endswith(b"}")


def test_json_fast_path_does_not_touch_a_nested_type() -> None:
    raw = b'{"object":{"type":"MODIFIED"},"type":"MODIFIED"}\n'
    out = retype_json(raw, "ADDED")
    assert orjson.loads(out) == {"object": {"type": "MODIFIED"}, "type": "ADDED"}


@pytest.mark.parametrize(
    "raw", [b"{not json}\n", b'["type","MODIFIED"]\n', b'{"object":{}}\n', b'{"type":1}\n']
)
def test_json_that_is_not_a_watch_event_raises(raw: bytes) -> None:
    with pytest.raises(CodecError):
        retype_json(raw, "ADDED")


def test_protobuf_rewrites_field_1_and_keeps_the_rest_byte_for_byte() -> None:
    inner = b"k8s\x00" + b"\x0a\x02v1\x12\x03Pod" + bytes(range(200))  # envelope + payload
    unknown = pb_field(9, b"future field")
    frame = pb_frame("MODIFIED", inner, extra=unknown)
    out = retype_protobuf(frame, "ADDED")
    fields = pb_fields(out)
    assert fields[0] == (1, b"ADDED")
    assert fields[1] == (2, pb_field(1, inner))
    assert fields[2] == (9, b"future field")
    assert out[4:] == pb_field(1, b"ADDED") + frame[4 + 2 + len("MODIFIED") :]


def test_protobuf_type_after_object_is_rewritten_in_place() -> None:
    body = pb_field(2, pb_field(1, b"obj")) + pb_field(1, b"MODIFIED")
    frame = len(body).to_bytes(4, "big") + body
    out = retype_protobuf(frame, "ADDED")
    assert pb_fields(out) == [(2, pb_field(1, b"obj")), (1, b"ADDED")]


def test_protobuf_without_type_gets_one() -> None:
    out = retype_protobuf(pb_frame(None, b"obj"), "ADDED")
    assert pb_fields(out)[0] == (1, b"ADDED")


def test_protobuf_with_varint_and_fixed_fields_is_walked() -> None:
    body = b"\x18\x96\x01" + b"\x21" + bytes(8) + b"\x2d" + bytes(4) + pb_field(1, b"MODIFIED")
    frame = len(body).to_bytes(4, "big") + body
    out = retype_protobuf(frame, "DELETED")
    assert out[4:] == b"\x18\x96\x01" + b"\x21" + bytes(8) + b"\x2d" + bytes(4) + pb_field(
        1, b"DELETED"
    )


@pytest.mark.parametrize(
    "frame",
    [
        b"\x00\x00",  # shorter than the prefix
        b"\x00\x00\x00\x05\x0a\x08MOD",  # declared length does not match
        b"\x00\x00\x00\x03\x0a\x08M",  # field runs past the end
        b"\x00\x00\x00\x02\x08\x01",  # type field with the wrong wire type
        b"\x00\x00\x00\x01\x0b",  # wire type 3 (groups) is not supported
        b"\x00\x00\x00\x02\x10\xff",  # truncated varint
    ],
)
def test_broken_protobuf_frames_raise(frame: bytes) -> None:
    with pytest.raises(CodecError):
        retype_protobuf(frame, "ADDED")


def test_retype_dispatches_on_the_first_byte() -> None:
    assert orjson.loads(retype(b'{"type":"MODIFIED","object":{}}\n', "ADDED"))["type"] == "ADDED"
    assert orjson.loads(retype(b' {"type":"MODIFIED","object":{}}\n', "ADDED"))["type"] == "ADDED"
    assert pb_fields(retype(pb_frame("MODIFIED", b"o"), "ADDED"))[0] == (1, b"ADDED")
