"""``filter.exclusion``: which namespaces a filtered watch leaves out upstream, and how the
terms join the client's query (every other byte of it unchanged)."""

from __future__ import annotations

from urllib.parse import parse_qs

from hypothesis import given
from hypothesis import strategies as st

from discofilter.filter.exclusion import excluded_namespaces, with_exclusions
from discofilter.filter.selectors import parse_field_selector

ENROLLED = {"istio-system", "mesh-a"}


def _enrolled(ns: str) -> bool:
    return ns in ENROLLED


def test_all_not_enrolled_namespaces_when_they_fit() -> None:
    known = ["istio-system", "mesh-a", "batch", "web"]
    assert excluded_namespaces(known, _enrolled, 2) == {"batch", "web"}
    assert excluded_namespaces(known, _enrolled, 0) == frozenset()  # off


def test_over_the_limit_the_previous_set_then_the_churniest_then_by_name() -> None:
    known = ["mesh-a", "a", "b", "c", "d"]
    rates = {"c": 50.0, "d": 10.0}
    assert excluded_namespaces(known, _enrolled, 2, lambda: rates) == {"c", "d"}
    # Excluded namespaces send nothing, so their rate reads 0 next time: they stay in.
    assert excluded_namespaces(known, _enrolled, 2, lambda: {"a": 5.0}, frozenset({"c", "d"})) == {
        "c", "d",
    }  # fmt: skip
    assert excluded_namespaces(known, _enrolled, 3, None) == {"a", "b", "c"}


def test_rates_are_read_only_when_the_namespaces_do_not_fit() -> None:
    def boom() -> dict[str, float]:
        raise AssertionError("rates read although every namespace fits")

    assert excluded_namespaces(["x", "y"], _enrolled, 5, boom) == {"x", "y"}


def test_terms_join_the_clients_field_selector_and_leave_the_rest_of_the_query() -> None:
    raw = (
        "/api/v1/pods?watch=1&fieldSelector=spec.nodeName%3Dn1&resourceVersion=7"
        "&labelSelector=a%2Bb"
    )
    out = with_exclusions(raw, {"web", "batch"})
    assert out.startswith("/api/v1/pods?watch=1&fieldSelector=spec.nodeName%3Dn1%2C")
    assert out.endswith("&resourceVersion=7&labelSelector=a%2Bb")
    fs = parse_qs(out.partition("?")[2])["fieldSelector"][0]
    assert fs == "spec.nodeName=n1,metadata.namespace!=batch,metadata.namespace!=web"
    assert with_exclusions("/api/v1/pods?watch=1", {"b"}) == (
        "/api/v1/pods?watch=1&fieldSelector=metadata.namespace%21%3Db"
    )
    assert with_exclusions("/api/v1/pods?watch=1&fieldSelector=", {"b"}).endswith(
        "&fieldSelector=metadata.namespace%21%3Db"
    )
    assert with_exclusions("/api/v1/pods?watch=1", ()) == "/api/v1/pods?watch=1"


names = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True)


@given(st.sets(names, max_size=8), st.sets(names, min_size=1, max_size=8))
def test_the_upstream_keeps_exactly_the_namespaces_not_excluded(
    excluded: set[str], namespaces: set[str]
) -> None:
    # The API server's reading of the joined selector: an object passes iff its namespace is
    # not excluded (and the client's own term still holds).
    raw = with_exclusions("/api/v1/pods?watch=1&fieldSelector=metadata.name%3Dp", excluded)
    sel = parse_field_selector(parse_qs(raw.partition("?")[2])["fieldSelector"][0])
    for ns in namespaces:
        fields = {"metadata.namespace": ns, "metadata.name": "p"}
        assert sel.matches(fields) == (ns not in excluded)
        assert not sel.matches({"metadata.namespace": ns, "metadata.name": "q"})
