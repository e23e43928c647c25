"""Server-side printing: ``as=Table`` and ``as=PartialObjectMetadata[List]`` (pure).

Shapes follow kube-apiserver (meta.k8s.io/v1):
* a Table has ``columnDefinitions`` and ``rows``; each row has ``cells`` and ``object``, which is
  a PartialObjectMetadata by default (``includeObject=Metadata``), the full object with
  ``includeObject=Object`` and null with ``includeObject=None``;
* pods print NAME READY STATUS RESTARTS AGE (+ IP, NODE, NOMINATED NODE, READINESS GATES at
  priority 1, shown by ``-o wide``); namespaces NAME STATUS AGE; every other kind gets the
  default convertor's Name + Created At;
* in a watch, only the first event's Table carries column definitions (the apiserver sets
  NoHeaders after the first event), so the handler passes ``headers=False`` afterwards.
"""

from __future__ import annotations

import calendar
import time
from typing import Any

Obj = dict[str, Any]

_NAME_DESC = (
    "Name must be unique within a namespace. Is required when creating resources, although some "
    "resources may allow a client to request the generation of an appropriate name "
    "automatically. Name is primarily intended for creation idempotence and configuration "
    "definition. Cannot be updated. More info: "
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
)
_CREATED_DESC = (
    "CreationTimestamp is a timestamp representing the server time when this object was created."
)


def _col(name: str, type_: str, desc: str, priority: int = 0, fmt: str = "") -> Obj:
    return {"name": name, "type": type_, "format": fmt, "description": desc, "priority": priority}


DEFAULT_COLUMNS: list[Obj] = [
    _col("Name", "string", _NAME_DESC, fmt="name"),
    _col("Created At", "date", _CREATED_DESC),
]

# kube-apiserver's namespace printer (found by the real-peer conformance test).
NAMESPACE_COLUMNS: list[Obj] = [
    _col("Name", "string", _NAME_DESC, fmt="name"),
    _col("Status", "string", "The status of the namespace"),
    _col("Age", "string", _CREATED_DESC),
]

POD_COLUMNS: list[Obj] = [
    _col("Name", "string", _NAME_DESC, fmt="name"),
    _col("Ready", "string", "The aggregate readiness state of this pod for accepting traffic."),
    _col("Status", "string", "The aggregate status of the containers in this pod."),
    _col(
        "Restarts",
        "string",
        "The number of times the containers in this pod have been restarted and when the last "
        "container in this pod has restarted.",
    ),
    _col("Age", "string", _CREATED_DESC),
    _col(
        "IP",
        "string",
        "IP address allocated to the pod. Routable at least within the cluster. Empty if not "
        "yet allocated.",
        1,
    ),
    _col("Node", "string", "NodeName is a request to schedule this pod onto a specific node.", 1),
    _col(
        "Nominated Node",
        "string",
        "nominatedNodeName is set only when this pod preempts other pods on the node.",
        1,
    ),
    _col(
        "Readiness Gates",
        "string",
        "If specified, all readiness gates will be evaluated for pod readiness.",
        1,
    ),
]


_COLUMNS = {"pods": POD_COLUMNS, "namespaces": NAMESPACE_COLUMNS}


def human_duration(seconds: float) -> str:
    """kubectl's short AGE: 45s, 3m12s, 5h, 3d... (apimachinery duration.HumanDuration)."""
    s = int(max(0, seconds))
    if s < 120:
        return f"{s}s"
    m = s // 60
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if m < 180:
        return f"{m}m"
    h = m // 60
    if h < 8:
        return f"{h}h{m % 60}m" if m % 60 else f"{h}h"
    if h < 48:
        return f"{h}h"
    d = h // 24
    if h < 24 * 8:
        return f"{d}d{h % 24}h" if h % 24 else f"{d}d"
    if d < 365 * 2:
        return f"{d}d"
    return f"{d // 365}y{d % 365}d" if d < 365 * 8 else f"{d // 365}y"


def _age(obj: Obj, now: float) -> str:
    ts = (obj.get("metadata") or {}).get("creationTimestamp")
    if not ts:
        return "<unknown>"
    try:
        created = calendar.timegm(time.strptime(ts, "%Y-%m-%dT%H:%M:%SZ"))
    except ValueError:
        return "<unknown>"
    return human_duration(now - created)


def _pod_cells(pod: Obj, now: float) -> list[Any]:
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    statuses = status.get("containerStatuses") or []
    total = len(spec.get("containers") or [])
    ready = sum(1 for c in statuses if c.get("ready"))
    restarts = sum(int(c.get("restartCount") or 0) for c in statuses)
    reason = status.get("reason") or status.get("phase") or "Unknown"
    for c in statuses:
        waiting = (c.get("state") or {}).get("waiting")
        if waiting and waiting.get("reason"):
            reason = waiting["reason"]
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        reason = "Terminating"
    gates = spec.get("readinessGates") or []
    return [
        pod["metadata"]["name"],
        f"{ready}/{total}",
        reason,
        str(restarts),
        _age(pod, now),
        status.get("podIP") or "<none>",
        spec.get("nodeName") or "<none>",
        status.get("nominatedNodeName") or "<none>",
        f"0/{len(gates)}" if gates else "<none>",
    ]


def partial(obj: Obj, version: str = "v1") -> Obj:
    """PartialObjectMetadata of ``obj``: kind, apiVersion and the full metadata."""
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": f"meta.k8s.io/{version}",
        "metadata": obj.get("metadata") or {},
    }


def partial_list(items: list[Obj], list_meta: Obj, version: str = "v1") -> Obj:
    return {
        "kind": "PartialObjectMetadataList",
        "apiVersion": f"meta.k8s.io/{version}",
        "metadata": list_meta,
        "items": [partial(o, version) for o in items],
    }


def table(
    resource: str,
    items: list[Obj],
    list_meta: Obj,
    now: float,
    *,
    include_object: str = "Metadata",
    headers: bool = True,
    version: str = "v1",
) -> Obj:
    """A Table of ``items`` (rows in order). ``now`` (epoch seconds) is for AGE."""
    rows: list[Obj] = []
    for obj in items:
        if resource == "pods":
            cells = _pod_cells(obj, now)
        elif resource == "namespaces":
            phase = (obj.get("status") or {}).get("phase") or "Active"
            cells = [obj["metadata"]["name"], phase, _age(obj, now)]
        else:
            meta = obj.get("metadata") or {}
            cells = [meta.get("name", ""), meta.get("creationTimestamp")]
        if include_object == "Object":
            row_obj: Obj | None = obj
        elif include_object == "None":
            row_obj = None
        else:
            row_obj = partial(obj, version)
        rows.append({"cells": cells, "object": row_obj})
    out: Obj = {"kind": "Table", "apiVersion": f"meta.k8s.io/{version}", "metadata": list_meta}
    if headers:
        out["columnDefinitions"] = _COLUMNS.get(resource, DEFAULT_COLUMNS)
    out["rows"] = rows
    return out
