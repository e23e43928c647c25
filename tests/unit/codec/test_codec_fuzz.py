"""Hostile input: the decoders and list filters raise nothing but CodecError (hypothesis)."""

from __future__ import annotations

from byte_edits import edited
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from discofilter.codec import JsonWatchDecoder, ProtoWatchDecoder, filter_list
from discofilter.errors import CodecError
from discofilter.sim.k8sproto import encode_list, encode_watch_frame

_POD = {
    "kind": "Pod",
    "apiVersion": "v1",
    "metadata": {
        "name": "p",
        "namespace": "mesh-a",
        "uid": "u",
        "resourceVersion": "7",
        "annotations": {"k8s.io/initial-events-end": "true"},
    },
    "spec": {"containers": [{"name": "c", "image": "i"}], "nodeName": "n"},
}
_PB_FRAMES = [encode_watch_frame(t, _POD) for t in ("ADDED", "BOOKMARK", "DELETED")]
_JSON_LINES = [
    # Go's typed order: the guarded-scan fast path
    b'{"type":"MODIFIED","object":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"p",'
    b'"namespace":"mesh-a","uid":"u","resourceVersion":"7","labels":{"a":"b"}}}}\n',
    b'{"type":"ADDED","object":{"metadata":{"namespace":"a","name":"n"}}}\n',
    b'{"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"1","annotations":{}}}}\n',
    b'{"type":"ADDED","object":{"kind":"Table","apiVersion":"meta.k8s.io/v1","rows":[{}]}}\n',
]
_PB_LIST = encode_list(
    {"kind": "PodList", "apiVersion": "v1", "metadata": {"remainingItemCount": 3}, "items": [_POD]}
)
_JSON_LIST = b'{"kind":"PodList","metadata":{"remainingItemCount":1},"items":[{"metadata":{}}]}'
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def _mutated(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    data = b"".join(draw(st.lists(st.sampled_from(seeds), min_size=1, max_size=3)))
    return edited(draw, data, draw(st.integers(0, 6)))


def _drive(dec: JsonWatchDecoder | ProtoWatchDecoder, data: bytes, cut: int) -> None:
    try:
        dec.feed(data[:cut])
        dec.feed(data[cut:])
        dec.flush()
    except CodecError:
        pass


@FUZZ
@given(data=_mutated(_PB_FRAMES), cut=st.integers(0, 2000))
def test_proto_decoder_mutated_frames(data: bytes, cut: int) -> None:
    _drive(ProtoWatchDecoder(max_frame_bytes=4096), data, cut)


@FUZZ
@given(data=_mutated(_JSON_LINES), cut=st.integers(0, 400))
def test_json_decoder_mutated_lines(data: bytes, cut: int) -> None:
    _drive(JsonWatchDecoder(max_frame_bytes=4096), data, cut)


@FUZZ
@given(data=st.binary(max_size=300), cut=st.integers(0, 300))
def test_both_decoders_random_bytes(data: bytes, cut: int) -> None:
    _drive(ProtoWatchDecoder(max_frame_bytes=256), data, cut)
    _drive(JsonWatchDecoder(max_frame_bytes=256), data, cut)


@FUZZ
@given(pb=_mutated([_PB_LIST]), js=_mutated([_JSON_LIST]))
def test_list_filters_mutated_bodies(pb: bytes, js: bytes) -> None:
    for body, ct in ((pb, "application/vnd.kubernetes.protobuf"), (js, "application/json")):
        for prune in (False, True):
            try:
                filter_list(body, ct, lambda ns: ns.startswith("mesh"), prune)
            except CodecError:
                pass
