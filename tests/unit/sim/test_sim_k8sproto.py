"""JSON ⇄ protobuf conversion of our Kubernetes subset, and the emulator's protobuf Encoding."""

from __future__ import annotations

import base64

import pytest

from discofilter.codec import ProtoWatchDecoder
from discofilter.errors import CodecError
from discofilter.sim.k8sproto import (
    decode_message,
    decode_object,
    encode_object,
    format_time,
    parse_time,
    supports,
)
from discofilter.sim.protobuf_encoding import PROTOBUF_ENCODING
from tests.unit.codec.codec_samples import make_pod


def test_pod_round_trip_keeps_subset_fields() -> None:
    pod = make_pod("mesh-a", "web-1", "42")
    pod["spec"]["unknownField"] = {"dropped": True}
    back = decode_object(encode_object(pod))
    assert back["metadata"]["name"] == "web-1"
    assert back["metadata"]["labels"] == pod["metadata"]["labels"]
    assert back["metadata"]["managedFields"] == pod["metadata"]["managedFields"]
    assert back["spec"]["containers"][0]["resources"] == pod["spec"]["containers"][0]["resources"]
    assert back["status"]["podIPs"] == [{"ip": "10.244.17.33"}]
    assert back["status"]["startTime"] == "2024-05-01T10:00:00Z"
    assert "unknownField" not in back["spec"]


def test_protobuf_is_smaller_than_json() -> None:
    import orjson

    pod = make_pod("mesh-a", "web-1")
    assert len(encode_object(pod)) < 0.75 * len(orjson.dumps(pod))


@pytest.mark.parametrize(
    ("text", "seconds", "nanos"),
    [
        ("1970-01-01T00:00:00Z", 0, 0),
        ("2024-05-01T10:00:00Z", 1714557600, 0),
        ("2024-05-01T12:00:00+02:00", 1714557600, 0),
        ("2024-05-01T10:00:00.123456Z", 1714557600, 123456000),
        ("2024-05-01T10:00:00.123456789Z", 1714557600, 123456789),
        ("1969-12-31T23:59:59Z", -1, 0),
    ],
)
def test_time_parse(text: str, seconds: int, nanos: int) -> None:
    assert parse_time(text) == (seconds, nanos)


def test_time_format() -> None:
    assert format_time(1714557600, 5) == "2024-05-01T10:00:00Z"
    assert format_time(1714557600, 123456789, micro=True) == "2024-05-01T10:00:00.123456Z"


@pytest.mark.parametrize("bad", ["yesterday", "2024-13-01T00:00:00Z", "2024-05-01 10:00:00Z"])
def test_bad_time_raises(bad: str) -> None:
    with pytest.raises(CodecError):
        parse_time(bad)


def test_int_or_string_and_quantity() -> None:
    svc = {
        "kind": "Service",
        "apiVersion": "v1",
        "metadata": {"name": "s", "namespace": "n"},
        "spec": {
            "ports": [
                {"name": "a", "port": 80, "targetPort": 8080},
                {"name": "b", "port": 81, "targetPort": "http"},
            ]
        },
    }
    back = decode_object(encode_object(svc))
    assert [p["targetPort"] for p in back["spec"]["ports"]] == [8080, "http"]
    _, _, msg = decode_message(encode_object(svc))
    assert msg.spec.ports[0].targetPort.type == 0
    assert msg.spec.ports[1].targetPort.type == 1
    node = {"kind": "Node", "apiVersion": "v1", "metadata": {"name": "n"}}
    node["status"] = {"capacity": {"cpu": "4", "memory": "16Gi", "pods": 110}}
    assert decode_object(encode_object(node))["status"]["capacity"] == {
        "cpu": "4",
        "memory": "16Gi",
        "pods": "110",
    }


def test_secret_bytes_are_base64_in_json() -> None:
    data = base64.b64encode(b"\x00\xffsecret").decode()
    secret = {"kind": "Secret", "apiVersion": "v1", "metadata": {"name": "s"}, "data": {"k": data}}
    _, _, msg = decode_message(encode_object(secret))
    assert msg.data["k"] == b"\x00\xffsecret"
    assert decode_object(encode_object(secret))["data"] == {"k": data}


@pytest.mark.parametrize(
    "obj",
    [
        {"kind": "Pod"},
        {"kind": "Widget", "apiVersion": "example.com/v1"},
        {"kind": "Pod", "apiVersion": "v1", "metadata": {"name": 7}},
        {"kind": "Pod", "apiVersion": "v1", "metadata": {"labels": ["x"]}},
        {"kind": "Pod", "apiVersion": "v1", "metadata": {"creationTimestamp": 5}},
        {"kind": "Secret", "apiVersion": "v1", "data": {"k": "not base64!"}},
        {"kind": "Pod", "apiVersion": "v1", "spec": {"hostNetwork": "yes"}},
    ],
)
def test_unencodable_objects_raise_codec_error(obj: dict[str, object]) -> None:
    with pytest.raises(CodecError):
        encode_object(obj)


def test_supported_kinds() -> None:
    for kind in ("Pod", "Service", "Endpoints", "Namespace", "Node", "ConfigMap", "Secret"):
        assert supports("v1", kind) and supports("v1", kind + "List")
    assert supports("discovery.k8s.io/v1", "EndpointSlice")
    assert not supports("networking.istio.io/v1", "VirtualService")


def test_emulator_encoding_serves_decodable_frames() -> None:
    enc = PROTOBUF_ENCODING
    assert enc.content_type == "application/vnd.kubernetes.protobuf"
    assert enc.watch_content_type.endswith(";stream=watch")
    pod = make_pod("mesh-a", "p", "9")
    ev = ProtoWatchDecoder().feed(enc.watch_event("MODIFIED", pod))[0]
    assert (ev.type, ev.namespace, ev.name, ev.resource_version) == ("MODIFIED", "mesh-a", "p", "9")
    assert decode_object(enc.object(pod))["metadata"]["name"] == "p"
    lst = {"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "9"}}
    assert decode_object(enc.list({**lst, "items": [pod]}))["items"][0]["metadata"]["uid"]


def test_lite_messages_match_object_meta() -> None:
    from discofilter._generated.k8s.apimachinery import meta_v1_pb2
    from discofilter._generated.k8s.lite import metadata_lite_pb2 as lite

    full = {f.name: f for f in meta_v1_pb2.ObjectMeta.DESCRIPTOR.fields}
    for msg in (lite.ObjectMetaLite, lite.ObjectMetaWithAnnotations):
        for f in msg.DESCRIPTOR.fields:
            u = full[f.name]
            assert (f.number, f.type, f.is_repeated) == (u.number, u.type, u.is_repeated), f.name
    for msg in (lite.ObjectLite, lite.BookmarkLite):
        assert msg.DESCRIPTOR.fields_by_name["metadata"].number == 1
    # UnknownLite reads runtime.Unknown: same numbers; raw (bytes upstream) as a message, which
    # has the same wire type (length-delimited).
    from discofilter._generated.k8s.apimachinery import runtime_pb2

    up = {f.name: f.number for f in runtime_pb2.Unknown.DESCRIPTOR.fields}
    for msg in (lite.UnknownLite, lite.UnknownBookmarkLite):
        assert {f.name: f.number for f in msg.DESCRIPTOR.fields}.items() <= up.items()
