"""Fuzz the classifier against a model of what the API server sees (hypothesis).

The property that matters for security: no request target the API server would serve as a
*cluster-wide collection of a namespaced resource* may be classified as pass-through (it would
reach the client unfiltered). The model of the API server: Go percent-decodes the path
(``URL.Path``), removes dot segments and empty segments, and ignores one trailing slash.
Found by this test: ``/api/v1/%70ods`` (fixed in classify.py by decoding before matching).
"""

from __future__ import annotations

import posixpath
from urllib.parse import unquote

from hypothesis import given
from hypothesis import strategies as st

from discofilter import classify as cls
from tests.unit.fuzz.settings import FUZZ

CATALOG = cls.ResourceCatalog()
COLLECTIONS = ["/api/v1/pods", "/api/v1/secrets", "/apis/apps/v1/deployments",
               "/apis/discovery.k8s.io/v1/endpointslices", "/api/v1/watch/configmaps",
               "/apis/batch/v1/watch/jobs"]  # fmt: skip
JUNK = ["", ".", "..", "%2e", "%2E%2e", "x", "namespaces", "%2f", "%5c", "%00", "a%20b", "\\"]


def api_server_sees_collection(target: str) -> bool:
    """The model: would kube-apiserver route ``target`` to a cluster-wide namespaced list?"""
    path = unquote(target.split("?", 1)[0], errors="surrogateescape")
    if "\\" in path or "\x00" in path:
        return False
    clean = posixpath.normpath(path) if path.startswith("/") else path
    segs = [s for s in clean.split("/") if s]
    if segs[:1] == ["api"] and len(segs) >= 3:
        rest, group = segs[2:], ""
    elif segs[:1] == ["apis"] and len(segs) >= 4:
        rest, group = segs[3:], segs[1]
    else:
        return False
    if rest and rest[0] == "watch":
        rest = rest[1:]
    return len(rest) == 1 and CATALOG.is_namespaced(group, rest[0])


@st.composite
def targets(draw: st.DrawFn) -> str:
    base = draw(st.sampled_from(COLLECTIONS))
    chars = []
    for c in base:
        if c != "/" and draw(st.integers(0, 4)) == 0:
            h = f"{ord(c):02x}"
            c = "%" + (h.upper() if draw(st.booleans()) else h)
        chars.append(c)
    segs = "".join(chars).split("/")
    for _ in range(draw(st.integers(0, 2))):
        pos = draw(st.integers(1, len(segs)))
        segs.insert(pos, draw(st.sampled_from(JUNK)))
    path = "/".join(segs) + ("/" if draw(st.booleans()) else "")
    query = draw(st.sampled_from(["", "?watch=1", "?%77atch=true", "?limit=500", "?watch=0"]))
    return path + query


@FUZZ
@given(target=targets())
def test_no_collection_passes_through_unfiltered(target: str) -> None:
    c = cls.classify("GET", target, {}, CATALOG)
    if api_server_sees_collection(target):
        assert isinstance(c, cls.FilteredList | cls.FilteredWatch | cls.Rejected), (target, c)
    if isinstance(c, cls.FilteredList | cls.FilteredWatch):
        assert c.resource.group_resource.split(".")[0] in {
            "pods",
            "secrets",
            "deployments",
            "endpointslices",
            "configmaps",
            "jobs",
        }


@FUZZ
@given(
    method=st.sampled_from(["GET", "get", "POST", "PUT", "DELETE", "PATCH", "HEAD", "CONNECT",
                            "OPTIONS", "TRACE", "PROPFIND"]),
    target=st.text(max_size=80) | targets(),
    upgrade=st.sampled_from([None, "websocket", "SPDY/3.1", "h2c", ""]),
)  # fmt: skip
def test_any_request_is_classified_without_raising(
    method: str, target: str, upgrade: str | None
) -> None:
    headers = {} if upgrade is None else {"Upgrade": upgrade}
    c = cls.classify(method, target, headers, CATALOG)
    assert isinstance(c, cls.FilteredList | cls.FilteredWatch | cls.PassThrough | cls.Upgrade
                      | cls.Rejected)  # fmt: skip
    if method.upper() == "CONNECT" or not target.startswith("/"):
        assert isinstance(c, cls.Rejected)
    if isinstance(c, cls.FilteredList | cls.FilteredWatch):
        assert method.upper() == "GET"
        assert not any(ord(ch) < 0x21 for ch in target)


def test_found_examples() -> None:
    for t in ("/api/v1/%70ods", "/api/v1/w%61tch/pods", "/apis/apps/v1/deployment%73"):
        assert isinstance(cls.classify("GET", t, {}, CATALOG),
                          cls.FilteredList | cls.FilteredWatch), t  # fmt: skip
    assert isinstance(
        cls.classify("GET", "/api/v1/namespaces/x/pods/p/%65xec", {}, CATALOG), cls.Upgrade
    )
