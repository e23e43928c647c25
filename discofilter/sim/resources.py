"""The resources the emulator serves, and the per-resource facts the API needs (pure).

``RESOURCES`` maps the plural lowercase resource name to ``(group, version, kind, namespaced)``,
the same four facts kube-apiserver's discovery documents publish. Only the built-in kinds istiod
watches are here: adding one is one line plus, if it has extra field selectors, one entry in
``FIELD_LABELS``.
"""

from __future__ import annotations

from typing import Any, NamedTuple


class ResourceInfo(NamedTuple):
    group: str
    """API group; "" is the legacy core group served under /api/v1."""
    version: str
    kind: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return self.kind + "List"

    @property
    def singular(self) -> str:
        return self.kind.lower()


RESOURCES: dict[str, ResourceInfo] = {
    "namespaces": ResourceInfo("", "v1", "Namespace", False),
    "nodes": ResourceInfo("", "v1", "Node", False),
    "pods": ResourceInfo("", "v1", "Pod", True),
    "services": ResourceInfo("", "v1", "Service", True),
    "endpoints": ResourceInfo("", "v1", "Endpoints", True),
    "configmaps": ResourceInfo("", "v1", "ConfigMap", True),
    "secrets": ResourceInfo("", "v1", "Secret", True),
    "endpointslices": ResourceInfo("discovery.k8s.io", "v1", "EndpointSlice", True),
}

SHORT_NAMES: dict[str, tuple[str, ...]] = {
    "namespaces": ("ns",),
    "nodes": ("no",),
    "pods": ("po",),
    "services": ("svc",),
    "endpoints": ("ep",),
    "configmaps": ("cm",),
}

# Field selectors the real server accepts beyond metadata.name / metadata.namespace
# (pkg/registry/*/strategy.go ToSelectableFields). Anything else is a 400 "field label not
# supported", exactly like kube-apiserver, so clients learn the same lesson here as in production.
FIELD_LABELS: dict[str, tuple[str, ...]] = {
    "pods": (
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "spec.hostNetwork",
        "status.phase",
        "status.podIP",
        "status.nominatedNodeName",
    ),
    "namespaces": ("status.phase",),
    "secrets": ("type",),
    "nodes": ("spec.unschedulable",),
}

GROUPS: tuple[str, ...] = tuple(sorted({r.group for r in RESOURCES.values() if r.group}))


def qualified(resource: str) -> str:
    """``pods`` or ``endpointslices.discovery.k8s.io``: how the API names a resource in errors."""
    group = RESOURCES[resource].group
    return f"{resource}.{group}" if group else resource


def field_values(resource: str, obj: dict[str, Any]) -> dict[str, str]:
    """The selectable fields of ``obj`` as strings (what fieldSelector compares against)."""
    meta = obj.get("metadata") or {}
    out = {"metadata.name": meta.get("name", ""), "metadata.namespace": meta.get("namespace", "")}
    extra = FIELD_LABELS.get(resource)
    if not extra:
        return out
    for path in extra:
        cur: object = obj
        for part in path.split("."):
            cur = cur.get(part) if isinstance(cur, dict) else None
        if isinstance(cur, bool):
            out[path] = "true" if cur else "false"
        else:
            out[path] = "" if cur is None else str(cur)
    return out
