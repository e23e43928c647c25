"""Framers rebuild the upstream's exact frames; their bookmarks and errors decode as real ones."""

from __future__ import annotations

import orjson
import pytest
from _cache_helpers import FORMATS, decode_frame, framer, pod, to_input, upstream_frame

from discofilter.cache.frames import JsonFramer
from discofilter.codec import JSON, PROTOBUF
from discofilter.errors import CodecError
from discofilter.model import ADDED, BOOKMARK, DELETED, ERROR, MODIFIED
from discofilter.sim.k8sproto import decode_object
from discofilter.status import status_dict


@pytest.mark.parametrize("ctype", FORMATS)
@pytest.mark.parametrize("type_", [ADDED, MODIFIED, DELETED])
def test_split_then_event_is_byte_identical(ctype: str, type_: str) -> None:
    fr = framer(ctype)
    raw = upstream_frame(ctype, type_, pod("ns-a", "p-1", "u-1", 17, gen=3))
    got_type, obj = to_input(fr, raw)
    assert got_type == type_
    assert obj.key == ("ns-a", "p-1") and obj.uid == "u-1" and obj.resource_version == "17"
    assert fr.event(type_, obj.object) == raw
    if ctype == PROTOBUF:
        assert decode_object(obj.object)["metadata"]["name"] == "p-1"
    else:
        assert orjson.loads(obj.object)["metadata"]["name"] == "p-1"


@pytest.mark.parametrize("ctype", FORMATS)
@pytest.mark.parametrize("end", [False, True])
def test_bookmark_decodes_with_rv_and_initial_events_end(ctype: str, end: bool) -> None:
    ev = decode_frame(ctype, framer(ctype).bookmark("123", end))
    assert (ev.type, ev.resource_version, ev.initial_events_end) == (BOOKMARK, "123", end)


@pytest.mark.parametrize("ctype", FORMATS)
def test_error_frame_is_a_410_status(ctype: str) -> None:
    raw = framer(ctype).error(status_dict(410, "too old", "Expired"))
    assert decode_frame(ctype, raw).type == ERROR
    if ctype == JSON:
        assert orjson.loads(raw)["object"]["code"] == 410


def test_json_split_refuses_what_it_cannot_rebuild_exactly() -> None:
    fr = JsonFramer("v1", "Pod")
    for bad in (
        b'{"type": "ADDED", "object": {}}\n',
        b'{"object":{},"type":"ADDED"}\n',
        b'{"type":"NOPE","object":{}}\n',
        b'{"type":"ADDED","object":{}}',
    ):
        with pytest.raises(CodecError):
            fr.split(bad)


def test_proto_split_refuses_a_bad_length_prefix() -> None:
    fr = framer(PROTOBUF)
    raw = upstream_frame(PROTOBUF, ADDED, pod("ns", "p", "u", 1))
    with pytest.raises(CodecError):
        fr.split(raw[:-1])
    with pytest.raises(CodecError):
        fr.split((len(raw)).to_bytes(4, "big") + raw[4:])


def test_proto_split_refuses_non_canonical_and_truncated_frames() -> None:
    fr = framer(PROTOBUF)
    raw = upstream_frame(PROTOBUF, MODIFIED, pod("ns", "p", "u", 1))
    msg = raw[4:]
    # The same event with the fields swapped, or with a trailing unknown field.
    t_end = 2 + msg[1]
    swapped = msg[t_end:] + msg[:t_end]
    for bad_msg in (swapped, msg + b"\x18\x01"):
        with pytest.raises(CodecError):
            fr.split(len(bad_msg).to_bytes(4, "big") + bad_msg)
    for cut in range(5, len(raw), 97):
        part = raw[:cut]
        with pytest.raises(CodecError):
            fr.split((len(part) - 4).to_bytes(4, "big") + part[4:])
