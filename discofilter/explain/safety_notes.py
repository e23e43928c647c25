"""``selectors explain`` warnings from the safety list (``discofilter.istio.safety``).

Two questions about the selectors being judged (the candidate when one is given, else the
selectors in effect):

* does a term set leave out a namespace the mesh needs (istio-system, ztunnel's, a gateway's,
  istiod's)? discofilter enrolls those anyway, but the same selectors in istiod's own
  ``meshConfig.discoverySelectors`` would hide them (istio/istio#52057, #33586);
* is a namespace with injected sidecars (labels ``istio-injection=enabled``/``istio.io/rev``,
  or pods annotated ``sidecar.istio.io/status``) left out of the enrollment?

One extra pod LIST (metadata only, paged) gives the pod labels and annotations.
"""

from __future__ import annotations

from collections.abc import Mapping

from discofilter.errors import UpstreamError
from discofilter.explain.cluster import METADATA_ACCEPT, ClusterReader
from discofilter.filter.enrollment import Enrollment
from discofilter.filter.selectors import SelectorSet
from discofilter.istio.safety import (
    injected_namespaces,
    injected_not_enrolled,
    left_out,
    safety_namespaces,
)


async def safety_notes(
    reader: ClusterReader,
    namespaces: Mapping[str, Mapping[str, str]],
    judged: SelectorSet | None,
    always_enrolled: frozenset[str],
) -> list[str]:
    try:
        pods, _ = await reader.list_all("/api/v1/pods", METADATA_ACCEPT)
    except UpstreamError as e:
        return [f"safety list not checked: cannot list pods ({e})"]
    labels = [(_ns(p), dict((p.get("metadata") or {}).get("labels") or {})) for p in pods]
    notes = [(_ns(p), dict((p.get("metadata") or {}).get("annotations") or {})) for p in pods]
    safety = safety_namespaces(labels)
    out = [f"warning: {w}" for w in left_out(judged, namespaces, safety)]
    view = Enrollment(judged, always_enrolled | frozenset(safety))
    view.sync(namespaces)
    injected = injected_namespaces(namespaces, notes)
    out += [f"warning: {w}" for w in injected_not_enrolled(view, injected)]
    return out


def _ns(item: Mapping[str, object]) -> str:
    meta = item.get("metadata")
    return str(meta.get("namespace") or "") if isinstance(meta, Mapping) else ""
