"""The protobuf decoder's Go-layout envelope path gives exactly what the upb path gives.

``_decode_frame`` reads the WatchEvent and RawExtension headers by hand when they are laid out
as Go writes them (each field once, each length reaching its parent's end) and leaves every
other frame to ``_decode_frame_upb``, the reference. Differential tests: the same event, or a
CodecError from both, for real frames, hand-built unusual layouts, and mutated frames.
"""

from __future__ import annotations

import pytest
from byte_edits import edited
from codec_samples import bookmark, make_pod
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from discofilter.codec import encode_error_event
from discofilter.codec.mediatype import PROTOBUF
from discofilter.codec.protostatus import watch_event_message
from discofilter.codec.protowatch import _decode_frame, _decode_frame_upb, go_envelope
from discofilter.codec.wire import field_bytes, field_str, frame
from discofilter.errors import CodecError
from discofilter.model import WatchEvent
from discofilter.sim.k8sproto import encode_object, encode_watch_frame
from discofilter.status import status_dict

_POD = make_pod("ns-a", "web-1", "17")
_SEEDS = [
    *(encode_watch_frame(t, _POD) for t in ("ADDED", "MODIFIED", "DELETED")),
    encode_watch_frame("BOOKMARK", bookmark("99", initial_end=True)),
    encode_watch_frame("BOOKMARK", bookmark("98")),
    encode_error_event(status_dict(410, "too old", "Expired"), PROTOBUF),
]


def _outcome(f: bytes) -> WatchEvent | str:
    try:
        return _decode_frame_upb(f)
    except CodecError:
        return "CodecError"


def _fast(f: bytes) -> WatchEvent | str:
    try:
        return _decode_frame(f)
    except CodecError:
        return "CodecError"


@pytest.mark.parametrize("f", _SEEDS, ids=range(len(_SEEDS)))
def test_real_frames_take_the_envelope_path_and_agree(f: bytes) -> None:
    env = go_envelope(f)
    assert env is not None
    assert f[env[1] - 4 : env[1]] == b"k8s\x00"
    assert _fast(f) == _outcome(f)
    assert isinstance(_fast(f), WatchEvent)


def _raw(obj: bytes) -> bytes:
    return b"k8s\x00" + field_bytes(2, obj)


_META = field_str(1, "n") + field_str(3, "ns") + field_str(5, "u") + field_str(6, "5")
_OBJ = field_bytes(1, _META)
_UNUSUAL = {
    # object before type: valid protobuf, not Go's order
    "object first": field_bytes(2, field_bytes(1, _raw(_OBJ))) + field_str(1, "ADDED"),
    # a second type field: the last one wins
    "type twice": field_str(1, "ADDED")
    + field_bytes(2, field_bytes(1, _raw(_OBJ)))
    + field_str(1, "DELETED"),
    # two RawExtension fields merge; raw (bytes) is replaced by the last
    "object twice": field_str(1, "ADDED")
    + field_bytes(2, field_bytes(1, _raw(field_bytes(1, field_str(3, "x")))))
    + field_bytes(2, field_bytes(1, _raw(_OBJ))),
    "raw twice": field_str(1, "ADDED")
    + field_bytes(2, field_bytes(1, _raw(b"")) + field_bytes(1, _raw(_OBJ))),
    "unknown field in WatchEvent": field_str(1, "MODIFIED")
    + field_bytes(2, field_bytes(1, _raw(_OBJ)))
    + field_str(9, "z"),
    "unknown field in RawExtension": field_str(1, "ADDED")
    + field_bytes(2, field_bytes(1, _raw(_OBJ)) + field_str(7, "z")),
    "no magic": field_str(1, "ADDED") + field_bytes(2, field_bytes(1, field_bytes(2, _OBJ))),
    "unknown type": field_str(1, "ADDEDX") + field_bytes(2, field_bytes(1, _raw(_OBJ))),
    "empty object": field_str(1, "ADDED") + field_bytes(2, b""),
    "json content type": field_str(1, "ADDED")
    + field_bytes(
        2,
        field_bytes(
            1,
            b"k8s\x00"
            + field_bytes(2, b'{"metadata":{"name":"j","namespace":"q"}}')
            + field_str(4, "application/json"),
        ),
    ),
    "content encoding": field_str(1, "ADDED")
    + field_bytes(2, field_bytes(1, _raw(_OBJ) + field_str(3, "gzip"))),
    "no raw in Unknown": field_str(1, "ADDED")
    + field_bytes(2, field_bytes(1, b"k8s\x00" + field_str(4, ""))),
    "metadata twice": field_str(1, "ADDED")
    + field_bytes(2, field_bytes(1, _raw(_OBJ + field_bytes(1, field_str(3, "later"))))),
    "invalid utf-8 name": field_str(1, "ADDED")
    + field_bytes(2, field_bytes(1, _raw(field_bytes(1, field_bytes(1, b"\xff\xfe"))))),
    "long type varint": b"\x0a\x85\x00ADDED" + field_bytes(2, field_bytes(1, _raw(_OBJ))),
    "go layout": field_str(1, "ADDED") + field_bytes(2, field_bytes(1, _raw(_OBJ))),
    "pod object": watch_event_message("MODIFIED", b"k8s\x00" + encode_object(_POD)[4:]),
}


@pytest.mark.parametrize("name", list(_UNUSUAL))
def test_unusual_layouts_agree_with_upb(name: str) -> None:
    f = frame(_UNUSUAL[name])
    assert _fast(f) == _outcome(f)


def test_only_gos_exact_layout_takes_the_envelope_path() -> None:
    assert go_envelope(frame(_UNUSUAL["go layout"])) is not None
    for name in ("object first", "type twice", "object twice", "raw twice", "no magic"):
        assert go_envelope(frame(_UNUSUAL[name])) is None, name
    for name in ("unknown field in WatchEvent", "unknown field in RawExtension", "empty object"):
        assert go_envelope(frame(_UNUSUAL[name])) is None, name


@st.composite
def _mutated(draw: st.DrawFn) -> bytes:
    data = draw(st.sampled_from(_SEEDS))[4:]
    # A correct length prefix: the body is what varies.
    return frame(edited(draw, data, draw(st.integers(1, 4))))


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(f=_mutated())
def test_mutated_frames_agree_with_upb(f: bytes) -> None:
    assert _fast(f) == _outcome(f)


@settings(max_examples=300, deadline=None)
@given(
    prefix=st.binary(max_size=12),
    type_=st.sampled_from(["ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR", "X", ""]),
)
def test_short_and_random_headers_agree_with_upb(prefix: bytes, type_: str) -> None:
    for body in (prefix, field_str(1, type_) + prefix, field_str(1, type_) + b"\x12" + prefix):
        f = frame(body)
        assert _fast(f) == _outcome(f)
