"""LIST bodies <-> watch-form objects (codec/listitems.py), the shared cache's two edges.

What "watch form" is checked against, since no recorded LIST or watch stream of a real
kube-apiserver is available here (the shared fixtures are kubernetes/api's single objects):

* protobuf: each ``.pb`` fixture is what kube-apiserver's protobuf serializer writes for one
  object (``k8s\\0`` + Unknown{typeMeta, raw, "", ""}); its watch encoder embeds each event's
  object with that same serializer, so the fixture *is* the object of a WatchEvent. A list
  item is the same object's bare message, which is the fixture's ``raw`` (Go marshals a
  ``PodList``'s items with the same generated marshaller). The emulator's upb encoder
  (``sim.k8sproto``) is a second, independent writer of both forms.
* JSON: each ``.json`` fixture, compacted, is the object as a watch event carries it (TypeMeta
  first: ``{"kind":..,"apiVersion":..,"metadata":..``); in a list Go leaves the item's empty
  TypeMeta out, so the list item is the same bytes without that prefix.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from codec_samples import make_pod
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kubernetes.client import ApiClient

from discofilter._generated.k8s.api import core_v1_pb2
from discofilter._generated.k8s.apimachinery import runtime_pb2
from discofilter.cache import CachedObject
from discofilter.cache.frames import JsonFramer, ProtoFramer
from discofilter.codec import decode_json_event, decode_proto_event, filter_list_versioned
from discofilter.codec.listitems import ItemMeta, ListContents, build_list, split_list
from discofilter.codec.protostatus import encode_list_meta, wrap_unknown
from discofilter.codec.protowatch import unwrap_unknown
from discofilter.codec.wire import field_bytes, field_str
from discofilter.errors import CodecError
from discofilter.sim.k8sproto import encode_list, encode_object

JSON = "application/json"
PB = "application/vnd.kubernetes.protobuf"


def _find_fixtures() -> Path | None:
    # The fixtures sit beside the main checkout (/work/shared); a worktree is deeper, so look
    # up every ancestor rather than at one fixed depth.
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "shared" / "fixtures" / "k8s-api-testdata"
        if candidate.is_dir():
            return candidate
    return None


FIXTURES = _find_fixtures()
needs_fixtures = pytest.mark.skipif(FIXTURES is None, reason="kubernetes/api fixtures not found")
# (fixture name, item apiVersion, item kind): every fixture kind a LIST is served for.
FIXTURE_KINDS = [
    ("core.v1.Pod", "v1", "Pod"),
    ("core.v1.Service", "v1", "Service"),
    ("core.v1.Endpoints", "v1", "Endpoints"),
    ("core.v1.ConfigMap", "v1", "ConfigMap"),
    ("core.v1.Secret", "v1", "Secret"),
    ("core.v1.Namespace", "v1", "Namespace"),
    ("core.v1.Node", "v1", "Node"),
    ("discovery.k8s.io.v1.EndpointSlice", "discovery.k8s.io/v1", "EndpointSlice"),
]


def _fixture_json(name: str) -> bytes:
    """The fixture object compacted, as Go's encoder writes it in a watch event."""
    assert FIXTURES is not None
    return orjson.dumps(orjson.loads((FIXTURES / f"{name}.json").read_bytes()))


def _fixture_pb(name: str) -> bytes:
    assert FIXTURES is not None
    return (FIXTURES / f"{name}.pb").read_bytes()


def _bare(enveloped: bytes) -> bytes:
    s, e, _ = unwrap_unknown(enveloped, 0, len(enveloped))
    return enveloped[s:e]


def _type_meta_prefix(api_version: str, kind: str) -> bytes:
    return b'{"kind":' + orjson.dumps(kind) + b',"apiVersion":' + orjson.dumps(api_version) + b","


def _json_list_body(items: list[bytes], rv: str, token: str = "") -> bytes:
    """A JSON list body as kube-apiserver writes one (Go's order, no whitespace)."""
    meta: dict[str, str] = {"resourceVersion": rv}
    if token:
        meta["continue"] = token
    head = b'{"kind":"PodList","apiVersion":"v1","metadata":' + orjson.dumps(meta)
    return head + b',"items":[' + b",".join(items) + b"]}"


