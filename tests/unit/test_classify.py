"""Request classification: table-driven, plus a fuzz property (never raises, never filters junk)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from discofilter.classify import (
    FilteredList,
    FilteredWatch,
    PassThrough,
    Rejected,
    ResourceCatalog,
    Upgrade,
    classify,
)

CAT = ResourceCatalog(
    namespaced=frozenset(
        {("", "pods"), ("", "services"), ("discovery.k8s.io", "endpointslices"),
         ("networking.istio.io", "virtualservices"), ("coordination.k8s.io", "leases")}
    ),
    exempt=frozenset({"leases.coordination.k8s.io"}),
)  # fmt: skip

CASES: list[tuple[str, str, dict[str, str], type, str]] = [
    ("GET", "/api/v1/pods", {}, FilteredList, ""),
    ("GET", "/api/v1/pods?limit=500&continue=abc", {}, FilteredList, ""),
    ("GET", "/api/v1/pods?watch=true", {}, FilteredWatch, ""),
    ("GET", "/api/v1/pods?watch=1&resourceVersion=5", {}, FilteredWatch, ""),
    ("GET", "/api/v1/pods?watch=", {}, FilteredWatch, ""),  # apimachinery: "" is true
    ("GET", "/api/v1/pods?watch=0", {}, FilteredList, ""),
    ("GET", "/api/v1/pods?watch=False", {}, FilteredList, ""),
    ("GET", "/api/v1/watch/pods", {}, FilteredWatch, ""),
    ("GET", "/apis/discovery.k8s.io/v1/endpointslices", {}, FilteredList, ""),
    ("GET", "/apis/discovery.k8s.io/v1/watch/endpointslices", {}, FilteredWatch, ""),
    ("GET", "/apis/networking.istio.io/v1/virtualservices?watch=true", {}, FilteredWatch, ""),
    ("GET", "/api/v1/pods/", {}, FilteredList, ""),
    ("GET", "/apis/coordination.k8s.io/v1/leases", {}, PassThrough, "exempt resource"),
    ("GET", "/api/v1/nodes", {}, PassThrough, "cluster-scoped or unknown resource"),
    ("GET", "/api/v1/namespaces", {}, PassThrough, "cluster-scoped or unknown resource"),
    ("GET", "/api/v1/namespaces/default/pods", {}, PassThrough, "single-namespace request"),
    ("GET", "/api/v1/namespaces/default/pods?watch=1", {}, PassThrough, "single-namespace request"),
    ("GET", "/api/v1/watch/namespaces/default/pods", {}, PassThrough, "single-namespace request"),
    ("GET", "/api/v1/namespaces/default/pods/p1/log", {}, PassThrough, "single-namespace request"),
    ("GET", "/api/v1/namespaces/default", {}, PassThrough, "named object or subresource"),
    ("GET", "/api/v1", {}, PassThrough, "discovery"),
    ("GET", "/apis", {}, PassThrough, "not a resource path"),
    ("GET", "/apis/discovery.k8s.io/v1", {}, PassThrough, "discovery"),
    ("GET", "/version", {}, PassThrough, "not a resource path"),
    ("GET", "/", {}, PassThrough, "not a resource path"),
    ("POST", "/api/v1/namespaces/default/pods", {}, PassThrough, "method POST"),
    ("POST", "/apis/authentication.k8s.io/v1/tokenreviews", {}, PassThrough, "method POST"),
    ("DELETE", "/api/v1/pods", {}, PassThrough, "method DELETE"),
    ("GET", "/api/v1/namespaces/d/pods/p/exec?command=ls", {}, Upgrade, ""),
    ("POST", "/api/v1/namespaces/d/pods/p/portforward", {}, Upgrade, ""),
    ("GET", "/api/v1/namespaces/d/pods/p/attach", {}, Upgrade, ""),
    ("GET", "/api/v1/pods", {"Upgrade": "websocket"}, Upgrade, ""),
    ("GET", "/api/v1/pods", {"Upgrade": "h2c"}, FilteredList, ""),
    ("GET", "/api/v1/namespaces/d/pods/p/proxy/x", {}, PassThrough, "single-namespace request"),
    ("CONNECT", "/api/v1/pods", {}, Rejected, ""),
    ("GET", "http://evil.example/api/v1/pods", {}, Rejected, ""),
    ("GET", "evil.example:443", {}, Rejected, ""),
    ("GET", "/api/v1/../v1/pods", {}, Rejected, ""),
    ("GET", "/api/v1/%2e%2e/pods", {}, Rejected, ""),
    ("GET", "/api/v1/%2E%2e/pods", {}, Rejected, ""),
    ("GET", "/api/v1/./pods", {}, Rejected, ""),
    ("GET", "/api//v1/pods", {}, Rejected, ""),
    ("GET", "//api/v1/pods", {}, Rejected, ""),
    ("GET", "/api/v1/namespaces%2fdefault/pods", {}, Rejected, ""),
    ("GET", "/api/v1/pods\x00", {}, Rejected, ""),
    ("GET", "/api/v1/po ds", {}, Rejected, ""),
    ("GET", "/api/v1/pods\\..\\x", {}, Rejected, ""),
]


@pytest.mark.parametrize(("method", "target", "headers", "kind", "reason"), CASES)
def test_classify_table(
    method: str, target: str, headers: dict[str, str], kind: type, reason: str
) -> None:
    got = classify(method, target, headers, CAT)
    assert isinstance(got, kind), got
    if reason:
        assert isinstance(got, PassThrough) and got.reason == reason


def test_filtered_fields() -> None:
    got = classify("GET", "/apis/discovery.k8s.io/v1/watch/endpointslices?x=1", {}, CAT)
    assert isinstance(got, FilteredWatch)
    assert got.legacy_path and got.resource.group_resource == "endpointslices.discovery.k8s.io"
    assert got.query == "x=1"
    wl = classify("GET", "/api/v1/pods?watch=1&sendInitialEvents=true", {}, CAT)
    assert isinstance(wl, FilteredWatch) and wl.send_initial_events


def test_rejected_codes() -> None:
    connect = classify("CONNECT", "/x", {}, CAT)
    assert isinstance(connect, Rejected) and connect.code == 405
    dots = classify("GET", "/api/v1/%2e%2e/pods", {}, CAT)
    assert isinstance(dots, Rejected) and dots.code == 400


def test_default_catalog_knows_core_kinds() -> None:
    assert isinstance(classify("GET", "/api/v1/configmaps", {}, ResourceCatalog()), FilteredList)
    assert isinstance(classify("GET", "/api/v1/nodes", {}, ResourceCatalog()), PassThrough)


_seg = st.sampled_from(
    ["api", "apis", "v1", "pods", "watch", "namespaces", "default", "..", ".", "%2e%2E", "", "%2F",
     "exec", "discovery.k8s.io", "endpointslices", "a b", "\x00", "\\"]
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(["GET", "POST", "CONNECT", "PUT", "get"]),
    st.lists(_seg, max_size=7),
    st.sampled_from(["", "?watch=1", "?watch=0", "?limit=1"]),
)
def test_fuzz_never_filters_unsafe_paths(method: str, segs: list[str], q: str) -> None:
    target = "/" + "/".join(segs) + q
    got = classify(method, target, {}, CAT)
    if isinstance(got, FilteredList | FilteredWatch):
        path_segs = got.path.strip("/").split("/")
        assert all(s and s not in (".", "..") and "%" not in s for s in path_segs)
        assert method.upper() == "GET"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_fuzz_any_text_is_classified(target: str) -> None:
    classify("GET", target, {}, CAT)  # never raises
