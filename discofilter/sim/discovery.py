"""Discovery documents: /api, /api/v1, /apis, /apis/{group}[/{version}], /version (pure).

Only the legacy (unaggregated) documents are served. kubectl 1.26+ first asks /api and /apis
for aggregated discovery (``Accept: application/json;g=apidiscovery.k8s.io;v=v2[beta1];
as=APIGroupDiscoveryList,application/json``); it checks the response Content-Type and falls back
to the per-group documents when it gets plain ``application/json``. That fallback costs one
request per group (two groups here), and keeps one shape to maintain instead of two.
``/openapi/v2`` and ``/openapi/v3`` answer 404: kubectl then skips client-side schema
validation (``--validate`` falls back to server-side field validation, which the emulator
accepts and ignores).
"""

from __future__ import annotations

from typing import Any

from discofilter.sim.resources import GROUPS, RESOURCES, SHORT_NAMES

Obj = dict[str, Any]

EMULATED_VERSION = {"major": "1", "minor": "31", "gitVersion": "v1.31.0-discofilter-sim"}

_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


def version_doc() -> Obj:
    return {
        **EMULATED_VERSION,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2024-08-13T00:00:00Z",
        "goVersion": "go1.22.5",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def api_versions(server_address: str) -> Obj:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def _group_doc(group: str) -> Obj:
    versions = sorted({r.version for r in RESOURCES.values() if r.group == group})
    gvs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"name": group, "versions": gvs, "preferredVersion": gvs[0]}


def api_group_list() -> Obj:
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [_group_doc(g) for g in GROUPS]}


def api_group(group: str) -> Obj | None:
    if group not in GROUPS:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_doc(group)}


def resource_list(group: str, version: str) -> Obj | None:
    """APIResourceList of one group version (``group`` "" is /api/v1), or None if unknown."""
    resources: list[Obj] = []
    for name, info in sorted(RESOURCES.items()):
        if info.group != group or info.version != version:
            continue
        entry: Obj = {
            "name": name,
            "singularName": info.singular,
            "namespaced": info.namespaced,
            "kind": info.kind,
            "verbs": _VERBS
            if name != "namespaces"
            else [v for v in _VERBS if v != "deletecollection"],
        }
        if name in SHORT_NAMES:
            entry["shortNames"] = list(SHORT_NAMES[name])
        resources.append(entry)
        if name in ("pods", "namespaces", "services", "nodes"):
            resources.append(
                {
                    "name": f"{name}/status",
                    "singularName": "",
                    "namespaced": info.namespaced,
                    "kind": info.kind,
                    "verbs": ["get", "patch", "update"],
                }
            )
    if not resources:
        return None
    gv = f"{group}/{version}" if group else version
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": gv,
        "resources": resources,
    }
