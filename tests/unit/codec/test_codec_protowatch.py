"""ProtoWatchDecoder: framing at every split, exact raw bytes, metadata, malformed frames."""

from __future__ import annotations

import pytest
from codec_samples import bookmark, make_pod

from discofilter.codec import ProtoWatchDecoder, decoder_for, encode_error_event
from discofilter.codec.protostatus import watch_event_message
from discofilter.codec.wire import field_bytes, field_str, frame
from discofilter.errors import CodecError, FrameTooLarge
from discofilter.model import WatchEvent
from discofilter.sim.k8sproto import encode_object, encode_watch_frame
from discofilter.status import status_dict

PB_WATCH = "application/vnd.kubernetes.protobuf;stream=watch"


def _frames() -> list[bytes]:
    return [
        encode_watch_frame("ADDED", make_pod("mesh-a", "web-1", "101")),
        encode_watch_frame("MODIFIED", make_pod("batch-1", "job-1", "102")),
        encode_watch_frame("DELETED", make_pod("mesh-a", "web-1", "103")),
        encode_watch_frame("BOOKMARK", bookmark("104", initial_end=True)),
        encode_error_event(status_dict(410, "too old"), PB_WATCH),
    ]


def _decode_all(chunks: list[bytes], max_frame: int = 1 << 20) -> list[WatchEvent]:
    dec = ProtoWatchDecoder(max_frame)
    out: list[WatchEvent] = []
    for c in chunks:
        out.extend(dec.feed(c))
    out.extend(dec.flush())
    return out


def test_metadata_of_each_event() -> None:
    frames = _frames()
    events = _decode_all([b"".join(frames)])
    assert [e.raw for e in events] == frames
    assert [(e.type, e.namespace, e.name, e.uid, e.resource_version) for e in events] == [
        ("ADDED", "mesh-a", "web-1", "uid-mesh-a-web-1", "101"),
        ("MODIFIED", "batch-1", "job-1", "uid-batch-1-job-1", "102"),
        ("DELETED", "mesh-a", "web-1", "uid-mesh-a-web-1", "103"),
        ("BOOKMARK", "", "", "", "104"),
        ("ERROR", "", "", "", ""),
    ]
    assert [e.initial_events_end for e in events] == [False, False, False, True, False]


def test_every_split_point_gives_the_same_events() -> None:
    data = b"".join(_frames())
    want = _decode_all([data])
    for i in range(len(data) + 1):
        assert _decode_all([data[:i], data[i:]]) == want, f"split at {i}"


def test_byte_at_a_time_and_three_way_splits() -> None:
    data = b"".join(_frames())
    want = _decode_all([data])
    assert _decode_all([data[i : i + 1] for i in range(len(data))]) == want
    step = 701
    for i in range(0, len(data), step):
        for j in range(i, len(data), step):
            assert _decode_all([data[:i], data[i:j], data[j:]]) == want


def test_bookmark_without_initial_end() -> None:
    ev = _decode_all([encode_watch_frame("BOOKMARK", bookmark("9"))])[0]
    assert (ev.resource_version, ev.initial_events_end) == ("9", False)


def test_status_metadata_is_not_read_as_object_meta() -> None:
    # Status field 1 is a ListMeta whose field 3 is `continue`, not a namespace.
    status = status_dict(410, "gone")
    status["metadata"] = {"continue": "looks-like-a-namespace", "resourceVersion": "5"}
    ev = ProtoWatchDecoder().feed(encode_error_event(status, PB_WATCH))[0]
    assert (ev.type, ev.namespace) == ("ERROR", "")