def _proto_list_body(items: list[bytes], rv: str, token: str = "", kind: str = "PodList") -> bytes:
    """A protobuf list body laid out as Go's marshaller writes it (field by field)."""
    raw = field_bytes(1, encode_list_meta({"resourceVersion": rv, "continue": token}))
    raw += b"".join(field_bytes(2, item) for item in items)
    return wrap_unknown("v1", kind, raw)


def _identity(obj: dict[str, Any]) -> tuple[str, str, str, str]:
    m = obj["metadata"]
    return (m.get("namespace", ""), m["name"], m.get("uid", ""), m.get("resourceVersion", ""))


# --- real fixtures ------------------------------------------------------------------------


@needs_fixtures
@pytest.mark.parametrize(("name", "api_version", "kind"), FIXTURE_KINDS)
def test_json_fixture_list_items_become_the_watch_event_bytes(
    name: str, api_version: str, kind: str
) -> None:
    watch_form = _fixture_json(name)
    prefix = _type_meta_prefix(api_version, kind)
    assert watch_form.startswith(prefix)  # Go writes TypeMeta first
    list_item = b"{" + watch_form[len(prefix) :]  # what a typed LIST carries
    body = _json_list_body([list_item, list_item], "4711", "tok")
    out = split_list(body, JSON, api_version, kind)
    assert (out.resource_version, out.continue_token) == ("4711", "tok")
    ident = _identity(orjson.loads(watch_form))
    assert out.items == [ItemMeta(*ident, watch_form)] * 2
    # The converted object makes a watch line the decoder reads with the same identity.
    line = JsonFramer(api_version, kind).event("ADDED", out.items[0].object)
    ev = decode_json_event(line)
    assert (ev.namespace, ev.name, ev.uid, ev.resource_version) == ident


@needs_fixtures
@pytest.mark.parametrize(("name", "api_version", "kind"), FIXTURE_KINDS)
def test_proto_fixture_list_items_become_the_watch_event_bytes(
    name: str, api_version: str, kind: str
) -> None:
    watch_form = _fixture_pb(name)
    body = _proto_list_body([_bare(watch_form)] * 2, "4711", "tok", kind=kind + "List")
    out = split_list(body, PB, api_version, kind)
    assert (out.resource_version, out.continue_token) == ("4711", "tok")
    ident = _identity(orjson.loads(_fixture_json(name)))
    assert out.items == [ItemMeta(*ident, watch_form)] * 2  # byte for byte
    frame = ProtoFramer(api_version, kind).event("MODIFIED", out.items[0].object)
    ev = decode_proto_event(frame)
    assert (ev.namespace, ev.name, ev.uid, ev.resource_version) == ident


@needs_fixtures
def test_fixture_pod_lists_build_back_to_lists_every_reader_accepts() -> None:
    pod_json, pod_pb = _fixture_json("core.v1.Pod"), _fixture_pb("core.v1.Pod")
    json_body = build_list([pod_json, pod_json], "99", "next", JSON, "v1", "PodList")
    pb_body = build_list([pod_pb, pod_pb], "99", "next", PB, "v1", "PodList")
    # Go's own layout, so rebuilding a list kube-apiserver sent gives its bytes back.
    assert pb_body == _proto_list_body([_bare(pod_pb)] * 2, "99", "next")
    for body, ctype, watch_form in ((json_body, JSON, pod_json), (pb_body, PB, pod_pb)):
        assert filter_list_versioned(body, ctype, lambda ns: True) == (body, "99")
        again = split_list(body, ctype, "v1", "Pod")
        assert [i.object for i in again.items] == [watch_form, watch_form]
    pods = ApiClient().deserialize(json_body.decode(), "V1PodList", JSON)
    assert (pods.metadata.resource_version, pods.metadata._continue) == ("99", "next")
    assert [p.metadata.name for p in pods.items] == ["nameValue", "nameValue"]
    assert (
        pods.items[0].spec.containers[0].name
        == orjson.loads(pod_json)["spec"]["containers"][0]["name"]
    )


@needs_fixtures
def test_proto_pod_list_decodes_with_the_generated_messages() -> None:
    pod_pb = _fixture_pb("core.v1.Pod")
    body = build_list([pod_pb], "7", None, PB, "v1", "PodList")
    assert body[:4] == b"k8s\x00"
    unknown = runtime_pb2.Unknown.FromString(body[4:])
    assert (unknown.typeMeta.apiVersion, unknown.typeMeta.kind) == ("v1", "PodList")
    pods = core_v1_pb2.PodList.FromString(unknown.raw)
    assert (pods.metadata.resourceVersion, getattr(pods.metadata, "continue")) == ("7", "")
    expected = core_v1_pb2.Pod.FromString(_bare(pod_pb))
    assert list(pods.items) == [expected]
    assert pods.items[0].metadata.name == "nameValue"


