"""JsonWatchDecoder: framing at every split, exact raw bytes, metadata, hostile input."""

from __future__ import annotations

import orjson
import pytest
from codec_samples import bookmark, json_event, make_pod, table_event

from discofilter.codec import JsonWatchDecoder, decode_json_event, decoder_for
from discofilter.errors import CodecError, FrameTooLarge
from discofilter.model import WatchEvent
from discofilter.status import error_event_line


def _stream() -> tuple[bytes, list[bytes]]:
    frames = [
        json_event("ADDED", make_pod("mesh-a", "web-5d8f7c9b6d-abcde", "101")),
        json_event("MODIFIED", make_pod("batch-1", "job-7f9c-xyz12", "102")),
        b"\n",  # blank line: ignored
        json_event("DELETED", make_pod("mesh-a", "web-5d8f7c9b6d-abcde", "103")),
        json_event("BOOKMARK", bookmark("104", initial_end=True)),
        error_event_line(410, "too old resource version: 1 (104)"),
        table_event("ADDED", "mesh-b", "api-0", "105", columns=True),
    ]
    return b"".join(frames), [f for f in frames if f.strip()]


def _decode_all(chunks: list[bytes]) -> list[WatchEvent]:
    dec = JsonWatchDecoder()
    out: list[WatchEvent] = []
    for c in chunks:
        out.extend(dec.feed(c))
    out.extend(dec.flush())
    return out


def test_metadata_of_each_event() -> None:
    data, frames = _stream()
    events = _decode_all([data])
    assert [e.raw for e in events] == frames
    assert [(e.type, e.namespace, e.name, e.resource_version) for e in events] == [
        ("ADDED", "mesh-a", "web-5d8f7c9b6d-abcde", "101"),
        ("MODIFIED", "batch-1", "job-7f9c-xyz12", "102"),
        ("DELETED", "mesh-a", "web-5d8f7c9b6d-abcde", "103"),
        ("BOOKMARK", "", "", "104"),
        ("ERROR", "", "", ""),
        ("ADDED", "mesh-b", "api-0", "105"),
    ]
    assert events[0].uid == "uid-mesh-a-web-5d8f7c9b6d-abcde"
    assert [e.initial_events_end for e in events] == [False, False, False, True, False, False]


def test_every_split_point_gives_the_same_events() -> None:
    data, frames = _stream()
    want = _decode_all([data])
    for i in range(len(data) + 1):
        got = _decode_all([data[:i], data[i:]])
        assert got == want, f"split at {i}"
    assert [e.raw for e in want] == frames


def test_byte_at_a_time_and_three_way_splits() -> None:
    data, _ = _stream()
    want = _decode_all([data])
    assert _decode_all([data[i : i + 1] for i in range(len(data))]) == want
    step = 997
    for i in range(0, len(data), step):
        for j in range(i, len(data), step):
            assert _decode_all([data[:i], data[i:j], data[j:]]) == want


def test_bookmark_without_initial_end_annotation() -> None:
    ev = decode_json_event(json_event("BOOKMARK", bookmark("7")))
    assert (ev.type, ev.resource_version, ev.initial_events_end) == ("BOOKMARK", "7", False)
    obj = bookmark("8")
    obj["metadata"]["annotations"] = {"k8s.io/initial-events-end": "false"}
    assert not decode_json_event(json_event("BOOKMARK", obj)).initial_events_end


