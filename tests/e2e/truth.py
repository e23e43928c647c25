"""The filtered truth, read directly from the real API server.

Contract 1 of DESIGN.md: through the proxy a client sees exactly what the server would send if
non-enrolled namespaces did not exist, so the truth is the server's full list restricted to the
enrolled namespaces, compared on namespace/name/resourceVersion/uid (the informer's snapshot).
"""

from __future__ import annotations

from typing import Any

from kubernetes import client as k8s

Entry = dict[str, str]
Caches = dict[str, list[Entry]]


def enrolled_namespaces(
    api: k8s.ApiClient, key: str, value: str, always: frozenset[str]
) -> set[str]:
    out = set(always)
    for ns in k8s.CoreV1Api(api).list_namespace().items:
        meta: Any = ns.metadata
        if (meta.labels or {}).get(key) == value:
            out.add(meta.name)
    return out


def _entries(items: list[Any], keep: set[str]) -> list[Entry]:
    rows = [
        {
            "namespace": o.metadata.namespace,
            "name": o.metadata.name,
            "resourceVersion": o.metadata.resource_version,
            "uid": o.metadata.uid,
        }
        for o in items
        if o.metadata.namespace in keep
    ]
    return sorted(rows, key=lambda r: (r["namespace"], r["name"]))


def filtered_truth(api: k8s.ApiClient, keep: set[str]) -> Caches:
    core = k8s.CoreV1Api(api)
    return {
        "pods": _entries(core.list_pod_for_all_namespaces().items, keep),
        "services": _entries(core.list_service_for_all_namespaces().items, keep),
        "endpointslices": _entries(
            k8s.DiscoveryV1Api(api).list_endpoint_slice_for_all_namespaces().items, keep
        ),
    }
