"""Replay a recorded trace into the emulator's ``Store`` at 1x or Nx speed.

Policy:
* Event i is applied ``(ts_i - ts_0) / speed`` seconds after the start, on the injected clock;
  events due at the same instant are applied back to back (a burst stays a burst).
* The store assigns resourceVersions: a trace's own versions belong to another cluster's etcd and
  are dropped. uids are kept, so a re-creation in the trace is a re-creation in the emulator.
* Writes are made idempotent against a trace that starts mid-stream: ADDED of an existing object
  updates it, MODIFIED of a missing one creates it, DELETED of a missing one is skipped, a
  namespace an object needs is created (unlabelled) first. Each such repair is counted.
* Namespace events replay too, labels included, so a trace of a relabel storm replays as one.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Iterable
from typing import Any

from discofilter.clock import Clock, SystemClock
from discofilter.harness.trace import TraceEvent
from discofilter.sim.apierrors import ApiError
from discofilter.sim.resources import RESOURCES
from discofilter.sim.store import Store

# Server-owned metadata the emulator sets itself.
_DROP_META = ("resourceVersion", "creationTimestamp", "generation", "managedFields", "selfLink")


def _clean(obj: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    meta = out.setdefault("metadata", {})
    for k in _DROP_META:
        meta.pop(k, None)
    meta.pop("deletionTimestamp", None)
    return out


class TraceReplayer:
    """Applies ``events`` (sorted by ts) to ``store``; ``counts`` says what was applied."""

    def __init__(
        self,
        store: Store,
        events: Iterable[TraceEvent],
        *,
        speed: float = 1.0,
        clock: Clock | None = None,
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be > 0")
        self.store = store
        self.events = sorted(events, key=lambda e: e.ts)
        self.speed = speed
        self.clock: Clock = clock or SystemClock()
        self.counts: Counter[str] = Counter()
        """``<kind>/<TYPE>`` applied, plus ``repair/...`` and ``skipped/<kind>`` tallies."""

    async def run(self, duration: float | None = None) -> Counter[str]:
        """Replay until the trace ends or ``duration`` seconds pass; return ``counts``."""
        if not self.events:
            return self.counts
        t0 = self.events[0].ts
        start = self.clock.monotonic()
        for ev in self.events:
            due = (ev.ts - t0) / self.speed
            if duration is not None and due > duration:
                break
            wait = due - (self.clock.monotonic() - start)
            if wait > 0:
                await self.clock.sleep(wait)
            self.apply(ev)
        return self.counts

    def apply_all(self) -> Counter[str]:
        """Apply every event at once (a trace's initial state)."""
        for ev in self.events:
            self.apply(ev)
        return self.counts

    def apply(self, ev: TraceEvent) -> None:
        kind = ev.kind
        if kind not in RESOURCES:
            self.counts[f"skipped/{kind}"] += 1
            return
        obj = _clean(ev.object)
        meta = obj["metadata"]
        name = meta.get("name", "")
        ns = meta.get("namespace") if RESOURCES[kind].namespaced else None
        if ns:
            self._ensure_namespace(ns)
        exists = self.store.peek(kind, name, ns) is not None
        try:
            if ev.type == "DELETED":
                if not exists:
                    self.counts["repair/delete-missing"] += 1
                    return
                self.store.remove(kind, name, ns)
            elif ev.type in ("ADDED", "MODIFIED"):
                if exists:
                    self._update(kind, obj, ns)
                else:
                    if ev.type == "MODIFIED":
                        self.counts["repair/modify-missing"] += 1
                    self.store.put_new(kind, obj, ns)
            else:
                self.counts[f"skipped/{ev.type}"] += 1
                return
        except ApiError:
            self.counts[f"errors/{kind}"] += 1
            return
        self.counts[f"{kind}/{ev.type}"] += 1

    def _update(self, kind: str, obj: dict[str, Any], ns: str | None) -> None:
        old = self.store.peek(kind, obj["metadata"]["name"], ns)
        assert old is not None
        uid = obj["metadata"].get("uid")
        if uid and uid != old["metadata"]["uid"]:
            # The trace re-created the object while we missed the DELETED: do both.
            self.counts["repair/recreate"] += 1
            self.store.remove(kind, obj["metadata"]["name"], ns)
            self.store.put_new(kind, obj, ns)
            return
        self.store.put_update(kind, obj, ns)

    def _ensure_namespace(self, ns: str) -> None:
        if self.store.peek("namespaces", ns) is None:
            self.store.put_new("namespaces", {"metadata": {"name": ns}})
            self.counts["repair/namespace-created"] += 1