def _event(type_: bytes, raw_object: bytes) -> bytes:
    return frame(field_bytes(1, type_) + field_bytes(2, field_bytes(1, raw_object)))


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (_event(b"ADDED", b"XXXX" + b"\x12\x00"), "magic"),  # wrong magic
        (_event(b"RENAMED", encode_object(make_pod("a", "b"))), "unknown watch event type"),
        (frame(field_str(1, "ADDED")), "without an object"),
        (frame(b""), "unknown watch event type"),  # zero-length frame
        (frame(b"\x0a\x10ADDED"), "corrupt"),  # string length past the end
        (frame(b"\x0a\x05ADDED\x12\x05\x0a\x03k8s"), "magic"),  # short magic
        (frame(b"\x0b"), "corrupt"),  # group start
        (frame(b"\x0a\x02\xff\xfe"), "unknown watch event type"),  # not UTF-8
        (_event(b"ADDED", b"k8s\x00" + field_bytes(2, b"\x0a\x03\x1a\x01\xff")), "UTF-8"),
        (frame(b"\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"), "corrupt"),
        (_event(b"ADDED", b"k8s\x00" + field_bytes(1, b"")), "raw object"),
        (_event(b"ADDED", b"k8s\x00" + field_bytes(2, b"\x0a\x05\x1a\x01")), "corrupt"),
        (_event(b"ADDED", b"k8s\x00" + field_bytes(2, b"") + field_str(3, "gzip")), "encoded"),
    ],
)
def test_malformed_frames_raise_codec_error(data: bytes, match: str) -> None:
    with pytest.raises(CodecError, match=match):
        ProtoWatchDecoder().feed(data)


def test_truncated_stream_flush_raises() -> None:
    data = b"".join(_frames())
    for cut in (1, 3, 4, 5, len(data) - 1):
        dec = ProtoWatchDecoder()
        dec.feed(data[:cut])
        with pytest.raises(CodecError, match="ended inside a frame"):
            dec.flush()


def test_oversized_length_prefix_is_refused_before_buffering() -> None:
    dec = ProtoWatchDecoder(max_frame_bytes=1000)
    with pytest.raises(FrameTooLarge):
        dec.feed((1001).to_bytes(4, "big") + b"\x00" * 10)
    dec = ProtoWatchDecoder(max_frame_bytes=1000)
    dec.feed(b"\xff\xff")  # prefix arrives split: 0xffff.... = 4 GiB
    with pytest.raises(FrameTooLarge):
        dec.feed(b"\xff\xff")


def test_frame_exactly_at_limit_is_accepted() -> None:
    f = _frames()[0]
    assert len(ProtoWatchDecoder(max_frame_bytes=len(f) - 4).feed(f)) == 1
    with pytest.raises(FrameTooLarge):
        ProtoWatchDecoder(max_frame_bytes=len(f) - 5).feed(f)


def test_large_frame_in_small_chunks_buffers_linearly() -> None:
    big = make_pod("mesh-a", "big")
    big["metadata"]["annotations"]["blob"] = "x" * 2_000_000
    f = encode_watch_frame("ADDED", big)
    dec = ProtoWatchDecoder()
    out: list[WatchEvent] = []
    for i in range(0, len(f), 4096):
        out.extend(dec.feed(f[i : i + 4096]))
    assert [e.raw for e in out] == [f]


def test_json_object_inside_protobuf_envelope() -> None:
    raw = b"k8s\x00" + field_bytes(2, b'{"metadata":{"namespace":"ns","name":"n"}}')
    raw += field_str(4, "application/json")
    ev = ProtoWatchDecoder().feed(_event(b"ADDED", raw))[0]
    assert (ev.namespace, ev.name) == ("ns", "n")


def test_decoder_for_picks_protobuf() -> None:
    assert isinstance(decoder_for(PB_WATCH), ProtoWatchDecoder)
    assert isinstance(decoder_for("application/vnd.kubernetes.protobuf"), ProtoWatchDecoder)


def test_merge_semantics_last_namespace_wins() -> None:
    meta1 = field_str(3, "first") + field_str(1, "n")
    meta2 = field_str(3, "second")
    obj = field_bytes(1, meta1) + field_bytes(1, meta2)
    raw = b"k8s\x00" + field_bytes(2, obj)
    msg = watch_event_message("ADDED", raw)
    ev = ProtoWatchDecoder().feed(frame(msg))[0]
    assert (ev.namespace, ev.name) == ("second", "n")
