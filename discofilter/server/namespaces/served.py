"""Which enrollment each resourceVersion handed to a client was filtered under.

A client's state at version X came from a filtered LIST (or a watch stream that ended at X).
If the proxy applied an enrollment flip *after* filtering it, that state may be stale even when
the flip's own resourceVersion F is <= X: the namespace watch lagged the LIST (or the stream),
so X was filtered under the old enrollment. ``resumes_before_flip`` (X < F) cannot see that
case; this record can: a watch resuming from X is ended with 410 when the enrollment generation
has moved since X was served (contract 3).

Bounded: the newest ``capacity`` versions are kept (a version is a few dozen bytes); an unknown
version falls back to the X < F rule. Per worker: with ``--workers N`` a LIST served by one
worker and a WATCH by another is checked by the fallback only (docs/proxy.md).
"""

from __future__ import annotations

from collections import OrderedDict

DEFAULT_CAPACITY = 16_384
"""Versions remembered: covers a relist storm of ~16k clients (one LIST each) per worker."""


class ServedVersions:
    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self._gen: OrderedDict[str, int] = OrderedDict()
        """Invariant: version -> the OLDEST enrollment generation any response ending at that
        version was filtered under (pages of one list share a version; keep the worst)."""

    def record(self, resource_version: str, generation: int) -> None:
        if not resource_version:
            return
        old = self._gen.pop(resource_version, None)
        self._gen[resource_version] = generation if old is None else min(old, generation)
        if len(self._gen) > self.capacity:
            self._gen.popitem(last=False)

    def generation_of(self, resource_version: str) -> int | None:
        return self._gen.get(resource_version)

    def __len__(self) -> int:
        return len(self._gen)
