"""The safety list: namespaces the mesh needs whatever the selectors say (pure).

Selectors that leave out a namespace Istio itself runs in break the mesh in ways that are hard
to see from the outside:

* istio/istio#52057 — deselecting **ztunnel's** namespace broke certificate issuance in ambient
  mode (istiod no longer saw the ztunnel pods whose identities it signs);
* istio/istio#33586 — **gateways** lost their routes when istio-system (where the gateway ran)
  was not selected;
* **istiod's own namespace** holds its mesh ConfigMap, its injector and its CA root: istiod
  without it cannot configure anything.

So discofilter enrolls, by default, ``istio-system`` and every namespace in which it finds a
ztunnel pod, a gateway pod or an istiod pod (``SAFETY_MARKS``; and istiod's namespace when the
proxy is told it: the chart's sidecar mode, where the proxy shares istiod's pod).
``selectors explain`` warns about a candidate that would leave one of them out: discofilter
keeps them enrolled, but the same selectors written into istiod's
``meshConfig.discoverySelectors`` would not.

It also warns about namespaces that look injected (``istio-injection=enabled`` or an
``istio.io/rev`` label on the namespace, or pods carrying the ``sidecar.istio.io/status``
annotation the injector writes) that the selectors do not enroll: their sidecars would get no
configuration for their own namespace's services.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from discofilter.filter.enrollment import Enrollment
from discofilter.filter.selectors import SelectorSet, parse_label_selector

ISTIO_SYSTEM = "istio-system"

SAFETY_MARKS: tuple[tuple[str, str, str], ...] = (
    # (label selector on pods, what it marks, the issue that shows why)
    ("app=ztunnel", "ztunnel", "istio/istio#52057"),
    ("app=istiod", "istiod", "istiod reads its own namespace's ConfigMaps and Secrets"),
    ("istio in (ingressgateway,egressgateway,eastwestgateway)", "gateway", "istio/istio#33586"),
    ("gateway.networking.k8s.io/gateway-name", "gateway", "istio/istio#33586"),
    ("istio.io/gateway-name", "gateway", "istio/istio#33586"),
)
"""Pods whose namespace the mesh needs. Gateway pods deployed by Istio for a Gateway API
``Gateway`` carry ``gateway.networking.k8s.io/gateway-name``; Helm-installed gateways carry
``istio=<name>gateway``."""

_MARKS = tuple((parse_label_selector(sel), what, why) for sel, what, why in SAFETY_MARKS)

INJECTION_LABEL = "istio-injection"
REVISION_LABEL = "istio.io/rev"
SIDECAR_STATUS = "sidecar.istio.io/status"


@dataclass(frozen=True, slots=True)
class SafetyReason:
    what: str
    """"istio-system", "ztunnel", "gateway", "istiod"."""
    why: str
    """The issue or fact that makes it needed."""


def safety_namespaces(
    pods: Iterable[tuple[str, Mapping[str, str]]], own_namespace: str | None = None
) -> dict[str, SafetyReason]:
    """Namespace -> why it is needed, from (namespace, labels) of pods."""
    out = {ISTIO_SYSTEM: SafetyReason("istio-system", "the default control-plane namespace")}
    if own_namespace:
        out.setdefault(own_namespace, SafetyReason("istiod", "discofilter runs beside istiod"))
    for namespace, labels in pods:
        for sel, what, why in _MARKS:
            if namespace and sel.matches(labels):
                out.setdefault(namespace, SafetyReason(what, why))
                break
    return out


def left_out(
    selectors: SelectorSet | None,
    namespaces: Mapping[str, Mapping[str, str]],
    safety: Mapping[str, SafetyReason],
) -> list[str]:
    """Warnings: safety namespaces that ``selectors`` themselves do not match (None = all)."""
    if selectors is None:
        return []
    out = []
    for name, reason in sorted(safety.items()):
        if name in namespaces and not selectors.matches(namespaces[name]):
            out.append(
                f"selectors leave out {name} ({reason.what}; {reason.why}): discofilter keeps "
                "it enrolled (safety list), istiod's own discoverySelectors would not"
            )
    return out


def injected_namespaces(
    namespaces: Mapping[str, Mapping[str, str]],
    pods: Iterable[tuple[str, Mapping[str, str]]],
) -> dict[str, str]:
    """Namespace -> the sign that it has (or will get) sidecars injected."""
    out: dict[str, str] = {}
    for name, labels in namespaces.items():
        if labels.get(INJECTION_LABEL) == "enabled":
            out[name] = f"label {INJECTION_LABEL}=enabled"
        elif REVISION_LABEL in labels:
            out[name] = f"label {REVISION_LABEL}={labels[REVISION_LABEL]}"
    for namespace, notes in pods:
        if SIDECAR_STATUS in notes:
            out.setdefault(namespace, f"pods with the {SIDECAR_STATUS} annotation")
    return out


def injected_not_enrolled(enrollment: Enrollment, injected: Mapping[str, str]) -> list[str]:
    """Warnings: injected namespaces the enrollment leaves out."""
    return [
        f"{name} has injected sidecars ({sign}) but is not enrolled: its sidecars get no "
        "configuration for it"
        for name, sign in sorted(injected.items())
        if not enrollment.is_enrolled(name)
    ]
