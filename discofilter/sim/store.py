"""The emulator's object store: etcd-like revisions over JSON-shaped dicts (pure, no I/O).

Policy and invariants
* One global integer ``resource_version`` (like etcd's revision): every committed change takes
  the next value, across all resources, so resourceVersions are strictly increasing in commit
  order and comparable, which lets LIST/WATCH honour NotOlderThan and Exact.
* Objects live in ``_objs[resource][namespace][name]`` ("" namespace for cluster-scoped kinds):
  the per-namespace dict *is* the namespace index, so a namespaced LIST or a namespace cascade
  delete touches only that namespace. A 150k-pod store is ~10k small dicts, not one big scan.
* Stored dicts are immutable: every change builds a new dict and the old one moves to the event
  history as ``prev``. That is what makes history rollbacks (Exact LIST, continue tokens) and
  selector transitions (the old object's labels) possible without copying on every read.
  Callers get deep copies from ``get`` and the mutating calls; ``list`` returns the stored
  dicts themselves (read-only: 150k copies would cost seconds).
* Every change is appended to the resource's ``History`` and then announced to subscribers
  (plain callbacks: the HTTP layer wakes its watchers; tests can count).
* Namespaced objects need their namespace (404 otherwise, like the NamespaceLifecycle admission
  plugin); deleting a namespace deletes its objects at once (the real namespace controller does
  it asynchronously after a Terminating phase; immediate deletion keeps tests deterministic).
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import orjson

from discofilter.clock import Clock, SystemClock
from discofilter.model import ADDED, DELETED, MODIFIED
from discofilter.sim import apierrors
from discofilter.sim.history import History, StoredEvent
from discofilter.sim.patch import PatchError, json_patch, merge_patch, strategic_merge_patch
from discofilter.sim.resources import RESOURCES, ResourceInfo

Obj = dict[str, Any]
Subscriber = Callable[[str, StoredEvent], None]

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
"""Label kube-apiserver stamps on every namespace (immutable, equals the name) since 1.21."""

_NS_MISMATCH = (
    "the namespace of the provided object does not match the namespace sent on the request"
)
_GENERATE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # apimachinery's utilrand alphabet


def _deepcopy(obj: Obj) -> Obj:
    # orjson round trip: ~4x faster than copy.deepcopy for 6 KB JSON-shaped objects.
    out: Obj = orjson.loads(orjson.dumps(obj))
    return out


class Store:
    """Objects of every resource in ``RESOURCES`` plus their bounded event histories."""

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        history_size: int = 100_000,
        seed: int | None = None,
    ) -> None:
        self.clock: Clock = clock or SystemClock()
        self.resource_version: int = 1
        """Invariant: equals the resourceVersion of the last committed change (1 when empty)."""
        self._objs: dict[str, dict[str, dict[str, Obj]]] = {r: {} for r in RESOURCES}
        self._counts: dict[str, int] = dict.fromkeys(RESOURCES, 0)
        """Invariant: ``_counts[r]`` == number of objects of r over all namespaces."""
        self._history: dict[str, History] = {
            r: History(history_size, compacted_rv=self.resource_version) for r in RESOURCES
        }
        self._subscribers: list[Subscriber] = []
        self._rng = random.Random(seed)
        self._ts_cache: tuple[int, str] = (-1, "")

    # --- plumbing ------------------------------------------------------------------------

    def history(self, resource: str) -> History:
        return self._history[self._info_name(resource)]

    def resize_history(self, size: int) -> None:
        for h in self._history.values():
            h.resize(size)

    def compact(self, resource: str | None = None) -> None:
        """Drop all history (of one resource, or all), like an etcd compaction at the current
        revision: watches and Exact lists from any older resourceVersion now get 410."""
        for name, h in self._history.items():
            if resource is None or name == resource:
                h.compact(self.resource_version)

    def subscribe(self, fn: Subscriber) -> Callable[[], None]:
        """Call ``fn(resource, event)`` after every committed change; returns the unsubscriber."""
        self._subscribers.append(fn)

        def unsubscribe() -> None:
            if fn in self._subscribers:
                self._subscribers.remove(fn)

        return unsubscribe

    def count(self, resource: str, namespace: str | None = None) -> int:
        if namespace is None:
            return self._counts[resource]
        return len(self._objs[resource].get(namespace, ()))

    def namespaces_of(self, resource: str) -> list[str]:
        """Namespaces that hold at least one object of ``resource``."""
        return [ns for ns, d in self._objs[resource].items() if d]

    def iter_objects(self, resource: str, namespace: str | None = None) -> Iterator[Obj]:
        """Stored objects (read-only), unordered."""
        by_ns = self._objs[resource]
        if namespace is not None:
            yield from by_ns.get(namespace, {}).values()
            return
        for d in by_ns.values():
            yield from d.values()

    def view(self, resource: str, namespace: str | None = None) -> dict[str, dict[str, Obj]]:
        """The live ``{namespace: {name: obj}}`` map (read-only), whole or for one namespace."""
        live = self._objs[resource]
        return live if namespace is None else {namespace: live.get(namespace, {})}

    def peek(self, resource: str, name: str, namespace: str | None = None) -> Obj | None:
        """The stored object (read-only, no copy) or None."""
        return self._objs[resource].get(namespace or "", {}).get(name)

    @staticmethod
    def _info_name(resource: str) -> str:
        if resource not in RESOURCES:
            raise apierrors.ApiError(
                404, f"the server could not find the requested resource ({resource})"
            )
        return resource

    def _info(self, resource: str) -> ResourceInfo:
        return RESOURCES[self._info_name(resource)]

    def _now(self) -> str:
        sec = int(self.clock.wall())
        if self._ts_cache[0] != sec:
            self._ts_cache = (sec, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(sec)))
        return self._ts_cache[1]

    def new_uid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def _commit(
        self, resource: str, type_: str, ns: str, name: str, obj: Obj, prev: Obj | None
    ) -> StoredEvent:
        ev = StoredEvent(self.resource_version, type_, ns, name, obj, prev)
        self._history[resource].append(ev)
        for fn in self._subscribers:
            fn(resource, ev)
        return ev

    def _scope(self, info: ResourceInfo, resource: str, obj: Obj, namespace: str | None) -> str:
        meta = obj.get("metadata") or {}
        if not info.namespaced:
            return ""
        ns = namespace or meta.get("namespace") or ""
        if not ns:
            raise apierrors.bad_request(_NS_MISMATCH)
        if meta.get("namespace") and namespace and meta["namespace"] != namespace:
            raise apierrors.bad_request(_NS_MISMATCH)
        return str(ns)

    # --- writes ------------------------------------------------------------------------

    def create(self, resource: str, obj: Obj, namespace: str | None = None) -> Obj:
        """Create ``obj`` (copied); 409 AlreadyExists, 404 when its namespace does not exist."""
        return _deepcopy(self.put_new(resource, _deepcopy(obj), namespace))

    def put_new(self, resource: str, obj: Obj, namespace: str | None = None) -> Obj:
        """``create`` without copying: the store takes ownership of ``obj`` (churn fast path)."""
        info = self._info(resource)
        ns = self._scope(info, resource, obj, namespace)
        meta = obj.setdefault("metadata", {})
        name = meta.get("name")
        if not name:
            gen = meta.get("generateName")
            if not gen:
                raise apierrors.invalid(
                    resource,
                    info.group,
                    "",
                    "metadata.name: Required value: name or generateName is required",
                )
            name = gen + "".join(self._rng.choice(_GENERATE_ALPHABET) for _ in range(5))
            meta["name"] = name
        if info.namespaced and ns not in self._objs["namespaces"].get("", {}):
            raise apierrors.not_found("namespaces", "", ns)
        bucket = self._objs[resource].setdefault(ns, {})
        if name in bucket:
            raise apierrors.already_exists(resource, info.group, name)
        obj = _stamp(info, obj)
        if info.namespaced:
            meta["namespace"] = ns
        meta["uid"] = meta.get("uid") or self.new_uid()
        meta["creationTimestamp"] = self._now()
        if resource != "namespaces" and resource != "nodes" and "spec" in obj:
            meta["generation"] = 1
        _normalize(resource, obj)
        if resource == "pods" and not (obj.get("status") or {}).get("phase"):
            # PodStrategy.PrepareForCreate: a new pod is Pending until a kubelet says otherwise.
            obj["status"] = dict(obj.get("status") or {}, phase="Pending")
        self.resource_version += 1
        meta["resourceVersion"] = str(self.resource_version)
        obj["metadata"] = _ordered_meta(meta)
        bucket[name] = obj
        self._counts[resource] += 1
        self._commit(resource, ADDED, ns, name, obj, None)
        return obj

    def update(self, resource: str, obj: Obj) -> Obj:
        """Replace an object (copied). A non-empty metadata.resourceVersion must be current (409
        Conflict otherwise); an empty one is an unconditional update, as for built-in kinds."""
        return _deepcopy(self.put_update(resource, _deepcopy(obj)))

    def put_update(self, resource: str, obj: Obj, namespace: str | None = None) -> Obj:
        """``update`` without copying: the store takes ownership of ``obj``."""
        info = self._info(resource)
        ns = self._scope(info, resource, obj, namespace)
        meta = obj.setdefault("metadata", {})
        name = meta.get("name", "")
        old = self._objs[resource].get(ns, {}).get(name)
        if old is None:
            raise apierrors.not_found(resource, info.group, name)
        want_rv = meta.get("resourceVersion")
        old_meta = old["metadata"]
        if want_rv and want_rv != old_meta["resourceVersion"]:
            raise apierrors.conflict(resource, info.group, name)
        if meta.get("uid") and meta["uid"] != old_meta["uid"]:
            raise apierrors.conflict(resource, info.group, name)
        obj = _stamp(info, obj)
        if info.namespaced:
            meta["namespace"] = ns
        meta["uid"] = old_meta["uid"]
        meta["creationTimestamp"] = old_meta["creationTimestamp"]
        if "generation" in old_meta:
            gen = old_meta["generation"]
            meta["generation"] = gen + 1 if obj.get("spec") != old.get("spec") else gen
        _normalize(resource, obj)
        meta["resourceVersion"] = old_meta["resourceVersion"]
        if obj == old:
            return old  # a no-op write: no new revision, no event (kube-apiserver does the same)
        self.resource_version += 1
        meta["resourceVersion"] = str(self.resource_version)
        obj["metadata"] = _ordered_meta(meta)
        self._objs[resource][ns][name] = obj
        self._commit(resource, MODIFIED, ns, name, obj, old)
        return obj

    def patch(self, resource: str, name: str, namespace: str | None, patch: Any, kind: str) -> Obj:
        """Apply a ``merge``, ``strategic`` or ``json`` patch; 404/409/422 like the real server.
        A patch that sets metadata.resourceVersion is a precondition (409 when stale)."""
        info = self._info(resource)
        ns = (namespace or "") if info.namespaced else ""
        old = self._objs[resource].get(ns, {}).get(name)
        if old is None:
            raise apierrors.not_found(resource, info.group, name)
        try:
            if kind == "merge":
                new = merge_patch(old, patch)
            elif kind == "strategic":
                new = strategic_merge_patch(old, patch)
            elif kind == "json":
                new = json_patch(old, patch)
            else:
                raise apierrors.ApiError(415, f"unsupported patch type {kind!r}")
        except (PatchError, ValueError, TypeError) as e:
            raise apierrors.ApiError(422, f"the patch could not be applied: {e}", "Invalid") from e
        if not isinstance(new, dict) or not isinstance(new.get("metadata"), dict):
            raise apierrors.invalid(resource, info.group, name, "patch removed metadata")
        new = _deepcopy(new)  # merge/strategic share unchanged subtrees with ``old``
        meta = new["metadata"]
        if meta.get("name") != name:
            raise apierrors.invalid(resource, info.group, name, "metadata.name: field is immutable")
        patch_meta = patch.get("metadata") if isinstance(patch, dict) else None
        if not (isinstance(patch_meta, dict) and patch_meta.get("resourceVersion")):
            meta["resourceVersion"] = old["metadata"]["resourceVersion"]
        return _deepcopy(self.put_update(resource, new, ns or None))

    def delete(self, resource: str, name: str, namespace: str | None = None) -> Obj:
        """Delete an object; returns its last state stamped with the deletion's revision (the
        same object the DELETED watch event carries). Deleting a namespace deletes its objects."""
        return _deepcopy(self.remove(resource, name, namespace))

    def remove(self, resource: str, name: str, namespace: str | None = None) -> Obj:
        """``delete`` without copying the result."""
        info = self._info(resource)
        ns = (namespace or "") if info.namespaced else ""
        bucket = self._objs[resource].get(ns, {})
        old = bucket.get(name)
        if old is None:
            raise apierrors.not_found(resource, info.group, name)
        if resource == "namespaces":
            for r, rinfo in RESOURCES.items():
                if rinfo.namespaced:
                    for child in list(self._objs[r].get(name, {})):
                        self.remove(r, child, name)
        del bucket[name]
        if not bucket and info.namespaced:
            del self._objs[resource][ns]
        self._counts[resource] -= 1
        self.resource_version += 1
        final = dict(old)
        final["metadata"] = dict(old["metadata"], resourceVersion=str(self.resource_version))
        self._commit(resource, DELETED, ns, name, final, old)
        return final

    def set_namespace_labels(self, name: str, labels: dict[str, str]) -> Obj:
        """Replace a namespace's labels (a real MODIFIED event). The name label is kept."""
        old = self.peek("namespaces", name)
        if old is None:
            raise apierrors.not_found("namespaces", "", name)
        new = dict(old)
        new["metadata"] = dict(old["metadata"], labels=dict(labels))
        new["metadata"].pop("resourceVersion", None)
        return _deepcopy(self.put_update("namespaces", new))

    # --- reads -------------------------------------------------------------------------

    def get(self, resource: str, name: str, namespace: str | None = None) -> Obj:
        info = self._info(resource)
        obj = self.peek(resource, name, namespace if info.namespaced else None)
        if obj is None:
            raise apierrors.not_found(resource, info.group, name)
        return _deepcopy(obj)

    def list(self, resource: str, namespace: str | None = None) -> tuple[list[Obj], int]:
        """Current objects sorted by (namespace, name), and the store's resourceVersion."""
        self._info(resource)
        return list(_sorted_items(self._objs[resource], namespace)), self.resource_version

    def snapshot(
        self, resource: str, namespace: str | None, rv: int
    ) -> dict[str, dict[str, Obj]] | None:
        """The objects of ``resource`` as they were at revision ``rv`` ({ns: {name: obj}}), by
        undoing newer history events; None when that history was trimmed (caller: 410).
        Dicts that did not change are the live ones: treat the result as read-only."""
        live = self._objs[resource]
        if namespace is not None:
            live = {namespace: live.get(namespace, {})}
        newer = self._history[resource].since(rv)
        if newer is None:
            return None
        view: dict[str, dict[str, Obj]] = dict(live)
        copied: set[str] = set()
        for ev in reversed(newer):
            if namespace is not None and ev.namespace != namespace:
                continue
            if ev.namespace not in copied:
                view[ev.namespace] = dict(view.get(ev.namespace, {}))
                copied.add(ev.namespace)
            bucket = view[ev.namespace]
            if ev.prev is None:
                bucket.pop(ev.name, None)
            else:
                bucket[ev.name] = ev.prev
        return view


