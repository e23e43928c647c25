"""Fuzz the codecs differentially (hypothesis): what they decide equals a full parse.

tests/unit/codec/test_codec_fuzz.py proves mutated input raises nothing but ``CodecError``;
these prove the *answers* are right on legal but hostile input: namespaces and names that look
like JSON, labels named "namespace", cluster-scoped items, any split of the byte stream.
"""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from discofilter.codec import JsonWatchDecoder, ProtoWatchDecoder, filter_list
from discofilter.sim.k8sproto import encode_list, encode_watch_frame
from tests.unit.fuzz.settings import FUZZ

NAMESPACES = ["mesh-a", "batch", "", "namespace", 'a"b', "x\\y", "\u00e9t\u00e9", '","n":"']
ENROLLED = frozenset({"mesh-a", "namespace", "\u00e9t\u00e9"})
text = st.sampled_from(NAMESPACES) | st.text(max_size=8)


@st.composite
def pods(draw: st.DrawFn) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": draw(text), "uid": draw(text),
                            "resourceVersion": str(draw(st.integers(1, 10**9)))}  # fmt: skip
    ns = draw(st.sampled_from(NAMESPACES))
    if ns:
        meta["namespace"] = ns
    if draw(st.booleans()):
        meta["labels"] = {"namespace": draw(text), draw(text): draw(text)}
    if draw(st.booleans()):
        meta["annotations"] = {"metadata.namespace": draw(text)}
    spec = {"nodeName": draw(text), "containers": [{"name": "c", "image": "i"}]}
    return {"kind": "Pod", "apiVersion": "v1", "metadata": meta, "spec": spec}


def _ns(obj: dict[str, Any]) -> str:
    return str(obj["metadata"].get("namespace", ""))


def _keep(ns: str) -> bool:
    return ns in ENROLLED


@FUZZ
@given(items=st.lists(pods(), max_size=6), sort_keys=st.booleans())
def test_json_list_keeps_exactly_the_enrolled_items(
    items: list[dict[str, Any]], sort_keys: bool
) -> None:
    opt = orjson.OPT_SORT_KEYS if sort_keys else 0
    body = orjson.dumps({"kind": "PodList", "apiVersion": "v1",
                         "metadata": {"resourceVersion": "5", "remainingItemCount": 3},
                         "items": items}, option=opt)  # fmt: skip
    out = orjson.loads(filter_list(body, "application/json", _keep))
    assert out["items"] == [i for i in items if _keep(_ns(i))]
    assert "remainingItemCount" not in out["metadata"]


@FUZZ
@given(items=st.lists(pods(), max_size=6))
def test_protobuf_list_keeps_exactly_the_enrolled_items(items: list[dict[str, Any]]) -> None:
    body = encode_list({"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": items})
    expect = encode_list({"kind": "PodList", "apiVersion": "v1", "metadata": {},
                          "items": [i for i in items if _keep(_ns(i))]})  # fmt: skip
    assert filter_list(body, "application/vnd.kubernetes.protobuf", _keep) == expect


@FUZZ
@given(
    events=st.lists(st.tuples(st.sampled_from(["ADDED", "MODIFIED", "DELETED"]), pods()),
                    min_size=1, max_size=5),
    cuts=st.lists(st.integers(0, 5000), max_size=6),
    proto=st.booleans(),
)  # fmt: skip
def test_watch_decoders_agree_with_a_full_parse_at_any_split(
    events: list[tuple[str, dict[str, Any]]], cuts: list[int], proto: bool
) -> None:
    if proto:
        frames = [encode_watch_frame(t, o) for t, o in events]
        dec: JsonWatchDecoder | ProtoWatchDecoder = ProtoWatchDecoder()
    else:
        frames = [orjson.dumps({"type": t, "object": o}) + b"\n" for t, o in events]
        dec = JsonWatchDecoder()
    data = b"".join(frames)
    got = []
    prev = 0
    for cut in sorted({min(c, len(data)) for c in cuts} | {len(data)}):
        got += dec.feed(data[prev:cut])
        prev = cut
    got += dec.flush()
    assert [(e.type, e.namespace, e.name, e.raw) for e in got] == [
        (t, _ns(o), o["metadata"]["name"], f) for (t, o), f in zip(events, frames, strict=True)
    ]
