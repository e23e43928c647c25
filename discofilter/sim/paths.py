"""Request path → which resource, namespace, object and subresource (pure).

Served shapes (group "" is the legacy /api/v1 tree):
    /api/v1/{resource}[/{name}[/{sub}]]                      cluster-scoped, or all namespaces
    /api/v1/namespaces/{ns}/{resource}[/{name}[/{sub}]]      namespaced
    /apis/{group}/{version}/...                              the same under a named group
    /api/v1/watch/...                                        the deprecated watch prefix
Anything else is None (the server answers a 404 Status).
"""

from __future__ import annotations

from dataclasses import dataclass

from discofilter.sim.resources import RESOURCES


@dataclass(frozen=True, slots=True)
class ResourcePath:
    resource: str
    namespace: str | None = None
    """None: cluster-scoped kind, or a namespaced kind across all namespaces."""
    name: str | None = None
    subresource: str | None = None
    watch_prefix: bool = False


def parse_path(path: str) -> ResourcePath | None:
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 2 and parts[0] == "api" and parts[1] == "v1":
        group, rest = "", parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, rest = parts[1], parts[3:]
        version = parts[2]
        if not any(r.group == group and r.version == version for r in RESOURCES.values()):
            return None
    else:
        return None
    watch = False
    if rest and rest[0] == "watch":
        watch, rest = True, rest[1:]
    if not rest:
        return None
    namespace: str | None = None
    # /namespaces/{ns}/{resource}... unless {resource} is a subresource of the namespace itself
    # (/api/v1/namespaces/{name}/status, /finalize).
    if rest[0] == "namespaces" and len(rest) >= 3 and rest[2] in RESOURCES:
        namespace, rest = rest[1], rest[2:]
    resource = rest[0]
    info = RESOURCES.get(resource)
    if info is None or info.group != group:
        return None
    if namespace is not None and not info.namespaced:
        return None
    name = rest[1] if len(rest) >= 2 else None
    sub = rest[2] if len(rest) >= 3 else None
    if len(rest) > 3:
        return None
    return ResourcePath(resource, namespace, name, sub, watch)