def _sorted_items(by_ns: dict[str, dict[str, Obj]], namespace: str | None) -> Iterator[Obj]:
    if namespace is not None:
        d = by_ns.get(namespace, {})
        for name in sorted(d):
            yield d[name]
        return
    for ns in sorted(by_ns):
        d = by_ns[ns]
        for name in sorted(d):
            yield d[name]


def sorted_items(by_ns: dict[str, dict[str, Obj]], namespace: str | None = None) -> Iterator[Obj]:
    """Objects of a ``{ns: {name: obj}}`` view in key order (namespace, then name), as etcd."""
    return _sorted_items(by_ns, namespace)


# ObjectMeta's field order in Go, which is the order kube-apiserver serialises JSON in; keeping
# it makes byte-level benchmarks of the proxy honest (namespace sits early, managedFields last).
_META_ORDER = (
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
)


def _ordered_meta(meta: Obj) -> Obj:
    out: Obj = {k: meta[k] for k in _META_ORDER if k in meta}
    if len(out) != len(meta):
        for k, v in meta.items():
            out.setdefault(k, v)
    return out


def _stamp(info: ResourceInfo, obj: Obj) -> Obj:
    """``obj`` with kind and apiVersion first, the order kube-apiserver serialises them in."""
    if obj.get("kind") == info.kind and obj.get("apiVersion") == info.api_version:
        keys = iter(obj)
        if next(keys, None) == "kind" and next(keys, None) == "apiVersion":
            return obj
    out: Obj = {"kind": info.kind, "apiVersion": info.api_version}
    for k, v in obj.items():
        if k not in out:
            out[k] = v
    return out


def _normalize(resource: str, obj: Obj) -> None:
    """Defaults the real server applies on every write of these kinds."""
    if resource == "namespaces":
        meta = obj["metadata"]
        labels = meta.get("labels") or {}
        if labels.get(NAMESPACE_NAME_LABEL) != meta["name"]:
            meta["labels"] = dict(labels, **{NAMESPACE_NAME_LABEL: meta["name"]})
        obj.setdefault("spec", {"finalizers": ["kubernetes"]})
        obj.setdefault("status", {"phase": "Active"})
