"""The compiled direct encoder writes exactly what upb writes for the same object."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from discofilter._generated.k8s.api import core_v1_pb2, discovery_v1_pb2
from discofilter.codec.wire import iter_fields
from discofilter.errors import CodecError
from discofilter.sim.k8sproto import KINDS, fill, message_class, to_message
from discofilter.sim.k8sproto_types import FIELDSV1, INTSTR, MICROTIME, QUANTITY, TIME
from discofilter.sim.protoencode import encode_message
from tests.unit.codec.codec_samples import make_pod

FIXTURES = Path(__file__).resolve().parents[3].parent / "shared" / "fixtures" / "k8s-api-testdata"


def _reference(obj: dict[str, Any]) -> bytes:
    return to_message(obj).SerializeToString(deterministic=True)


def _fast(obj: dict[str, Any]) -> bytes:
    return encode_message(message_class(obj["apiVersion"], obj["kind"]).DESCRIPTOR, obj)


def test_sample_pod_and_its_variants() -> None:
    pod = make_pod("mesh-a", "web-1", "7")
    assert _fast(pod) == _reference(pod)
    # key order does not matter: reversed dicts encode to the same bytes
    rev = orjson.loads(orjson.dumps(pod))
    rev["metadata"] = dict(reversed(list(rev["metadata"].items())))
    rev["spec"] = dict(reversed(list(rev["spec"].items())))
    assert _fast(rev) == _fast(pod)
    # memoised sub-messages: a second encoding (cache hit) is identical
    assert _fast(pod) == _reference(pod)


@pytest.mark.skipif(not FIXTURES.is_dir(), reason=f"upstream fixtures not present at {FIXTURES}")
def test_upstream_fixture_objects() -> None:
    n = 0
    for path in sorted(FIXTURES.glob("*.json")):
        obj = orjson.loads(path.read_bytes())
        if (obj.get("apiVersion"), obj.get("kind")) in KINDS:
            assert _fast(obj) == _reference(obj), path.name
            n += 1
    assert n == 8


@pytest.mark.parametrize(
    "obj",
    [
        {"kind": "Pod", "apiVersion": "v1", "metadata": {"name": 7}},
        {"kind": "Pod", "apiVersion": "v1", "spec": {"priority": 1 << 31}},
        {"kind": "Pod", "apiVersion": "v1", "spec": {"priority": True}},
        {"kind": "Pod", "apiVersion": "v1", "spec": {"containers": {}}},
        {"kind": "Pod", "apiVersion": "v1", "metadata": {"labels": {"a": 1}}},
        {"kind": "Pod", "apiVersion": "v1", "metadata": {"creationTimestamp": "now"}},
        {"kind": "Secret", "apiVersion": "v1", "data": {"k": "***"}},
        {"kind": "Service", "apiVersion": "v1", "spec": {"ports": [{"targetPort": 1.5}]}},
        {"kind": "Node", "apiVersion": "v1", "status": {"capacity": {"cpu": [1]}}},
    ],
)
def test_invalid_values_raise_codec_error(obj: dict[str, Any]) -> None:
    with pytest.raises(CodecError):
        _fast(obj)


# ---- property: random objects of our subset ------------------------------------------------

_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
_TIMES = st.integers(0, 4_000_000_000).map(
    lambda s: f"{1970 + s // 31_556_952:04d}-01-02T03:04:05Z"
)
_SCALARS = {
    FieldDescriptor.TYPE_STRING: _TEXT,
    FieldDescriptor.TYPE_BOOL: st.booleans(),
    FieldDescriptor.TYPE_INT32: st.integers(-(1 << 31), (1 << 31) - 1),
    FieldDescriptor.TYPE_INT64: st.integers(-(1 << 63), (1 << 63) - 1),
    FieldDescriptor.TYPE_BYTES: st.binary(max_size=8).map(
        lambda b: __import__("base64").b64encode(b).decode()
    ),
}
_SPECIAL = {
    TIME: _TIMES,
    MICROTIME: _TIMES,
    INTSTR: st.one_of(st.integers(-(1 << 31), (1 << 31) - 1), _TEXT),
    QUANTITY: st.sampled_from(["1", "500m", "2Gi", "0"]),
    FIELDSV1: st.dictionaries(_TEXT, st.just({}), max_size=3),
}


def _value(fd: FieldDescriptor, depth: int) -> st.SearchStrategy[Any]:
    mt = fd.message_type
    if mt is not None:
        if mt.full_name in _SPECIAL:
            return _SPECIAL[mt.full_name]
        return _message(mt, depth + 1)
    return _SCALARS[fd.type]


def _field(fd: FieldDescriptor, depth: int) -> st.SearchStrategy[Any]:
    mt = fd.message_type
    if mt is not None and mt.GetOptions().map_entry:
        return st.dictionaries(_TEXT, _value(mt.fields_by_name["value"], depth), max_size=3)
    if fd.is_repeated:
        return st.lists(_value(fd, depth), max_size=2)
    return _value(fd, depth)


def _message(desc: Descriptor, depth: int = 0) -> st.SearchStrategy[dict[str, Any]]:
    if depth > 4:
        return st.just({})
    return st.fixed_dictionaries(
        {}, optional={fd.name: st.deferred(lambda fd=fd: _field(fd, depth)) for fd in desc.fields}
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.sampled_from([core_v1_pb2.Pod, core_v1_pb2.Service, core_v1_pb2.Node]).flatmap(
        lambda cls: _message(cls.DESCRIPTOR).map(lambda d: (cls, d))
    )
)
def test_random_objects_match_upb(data: tuple[Any, dict[str, Any]]) -> None:
    cls, obj = data
    ref = cls()
    fill(ref, obj)
    fast = encode_message(cls.DESCRIPTOR, obj)
    # Same message, same size; bytes may differ only in the order of map entries whose keys are
    # prefixes of each other (upb's deterministic order is not lexicographic; Go's and ours is).
    assert cls.FromString(fast) == ref
    assert len(fast) == ref.ByteSize()


def test_map_entries_in_go_order() -> None:
    keys = ["b", "a", "aa", "ab", "", "0", "abc", "B", "\u00e9"]
    obj = {"metadata": {"labels": dict.fromkeys(keys, "v")}}
    wire = encode_message(core_v1_pb2.Pod.DESCRIPTOR, obj)
    (_, _, ms, me), *_ = iter_fields(wire, 0, len(wire))
    order = []
    for _f, _w, s, e in iter_fields(wire, ms, me):
        (_, _, ks, ke), *_ = iter_fields(wire, s, e)
        order.append(wire[ks:ke].decode())
    assert order == sorted(keys)  # Go's sortkeys.Strings: plain lexicographic order


def test_endpoint_slice_random_example() -> None:
    obj = {
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["10.0.0.1"], "conditions": {"ready": True}, "zone": "a"}],
        "ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
        "metadata": {"name": "s", "namespace": "n", "labels": {"b": "2", "a": "1"}},
    }
    ref = discovery_v1_pb2.EndpointSlice()
    fill(ref, obj)
    assert encode_message(ref.DESCRIPTOR, obj) == ref.SerializeToString(deterministic=True)