@needs_fixtures
def test_single_object_fixture_is_not_a_list() -> None:
    with pytest.raises(CodecError, match="not a list"):
        split_list(_fixture_pb("core.v1.Pod"), PB, "v1", "Pod")
    with pytest.raises(CodecError, match="not a list"):
        split_list(_fixture_json("core.v1.Pod"), JSON, "v1", "Pod")


# --- the emulator's independent encoder and realistic pods -----------------------------------


def _pods(n: int) -> list[dict[str, Any]]:
    return [make_pod(f"ns-{i % 3}", f"app-{i}", rv=str(100 + i)) for i in range(n)]


def test_proto_list_from_the_emulator_matches_its_watch_objects() -> None:
    pods = _pods(4)
    body = encode_list(
        {"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "9"}, "items": pods}
    )
    out = split_list(body, PB, "v1", "Pod")
    assert out.resource_version == "9" and out.continue_token == ""
    assert [i.object for i in out.items] == [encode_object(p) for p in pods]
    assert [i[:4] for i in out.items] == [_identity(p) for p in pods]


def test_items_become_cached_objects() -> None:
    assert ItemMeta._fields == CachedObject._fields
    pod = orjson.dumps(make_pod("mesh", "web-1", rv="42", uid="u-1"))
    out = split_list(_json_list_body([pod], "50"), JSON, "v1", "Pod")
    cached = CachedObject(*out.items[0])
    assert cached.key == ("mesh", "web-1")
    assert (cached.uid, cached.resource_version, cached.object) == ("u-1", "42", pod)


def test_json_items_that_carry_type_meta_keep_their_bytes() -> None:
    # Custom resources (unstructured) are written with sorted keys: apiVersion first.
    crd = b'{"apiVersion":"networking.istio.io/v1","kind":"VirtualService","metadata":{"name":"vs"'
    crd += b',"namespace":"mesh","resourceVersion":"3","uid":"u"},"spec":{"hosts":["a"]}}'
    spaced = b'{ "kind" : "Pod" , "apiVersion":"v1", "metadata": {"name": "p"} }'
    body = b'{"apiVersion":"v1","items":[' + crd + b"," + spaced + b'],"kind":"List","metadata":{}}'
    out = split_list(body, JSON, "networking.istio.io/v1", "VirtualService")
    assert [i.object for i in out.items] == [crd, spaced]
    assert out.items[0][:4] == ("mesh", "vs", "u", "3")
    assert (out.resource_version, out.continue_token) == ("", "")


def test_json_item_with_half_a_type_meta_gets_only_the_missing_key() -> None:
    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in pairs]
        assert len(keys) == len(set(keys)), keys
        return dict(pairs)

    only_version = b'{"apiVersion":"v1","metadata":{"name":"a"}}'
    only_kind = b'{"kind":"Pod","metadata":{"name":"b"}}'
    out = split_list(_json_list_body([only_version, only_kind], "1"), JSON, "v1", "Pod")
    for item in out.items:
        obj = json.loads(item.object, object_pairs_hook=no_duplicates)
        assert (obj["kind"], obj["apiVersion"]) == ("Pod", "v1")


def test_json_whitespace_and_null_members_are_read_as_json() -> None:
    body = b' {"metadata" : {"resourceVersion":"8","continue":null} ,\n "items" : [\n'
    body += b' {"metadata":{"name":"p","namespace":null,"uid":"u"}} ] } \n'
    out = split_list(body, JSON, "v1", "Pod")
    assert out == ListContents("8", "", [ItemMeta("", "p", "u", "", out.items[0].object)])
    assert orjson.loads(out.items[0].object) == {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {"name": "p", "namespace": None, "uid": "u"},
    }


def test_empty_and_null_items() -> None:
    for items in (b"[]", b"null"):
        body = b'{"kind":"PodList","metadata":{"resourceVersion":"5"},"items":' + items + b"}"
        assert split_list(body, JSON, "v1", "Pod") == ListContents("5", "", [])
    assert split_list(_proto_list_body([], "5"), PB, "v1", "Pod") == ListContents("5", "", [])


