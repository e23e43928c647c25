"""The bounded per-resource event history every watch reads from (pure).

Policy: one append-only list of ``StoredEvent`` per resource, ordered by resourceVersion, trimmed
from the front once it holds more than ``capacity`` events. Watchers keep an absolute cursor into
it instead of a private queue, so an event is stored once and, on the fast path, encoded once per
content type however many watchers read it (``StoredEvent.encoded``). A cursor that falls behind
the trimmed front can no longer be served: the watch ends with a 410 Expired ERROR event and the
client relists, the same contract as kube-apiserver's watch cache.

Encoded frames are kept only for the newest ``ENCODE_WINDOW`` events (4,096 x ~7 KB = ~28 MB);
caching them for a 100,000-event history would hold ~700 MB. A watcher further behind than the
window re-encodes what it reads, which only a lagging watcher pays.

Trimming deletes a slice only every ``capacity // 8`` appends (at least 1), so the amortised cost
of a 100,000-event history is ~8 pointer moves per event instead of 100,000.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any

ENCODE_WINDOW = 4096


@dataclass(slots=True, eq=False)
class StoredEvent:
    """One committed change. ``obj`` is the object after the change (for DELETED: the last state,
    stamped with the deletion's resourceVersion); ``prev`` the state before (None for ADDED).
    Both dicts are immutable once stored."""

    rv: int
    type: str
    namespace: str
    name: str
    obj: dict[str, Any]
    prev: dict[str, Any] | None
    encoded: dict[str, bytes] | None = None
    """Watch-frame bytes per encoding name, filled lazily by the first unfiltered reader."""


class History:
    """Events of one resource, oldest first, bounded to about ``capacity``."""

    def __init__(self, capacity: int, compacted_rv: int = 0) -> None:
        self.capacity = max(1, capacity)
        self._items: list[StoredEvent] = []
        self._rvs: list[int] = []
        self._base = 0
        """Absolute index of ``_items[0]``; absolute indexes never change meaning."""
        self.compacted_rv = compacted_rv
        """Invariant: every event with rv > compacted_rv is still in ``_items``."""

    @property
    def start(self) -> int:
        """Absolute index of the oldest retained event."""
        return self._base

    @property
    def end(self) -> int:
        """Absolute index the next appended event will get."""
        return self._base + len(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def append(self, ev: StoredEvent) -> None:
        self._items.append(ev)
        self._rvs.append(ev.rv)
        if len(self._items) > ENCODE_WINDOW:
            self._items[-ENCODE_WINDOW - 1].encoded = None
        slack = max(1, self.capacity // 8)
        if len(self._items) >= self.capacity + slack:
            self._trim(len(self._items) - self.capacity)

    def resize(self, capacity: int) -> None:
        self.capacity = max(1, capacity)
        if len(self._items) > self.capacity:
            self._trim(len(self._items) - self.capacity)

    def compact(self, rv: int) -> None:
        """Forget every event (capacity unchanged); nothing at or before ``rv`` is servable."""
        if self._items:
            self._trim(len(self._items))
        self.compacted_rv = max(self.compacted_rv, rv)

    def _trim(self, n: int) -> None:
        self.compacted_rv = self._rvs[n - 1]
        del self._items[:n]
        del self._rvs[:n]
        self._base += n

    def index_after(self, rv: int) -> int | None:
        """Absolute index of the first event with resourceVersion > ``rv``, or None when events
        after ``rv`` have been trimmed (the caller answers 410 Expired)."""
        if rv < self.compacted_rv:
            return None
        return self._base + bisect.bisect_right(self._rvs, rv)

    def read(self, index: int, limit: int) -> list[StoredEvent] | None:
        """Up to ``limit`` events from absolute ``index``; None when ``index`` was trimmed."""
        if index < self._base:
            return None
        off = index - self._base
        return self._items[off : off + limit]

    def since(self, rv: int) -> list[StoredEvent] | None:
        """Every retained event with rv > ``rv``, oldest first; None when some were trimmed."""
        idx = self.index_after(rv)
        if idx is None:
            return None
        return self._items[idx - self._base :]

    @property
    def oldest_rv(self) -> int:
        return self._rvs[0] if self._rvs else self.compacted_rv