# Inputs on which a naive search for '"namespace":' gives the wrong answer (DESIGN).
TRICKY = [
    # sorted-key custom resource: a label named "namespace" comes before metadata.namespace
    (
        b'{"object":{"apiVersion":"x.io/v1","kind":"Foo","metadata":{"labels":{"namespace":"evil"},'
        b'"name":"f","namespace":"good"}},"type":"ADDED"}\n',
        "good",
    ),
    # cluster-scoped object with a nested namespace in spec
    (
        b'{"type":"ADDED","object":{"kind":"ClusterRoleBinding","metadata":{"name":"crb"},'
        b'"subjects":[{"kind":"ServiceAccount","name":"sa","namespace":"evil"}]}}\n',
        "",
    ),
    # whitespace after colons and an escaped character in the value
    (
        b'{ "type" : "ADDED" , "object" : { "metadata" : { "namespace" :  "m\\u0065sh" } } }\n',
        "mesh",
    ),
    # spec before metadata
    (
        b'{"type":"ADDED","object":{"spec":{"namespace":"evil"},"metadata":{"namespace":"ok"}}}\n',
        "ok",
    ),
    # metadata.namespace null
    (b'{"type":"ADDED","object":{"metadata":{"namespace":null,"name":"n"}}}\n', ""),
]


@pytest.mark.parametrize(("line", "namespace"), TRICKY)
def test_namespace_is_the_objects_own(line: bytes, namespace: str) -> None:
    assert decode_json_event(line).namespace == namespace


@pytest.mark.parametrize(
    "line",
    [
        b"{not json}\n",
        b'{"type":"ADDED","object":{"metadata":{"namespace":"a"}}\n',  # truncated object
        b'{"type":"RENAMED","object":{}}\n',
        b'{"object":{}}\n',
        b'{"type":"ADDED"}\n',
        b'{"type":"ADDED","object":{"metadata":{"namespace":7}}}\n',
        b'{"type":"ADDED","object":[]}\n',
        b'"ADDED"\n',
        b'{"type":"BOOKMARK","object":{"metadata":{"annotations":{"a":1}}}}\n',
        b'{"type":"ADDED","object":{"kind":"Table","apiVersion":"meta.k8s.io/v1","rows":7}}\n',
        b"\xff\xfe\n",
    ],
)
def test_malformed_lines_raise_codec_error(line: bytes) -> None:
    with pytest.raises(CodecError):
        JsonWatchDecoder().feed(line)


def test_truncated_stream_flush_raises() -> None:
    data, _ = _stream()
    dec = JsonWatchDecoder()
    dec.feed(data[:-5])
    with pytest.raises(CodecError, match="ended inside an event"):
        dec.flush()


def test_flush_ignores_trailing_whitespace() -> None:
    dec = JsonWatchDecoder()
    assert dec.feed(b"  \r") == []
    assert dec.flush() == []


def test_line_over_limit_in_one_chunk() -> None:
    line = json_event("ADDED", make_pod("a", "p"))
    dec = JsonWatchDecoder(max_frame_bytes=len(line) - 2)
    with pytest.raises(FrameTooLarge):
        dec.feed(line)
    # exactly at the limit (newline excluded) is fine
    assert len(JsonWatchDecoder(max_frame_bytes=len(line) - 1).feed(line)) == 1


def test_line_over_limit_without_newline_is_refused_before_buffering_it() -> None:
    limit = 10_000
    dec = JsonWatchDecoder(max_frame_bytes=limit)
    chunk = b'{"type":"ADDED","object":{"metadata":{"name":"' + b"x" * 1000
    dec.feed(chunk)
    with pytest.raises(FrameTooLarge):
        for _ in range(20):  # 20 KB without a newline: refused once past 10 KB
            dec.feed(b"x" * 1000)
    assert len(dec._buf) <= limit


def test_decoder_for_picks_json() -> None:
    assert isinstance(decoder_for("application/json;stream=watch"), JsonWatchDecoder)
    assert isinstance(decoder_for("Application/JSON; charset=utf-8"), JsonWatchDecoder)
    with pytest.raises(CodecError):
        decoder_for("application/yaml")


def test_raw_is_exact_even_with_go_escapes_and_crlf() -> None:
    line = b'{"type":"ADDED","object":{"metadata":{"namespace":"a","name":"\\u003cb\\u003e"}}}\r\n'
    ev = JsonWatchDecoder().feed(line)[0]
    assert ev.raw == line
    assert ev.name == "<b>"
    assert orjson.loads(ev.raw)["object"]["metadata"]["namespace"] == "a"