def test_build_json_list_shape() -> None:
    assert build_list([], "12", None, JSON, "v1", "PodList") == (
        b'{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"12"},"items":[]}'
    )
    body = build_list([b'{"kind":"Pod"}', b"{}"], "12", "c2", "application/json", "v1", "PodList")
    assert body == (
        b'{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"12",'
        b'"continue":"c2"},"items":[{"kind":"Pod"},{}]}'
    )


def test_build_proto_list_is_field_by_field_go() -> None:
    obj = wrap_unknown("v1", "Pod", field_bytes(1, field_str(1, "p")))
    body = build_list([obj], "3", "", PB, "v1", "PodList")
    list_meta = field_str(1, "") + field_str(2, "3") + field_str(3, "")
    raw = field_bytes(1, list_meta) + field_bytes(2, field_bytes(1, field_str(1, "p")))
    type_meta = field_str(1, "v1") + field_str(2, "PodList")
    assert (
        body == b"k8s\x00" + field_bytes(1, type_meta) + field_bytes(2, raw) + b"\x1a\x00\x22\x00"
    )


def test_kubernetes_client_reads_a_built_json_list() -> None:
    pods = _pods(3)
    objs = [orjson.dumps(p) for p in pods]
    body = build_list(objs, "77", "more", JSON, "v1", "PodList")
    got = ApiClient().deserialize(body.decode(), "V1PodList", JSON)
    assert got.metadata.resource_version == "77" and got.metadata._continue == "more"
    assert [(p.metadata.namespace, p.metadata.name, p.metadata.uid) for p in got.items] == [
        _identity(p)[:3] for p in pods
    ]


# --- round trip (property) ----------------------------------------------------------------

_text = st.text(max_size=12)
_objects = st.lists(
    st.tuples(
        _text, st.text(min_size=1, max_size=12), _text, st.from_regex(r"[0-9]{0,6}", fullmatch=True)
    ),
    max_size=6,
)


def _json_object(ns: str, name: str, uid: str, rv: str) -> bytes:
    meta = {"name": name, "namespace": ns, "uid": uid, "resourceVersion": rv}
    return orjson.dumps({"kind": "Pod", "apiVersion": "v1", "metadata": meta, "spec": {}})


def _proto_object(ns: str, name: str, uid: str, rv: str) -> bytes:
    meta = field_str(1, name) + field_str(3, ns) + field_str(5, uid) + field_str(6, rv)
    return wrap_unknown("v1", "Pod", field_bytes(1, meta) + field_bytes(2, b""))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    objects=_objects,
    rv=st.from_regex(r"[0-9]{1,8}", fullmatch=True),
    token=st.none() | _text,
    proto=st.booleans(),
)
def test_round_trip(
    objects: list[tuple[str, str, str, str]], rv: str, token: str | None, proto: bool
) -> None:
    make, ctype = (_proto_object, PB) if proto else (_json_object, JSON)
    objs = [make(*o) for o in objects]
    body = build_list(objs, rv, token, ctype, "v1", "PodList")
    expected = [ItemMeta(*o, obj) for o, obj in zip(objects, objs, strict=True)]
    assert split_list(body, ctype, "v1", "Pod") == ListContents(rv, token or "", expected)
    assert filter_list_versioned(body, ctype, lambda ns: True) == (body, rv)


# --- malformed input ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "invalid JSON"),
        (b"not json", "invalid JSON"),
        (b'{"items":[', "invalid JSON"),
        (b"[]", "not a list"),
        (b'"PodList"', "not a list"),
        (b'{"kind":"Status","apiVersion":"v1","status":"Failure","code":410}', "not a list"),
        (b'{"items":{}}', "not a list"),
        (b'{"items":[1]}', "item 0 is not an object"),
        (b'{"items":[{"metadata":{"name":"a"}}, []]}', "item 1 is not an object"),
        (b'{"items":[{"kind":"Pod"}]}', "item 0 has no metadata.name"),
        (b'{"items":[{"metadata":{"name":"a"}},{"metadata":{}}]}', "item 1 has no metadata.name"),
        (b'{"items":[{"metadata":{"name":""}}]}', "no metadata.name"),
        (b'{"items":[{"metadata":{"name":7}}]}', "item 0 is not an object with metadata"),
        (b'{"items":[{"metadata":[]}]}', "item 0 is not an object with metadata"),
        (b'{"metadata":{"resourceVersion":5},"items":[]}', "not a list"),
        (b'{"items":[{"metadata":{"name":"\xff"}}]}', "invalid JSON in list item 0"),
    ],
)
def test_malformed_json(body: bytes, message: str) -> None:
    with pytest.raises(CodecError, match=message):
        split_list(body, JSON, "v1", "Pod")


