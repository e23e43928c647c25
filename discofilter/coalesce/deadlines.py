"""When a hold queue's entries fall due: window and max-hold deadlines, and release marks (pure).

Two min-heaps of ``(deadline, seq)`` and three watermarks over the queue's ``seq`` numbers. Heap
items go stale when their entry merges forward or is delivered; they are skipped lazily (a seq
no longer held is stale) and the heaps are rebuilt from the live entries when stale items
outnumber them (``oversized``/``rebuild``): under a rate limit the must-heap would otherwise keep
``max_hold_seconds`` worth of them (5 s x 6,000 events/s = 30,000).
"""

from __future__ import annotations

import heapq
from collections.abc import Container, Iterable

from discofilter.coalesce.held import OBJECT, Held


class Deadlines:
    """Invariants (watermarks only grow): every held entry with ``seq <= due_upto`` has been
    pulled by a due entry behind it (it may go, with a token under a rate limit); every entry
    with ``seq <= must_upto`` (max hold passed) or ``seq <= release_upto`` (an ERROR or the end
    of the initial events behind it) goes whatever the tokens."""

    __slots__ = ("_with_max_hold", "due_heap", "due_upto", "must_heap", "must_upto", "release_upto")

    def __init__(self, with_max_hold: bool) -> None:
        """``with_max_hold``: the stream is rate-limited, so max-hold deadlines matter."""
        self._with_max_hold = with_max_hold
        self.due_heap: list[tuple[float, int]] = []
        """Entries with a window > 0 (the "pull" rule)."""
        self.must_heap: list[tuple[float, int]] = []
        """Max-hold deadlines; only when rate-limited."""
        self.due_upto = 0
        self.must_upto = 0
        self.release_upto = 0

    def schedule(self, h: Held) -> None:
        """``h`` (new, or just moved to a new seq) gets its deadlines."""
        if h.due > h.first_held:
            heapq.heappush(self.due_heap, (h.due, h.seq))
        if self._with_max_hold:
            heapq.heappush(self.must_heap, (h.must, h.seq))

    def advance(self, now: float, held: Container[int]) -> None:
        """Move the watermarks over every live deadline passed by ``now``."""
        due_heap = self.due_heap
        while due_heap and due_heap[0][0] <= now:
            _, s = heapq.heappop(due_heap)
            if s > self.due_upto and s in held:
                self.due_upto = s
        must_heap = self.must_heap
        while must_heap and must_heap[0][0] <= now:
            _, s = heapq.heappop(must_heap)
            if s > self.must_upto and s in held:
                self.must_upto = s

    def earliest_due(self, held: Container[int]) -> float | None:
        return _earliest(self.due_heap, held)

    def earliest_must(self, held: Container[int]) -> float | None:
        return _earliest(self.must_heap, held)

    def oversized(self, held: int) -> bool:
        return len(self.due_heap) + len(self.must_heap) > 4 * held + 256

    def rebuild(self, entries: Iterable[Held]) -> None:
        """Heaps from the live entries only: O(held)."""
        live = [h for h in entries if h.role == OBJECT]
        self.due_heap = [(h.due, h.seq) for h in live if h.due > h.first_held]
        heapq.heapify(self.due_heap)
        if self._with_max_hold:
            self.must_heap = [(h.must, h.seq) for h in live]
            heapq.heapify(self.must_heap)

    def clear(self) -> None:
        self.due_heap.clear()
        self.must_heap.clear()


def _earliest(heap: list[tuple[float, int]], held: Container[int]) -> float | None:
    while heap and heap[0][1] not in held:
        heapq.heappop(heap)
    return heap[0][0] if heap else None
