"""The safety list (pure): which namespaces the mesh needs, and the warnings explain gives."""

from __future__ import annotations

from discofilter.filter.enrollment import Enrollment
from discofilter.filter.selectors import SelectorSet, parse_label_selector
from discofilter.istio.safety import (
    injected_namespaces,
    injected_not_enrolled,
    left_out,
    safety_namespaces,
)

PODS = [
    ("ambient", {"app": "ztunnel"}),
    ("edge", {"istio": "ingressgateway"}),
    ("gw-api", {"gateway.networking.k8s.io/gateway-name": "public"}),
    ("cp", {"app": "istiod", "istio.io/rev": "canary"}),
    ("shop", {"app": "web"}),
    ("batch", {"istio": "something-else"}),
]


def test_safety_namespaces_from_marked_pods() -> None:
    found = safety_namespaces(PODS)
    assert {n: r.what for n, r in found.items()} == {
        "istio-system": "istio-system",
        "ambient": "ztunnel",
        "edge": "gateway",
        "gw-api": "gateway",
        "cp": "istiod",
    }
    assert found["ambient"].why == "istio/istio#52057"
    assert found["edge"].why == "istio/istio#33586"


def test_own_namespace_is_on_the_list() -> None:
    assert safety_namespaces([], "istio-canary")["istio-canary"].what == "istiod"
    assert set(safety_namespaces([])) == {"istio-system"}


def test_left_out_warns_for_unmatched_safety_namespaces() -> None:
    labels = {"ambient": {}, "edge": {"istio-injection": "enabled"}, "istio-system": {}}
    sel = SelectorSet((parse_label_selector("istio-injection=enabled"),))
    warnings = left_out(sel, labels, safety_namespaces(PODS))
    assert len(warnings) == 2
    assert warnings[0].startswith("selectors leave out ambient (ztunnel; istio/istio#52057)")
    assert warnings[1].startswith("selectors leave out istio-system")
    assert left_out(None, labels, safety_namespaces(PODS)) == []  # every namespace


def test_injected_but_not_enrolled() -> None:
    namespaces = {
        "a": {"istio-injection": "enabled"},
        "b": {"istio.io/rev": "canary"},
        "c": {},
        "d": {"istio-injection": "disabled"},
    }
    pods = [("c", {"sidecar.istio.io/status": "{}"}), ("d", {"other": "x"})]
    injected = injected_namespaces(namespaces, pods)
    assert injected == {
        "a": "label istio-injection=enabled",
        "b": "label istio.io/rev=canary",
        "c": "pods with the sidecar.istio.io/status annotation",
    }
    view = Enrollment(SelectorSet((parse_label_selector("istio-injection=enabled"),)))
    view.sync(namespaces)
    warnings = injected_not_enrolled(view, injected)
    assert [w.split(" ")[0] for w in warnings] == ["b", "c"]
