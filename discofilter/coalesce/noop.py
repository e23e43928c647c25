"""Semantic no-op detection: is a MODIFIED different from what the client already has? (pure)

``suppress_noop`` (off by default) drops a MODIFIED whose object, after removing the fields below,
equals the last DELIVERED state of the same object (namespace, name, uid) on the same stream.

Ignored fields, and why istiod does not read them:

* ``metadata.managedFields``: server-side-apply bookkeeping. istiod never reads it (its pod
  informer transform drops it before caching; istio/istio 50084 asks a proxy to strip it).
* ``metadata.resourceVersion``: changes on every write by definition; a change in nothing else is
  no change to anything istiod acts on (its pod/endpointslice/service handlers look at labels,
  annotations, pod IPs, phase, readiness conditions, ports, addresses, deletionTimestamp...).
* ``status.conditions[].lastProbeTime`` and ``status.conditions[].lastHeartbeatTime``: liveness
  timestamps the kubelet/node controller refresh without a change of state (the condition's
  ``status``, ``reason`` and ``lastTransitionTime`` are kept, so a real flip is always forwarded).

Everything else, including ``metadata.generation`` and every annotation, is compared.

Why dropping the event is safe across a resume: the client's last-seen resourceVersion stays at an
older event. If it reconnects from there, kube-apiserver replays everything after it, including the
dropped event (delivered then, or dropped again as the same no-op), so nothing after it is lost.
Its resourceVersion moving on is left to BOOKMARKs, which are forwarded as soon as nothing older is
held; with allowWatchBookmarks (istiod sets it) that happens about once a minute, well before the
5-minute etcd compaction would make the old resourceVersion "too old".

A client that writes with optimistic concurrency (update with the cached resourceVersion) would
get 409 Conflict on a suppressed object and refetch: correct, but a retry. istiod only reads pods,
endpoints and endpointslices, so this is for read-only consumers; say so when turning it on.

Memory: a 16-byte BLAKE2b digest per object, not the object (``DeliveredDigests``, LRU-bounded by
``noop_max_keys``). Protobuf streams are never suppressed (``semantic_digest`` returns None): only
JSON is decoded here.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Any

import orjson

IGNORED_METADATA_FIELDS = ("managedFields", "resourceVersion")
IGNORED_CONDITION_FIELDS = ("lastProbeTime", "lastHeartbeatTime")


def _strip(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        obj["metadata"] = {k: v for k, v in meta.items() if k not in IGNORED_METADATA_FIELDS}
    status = obj.get("status")
    if isinstance(status, dict):
        conditions = status.get("conditions")
        if isinstance(conditions, list):
            status["conditions"] = [
                {k: v for k, v in c.items() if k not in IGNORED_CONDITION_FIELDS}
                if isinstance(c, dict)
                else c
                for c in conditions
            ]
    return obj


def semantic_digest(raw: bytes) -> bytes | None:
    """Digest of a JSON watch line's object without the ignored fields; None if not JSON."""
    if raw[:1] != b"{":
        return None
    try:
        line = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    obj = line.get("object") if isinstance(line, dict) else None
    if not isinstance(obj, dict):
        return None
    canonical = orjson.dumps(_strip(obj), option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(canonical, digest_size=16).digest()


ObjectKey = tuple[str, str, str]


class DeliveredDigests:
    """Last delivered digest per object key, LRU-bounded.

    Invariant: ``_digests[key]`` is the digest of the newest ADDED/MODIFIED state of ``key``
    delivered on this stream, or absent (never delivered, deleted, or evicted). Absent means
    "do not suppress": eviction can only cost a forwarded no-op, never a lost change.
    """

    def __init__(self, max_keys: int) -> None:
        self.max_keys = max_keys
        self._digests: OrderedDict[ObjectKey, bytes] = OrderedDict()

    def __len__(self) -> int:
        return len(self._digests)

    def get(self, key: ObjectKey) -> bytes | None:
        return self._digests.get(key)

    def delivered(self, key: ObjectKey, digest: bytes | None) -> None:
        if digest is None or self.max_keys == 0:
            self._digests.pop(key, None)
            return
        self._digests[key] = digest
        self._digests.move_to_end(key)
        if len(self._digests) > self.max_keys:
            self._digests.popitem(last=False)

    def forget(self, key: ObjectKey) -> None:
        self._digests.pop(key, None)
