"""Trace parsing: the recorder's gzip JSON lines and kubectl's concatenated pretty JSON."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from discofilter.errors import CodecError
from discofilter.harness.trace import (
    ConcatenatedJsonDecoder,
    TraceWriter,
    events_from_documents,
    read_trace,
)


def _pod(ns: str, name: str, rv: str = "1") -> dict[str, object]:
    return {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {"namespace": ns, "name": name, "uid": f"u-{name}", "resourceVersion": rv},
        "spec": {"containers": [{"name": "c", "image": "x"}]},
    }


def _kubectl_output(events: list[dict[str, object]]) -> str:
    # kubectl -o json pretty-prints each document with 4-space indents, one after another.
    return "".join(json.dumps(e, indent=4) + "\n" for e in events)


KUBECTL_EVENTS = [
    {"type": "ADDED", "object": _pod("a", "p1")},
    {"type": "MODIFIED", "object": _pod("a", "p1", "2")},
    {"type": "DELETED", "object": _pod("b", "p2", "3")},
]


def test_concatenated_pretty_json_split_at_every_boundary() -> None:
    text = _kubectl_output(KUBECTL_EVENTS)
    for cut in range(len(text) + 1):
        dec = ConcatenatedJsonDecoder()
        docs = dec.feed(text[:cut]) + dec.feed(text[cut:]) + dec.flush()
        assert docs == KUBECTL_EVENTS, cut


def test_concatenated_one_char_at_a_time() -> None:
    text = _kubectl_output(KUBECTL_EVENTS)
    dec = ConcatenatedJsonDecoder()
    docs = []
    for ch in text:
        docs += dec.feed(ch)
    docs += dec.flush()
    assert docs == KUBECTL_EVENTS


def test_documents_without_separators() -> None:
    text = "".join(json.dumps(e) for e in KUBECTL_EVENTS)
    dec = ConcatenatedJsonDecoder()
    assert dec.feed(text) + dec.flush() == KUBECTL_EVENTS


def test_truncated_input_raises_codec_error() -> None:
    dec = ConcatenatedJsonDecoder()
    dec.feed(_kubectl_output(KUBECTL_EVENTS)[:-10])
    with pytest.raises(CodecError):
        dec.flush()


def test_kubectl_file_spaced_evenly_at_rate(tmp_path: Path) -> None:
    p = tmp_path / "watch.json"
    p.write_text(_kubectl_output(KUBECTL_EVENTS))
    evs = list(read_trace(p, rate=10.0))
    assert [e.type for e in evs] == ["ADDED", "MODIFIED", "DELETED"]
    assert [e.kind for e in evs] == ["pods"] * 3
    assert [e.ts for e in evs] == pytest.approx([0.0, 0.1, 0.2])


def test_kubectl_file_gzip_detected_by_magic_not_name(tmp_path: Path) -> None:
    p = tmp_path / "watch.txt"
    p.write_bytes(gzip.compress(_kubectl_output(KUBECTL_EVENTS).encode()))
    assert len(list(read_trace(p))) == 3


def test_bare_objects_without_watch_events_become_added_then_modified() -> None:
    docs = iter([_pod("a", "p1"), _pod("a", "p1", "2"), _pod("a", "p2")])
    assert [e.type for e in events_from_documents(docs)] == ["ADDED", "MODIFIED", "ADDED"]


def test_recorder_format_round_trip(tmp_path: Path) -> None:
    p = tmp_path / "t.jsonl.gz"
    with TraceWriter(p) as w:
        w.write(1700000000.5, "pods", "ADDED", _pod("a", "p1"))
        w.write(1700000001.25, "pods", "DELETED", _pod("a", "p1", "9"))
    assert p.read_bytes()[:2] == b"\x1f\x8b"
    evs = list(read_trace(p))
    assert [(e.ts, e.kind, e.type) for e in evs] == [
        (1700000000.5, "pods", "ADDED"),
        (1700000001.25, "pods", "DELETED"),
    ]
    assert evs[1].object["metadata"]["resourceVersion"] == "9"


def test_object_without_kind_needs_a_default() -> None:
    obj = {"metadata": {"name": "x", "namespace": "a"}}
    with pytest.raises(CodecError):
        list(events_from_documents(iter([{"type": "ADDED", "object": obj}])))
    evs = list(events_from_documents(iter([{"type": "ADDED", "object": obj}]), kind="configmaps"))
    assert evs[0].kind == "configmaps"


def test_non_object_document_is_rejected() -> None:
    with pytest.raises(CodecError):
        list(events_from_documents(iter([[1, 2]])))
