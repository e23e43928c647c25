"""The guarded scan agrees with msgspec wherever it answers, and answers for Go's typed output."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from codec_samples import json_event, make_pod
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from discofilter.codec.jsonscan import scan_json_event
from discofilter.codec.jsonwatch import decode_json_event, decode_json_event_msgspec
from discofilter.errors import CodecError


def test_go_typed_pod_takes_the_fast_path() -> None:
    line = json_event("MODIFIED", make_pod("mesh-a", "web-1", "77"))
    ev = scan_json_event(line)
    assert ev is not None
    assert ev == decode_json_event_msgspec(line)
    assert decode_json_event(line) == ev


def test_lines_outside_the_grammar_fall_back() -> None:
    pod = make_pod("mesh-a", "web-1", "77")
    sorted_keys = orjson.dumps({"type": "ADDED", "object": pod}, option=orjson.OPT_SORT_KEYS)
    spaced = json.dumps({"type": "ADDED", "object": pod}).encode() + b"\n"
    escaped = json_event("ADDED", {**pod, "metadata": {**pod["metadata"], "name": 'a"b'}})
    cluster = json_event("ADDED", {"kind": "Node", "metadata": {"name": "n", "uid": "u"}})
    bookmark = json_event("BOOKMARK", {"metadata": {"resourceVersion": "1"}})
    table = json_event(
        "ADDED", {"kind": "Table", "metadata": {"name": "n", "namespace": "x", "uid": "u"}}
    )
    for line in (sorted_keys, spaced, escaped, cluster, bookmark, table):
        assert scan_json_event(line) is None, line[:80]
        decode_json_event(line)  # and the full path still answers


_PLAIN = st.text("abc-.0123", max_size=6)
_SPECIAL = st.text(max_size=6) | st.sampled_from(
    ["namespace", '"', "\\", "\u00e9", "\x01", "a,b", '","namespace":"x']
)
_TEXT = st.one_of([_PLAIN] * 12 + [_SPECIAL])  # mostly plain, so the fast path is exercised
_META_KEYS = ["name", "generateName", "namespace", "selfLink", "uid", "resourceVersion"]


@st.composite
def _lines(draw: st.DrawFn) -> bytes:
    meta: dict[str, Any] = {}
    keys = [*_META_KEYS, "generation", "labels"]  # Go's struct order: the fast path's shape
    if draw(st.integers(0, 3)) == 0:
        keys = draw(st.permutations(keys))
    for k in keys[: draw(st.sampled_from([8, 8, 7, 6, 6, 5, 3]))]:
        if k == "labels":
            meta[k] = {"namespace": draw(_TEXT)}
        elif k == "generation":
            meta[k] = draw(st.integers(0, 5))
        else:
            meta[k] = draw(_TEXT)
    obj: dict[str, Any] = {}
    top = ["kind", "apiVersion", "metadata", "spec"]
    if draw(st.integers(0, 3)) == 0:
        top = draw(st.permutations(top))
    for k in top:
        if k == "metadata":
            obj[k] = meta
        elif k == "spec" and draw(st.booleans()):
            obj[k] = {"namespace": draw(_TEXT)}
        elif k in ("kind", "apiVersion") and draw(st.booleans()):
            obj[k] = draw(st.sampled_from(["Pod", "v1", "Table", "meta.k8s.io/v1"]) | _TEXT)
    type_ = draw(st.sampled_from(["ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"]))
    style = draw(st.sampled_from(["orjson", "json", "sorted"]))
    doc = {"type": type_, "object": obj}
    if style == "orjson":
        return orjson.dumps(doc) + b"\n"
    if style == "sorted":
        return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS) + b"\n"
    return json.dumps(doc, separators=(",", ":")).encode() + b"\n"


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(line=_lines())
def test_scan_agrees_with_msgspec(line: bytes) -> None:
    fast = scan_json_event(line)
    try:
        full = decode_json_event_msgspec(line)
    except CodecError:
        full = None
    if fast is not None:
        assert full is not None and fast == full, line
    event("fast path" if fast is not None else "fallback")


_FIXTURES = Path(__file__).resolve().parents[3].parent / "shared" / "fixtures" / "k8s-api-testdata"


@pytest.mark.skipif(not _FIXTURES.is_dir(), reason=f"upstream fixtures not at {_FIXTURES}")
@pytest.mark.parametrize(
    "name",
    ["ConfigMap", "Endpoints", "Pod", "Secret", "Service", "discovery.k8s.io.v1.EndpointSlice"],
)
def test_upstream_json_takes_the_fast_path(name: str) -> None:
    # kube-apiserver's own JSON (Go struct order) is what the fast path is shaped for.
    path = _FIXTURES / (name + ".json" if "." in name else f"core.v1.{name}.json")
    line = b'{"type":"MODIFIED","object":' + orjson.dumps(orjson.loads(path.read_bytes())) + b"}\n"
    fast = scan_json_event(line)
    assert fast is not None
    assert fast == decode_json_event_msgspec(line)