def _named_item(name: bytes) -> bytes:
    return field_bytes(1, field_bytes(1, name) + field_str(3, "ns"))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "magic"),
        (b'{"items":[]}', "magic"),
        (b"k8s\x00\x0a", "truncated"),
        (wrap_unknown("v1", "Pod", _named_item(b"p")), "'Pod', not a list"),
        (wrap_unknown("v1", "", b""), "not a list"),
        (_proto_list_body([field_bytes(1, field_str(3, "ns"))], "1"), "item 0 has no metadata"),
        (_proto_list_body([_named_item(b"a"), b"\x0a\x05ab"], "1"), "invalid protobuf list item 1"),
        (_proto_list_body([_named_item(b"\xff")], "1"), "not UTF-8"),
        (_proto_list_body([_named_item(b"p")], "1")[:-8], "overruns"),
        (
            b"k8s\x00" + field_bytes(2, b"") + field_str(4, "application/json"),
            "application/json",
        ),
    ],
)
def test_malformed_proto(body: bytes, message: str) -> None:
    with pytest.raises(CodecError, match=message):
        split_list(body, PB, "v1", "Pod")


def test_every_truncation_of_a_proto_list_is_refused() -> None:
    body = _proto_list_body([_proto_object_bare("ns", f"p{i}") for i in range(3)], "10", "c")
    # The last four bytes are the empty contentEncoding/contentType fields: cutting one of them
    # off whole leaves a valid (shorter) Unknown, as protobuf intends.
    for cut in range(len(body) - 4):
        with pytest.raises(CodecError):
            split_list(body[:cut], PB, "v1", "Pod")


def test_every_truncation_of_a_json_list_is_refused() -> None:
    body = _json_list_body([_json_object("ns", f"p{i}", "u", "1") for i in range(2)], "10")
    for cut in range(len(body)):
        with pytest.raises(CodecError):
            split_list(body[:cut], JSON, "v1", "Pod")


def _proto_object_bare(ns: str, name: str) -> bytes:
    return _bare(_proto_object(ns, name, "u", "1"))


@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=200), proto=st.booleans())
def test_garbage_raises_only_codec_error(data: bytes, proto: bool) -> None:
    body = (b"k8s\x00" + data) if proto else data
    try:
        split_list(body, PB if proto else JSON, "v1", "Pod")
    except CodecError:
        pass


def test_unsupported_content_type() -> None:
    with pytest.raises(CodecError, match="unsupported content type"):
        split_list(b"{}", "text/plain", "v1", "Pod")
    with pytest.raises(CodecError, match="unsupported content type"):
        build_list([], "1", None, "application/yaml", "v1", "PodList")


def test_build_proto_refuses_objects_not_in_watch_form() -> None:
    with pytest.raises(CodecError, match="object 1 is not a k8s"):
        build_list([_proto_object("a", "b", "c", "1"), b"{}"], "1", None, PB, "v1", "PodList")
    with pytest.raises(CodecError, match="without raw"):
        build_list([b"k8s\x00" + field_str(3, "")], "1", None, PB, "v1", "PodList")


def test_build_proto_reads_objects_in_any_valid_envelope_layout() -> None:
    msg = field_bytes(1, field_str(1, "p") + field_str(3, "ns"))
    type_meta = field_bytes(1, field_str(1, "v1") + field_str(2, "Pod"))
    go = wrap_unknown("v1", "Pod", msg)
    others = [
        b"k8s\x00" + type_meta + field_bytes(2, msg),  # no empty strings at the end
        b"k8s\x00" + field_bytes(2, msg) + type_meta,  # raw first
        go + field_str(4, ""),  # a repeated (empty) contentType
        b"k8s\x00" + type_meta + field_bytes(2, b"stale") + field_bytes(2, msg),  # last one wins
    ]
    expected = build_list([go], "1", None, PB, "v1", "PodList")
    for obj in others:
        assert build_list([obj], "1", None, PB, "v1", "PodList") == expected
    as_json = b"k8s\x00" + type_meta + field_bytes(2, b"{}") + field_str(4, "application/json")
    with pytest.raises(CodecError, match="object 0 holds 'application/json'"):
        build_list([as_json], "1", None, PB, "v1", "PodList")
