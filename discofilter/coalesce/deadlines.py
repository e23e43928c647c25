"""When a hold queue's entries fall due: window and max-hold deadlines, and release marks (pure).

Per kind of deadline (window, max hold) a sorted *lane* and a min-heap of ``(deadline, seq)``,
and three watermarks over the queue's ``seq`` numbers. An entry is scheduled whenever it gets
a new ``seq`` (held, or merged forward), always with the newest ``seq`` of the stream, so an
entry whose deadline is no earlier than the lane's last goes to the end of the lane: both the
deadlines and the seqs of a lane are ascending. That is every new entry of a stream with one
window (``now`` never goes back), so the common case, an object seen once in its window, costs
two list appends and no heap work; finding what fell due is a bisection per ``advance``, not a
pop per entry ("batch release"). Merged entries keep their older deadline and go to the heap.

Items go stale when their entry merges forward or leaves the queue; they are skipped lazily (a
seq no longer held is stale), the lanes' consumed prefixes are cut off, and all is rebuilt from
the live entries when stale items outnumber them (``oversized``/``rebuild``): under a rate limit
the max-hold deadlines would otherwise keep ``max_hold_seconds`` worth of them (5 s x 6,000
events/s = 30,000).
"""

from __future__ import annotations

import heapq
from bisect import bisect_right
from collections.abc import Container, Iterable

from discofilter.coalesce.held import OBJECT, Held

# A lane's consumed prefix is cut off once it is this long and at least half the lane.
_COMPACT_AT = 1024


class _Lane:
    """Deadlines scheduled in ascending order (and so ascending seqs): ``times[head:]`` and
    ``seqs[head:]`` are the items not yet consumed."""

    __slots__ = ("head", "seqs", "times")

    def __init__(self) -> None:
        self.times: list[float] = []
        self.seqs: list[int] = []
        self.head = 0

    def __len__(self) -> int:
        return len(self.times) - self.head

    def passed(self, now: float, held: Container[int]) -> int:
        """Consume every item with a deadline <= ``now``; the newest live seq among them, or 0."""
        times, head = self.times, self.head
        if head == len(times) or times[head] > now:
            return 0
        stop = bisect_right(times, now, head)
        seqs = self.seqs
        found = 0
        for i in range(stop - 1, head - 1, -1):  # newest first: usually the first one is live
            if seqs[i] in held:
                found = seqs[i]
                break
        self.head = stop
        if stop >= _COMPACT_AT and 2 * stop >= len(times):
            del times[:stop], seqs[:stop]
            self.head = 0
        return found

    def earliest(self, held: Container[int]) -> float | None:
        times, seqs = self.times, self.seqs
        head = self.head
        while head < len(times) and seqs[head] not in held:
            head += 1
        self.head = head
        return times[head] if head < len(times) else None

    def clear(self) -> None:
        self.times.clear()
        self.seqs.clear()
        self.head = 0


class Deadlines:
    """Invariants (watermarks only grow): every held entry with ``seq <= due_upto`` has been
    pulled by a due entry behind it (it may go, with a token under a rate limit); every entry
    with ``seq <= must_upto`` (max hold passed) or ``seq <= release_upto`` (an ERROR or the end
    of the initial events behind it) goes whatever the tokens."""

    __slots__ = (
        "_due_lane",
        "_must_lane",
        "_with_max_hold",
        "due_heap",
        "due_upto",
        "must_heap",
        "must_upto",
        "release_upto",
    )

    def __init__(self, with_max_hold: bool) -> None:
        """``with_max_hold``: the stream is rate-limited, so max-hold deadlines matter."""
        self._with_max_hold = with_max_hold
        self.due_heap: list[tuple[float, int]] = []
        """Entries with a window > 0 (the "pull" rule) out of the due lane's order."""
        self.must_heap: list[tuple[float, int]] = []
        """Max-hold deadlines out of the must lane's order; only when rate-limited."""
        self._due_lane = _Lane()
        self._must_lane = _Lane()
        self.due_upto = 0
        self.must_upto = 0
        self.release_upto = 0

    def schedule(self, h: Held, moved: bool = False) -> None:
        """``h`` (new, or just ``moved`` to a new seq by a merge) gets its deadlines. ``h.seq``
        must be the newest seq of the stream (it is: entries get a seq only when an event
        arrives). A moved entry keeps its older deadlines: it goes to the heaps directly."""
        due = h.due
        if due > h.first_held:
            lane = self._due_lane
            times = lane.times
            if not moved and (not times or due >= times[-1] or len(times) == lane.head):
                times.append(due)
                lane.seqs.append(h.seq)
            else:
                heapq.heappush(self.due_heap, (due, h.seq))
        if self._with_max_hold:
            lane = self._must_lane
            times = lane.times
            if not moved and (not times or h.must >= times[-1] or len(times) == lane.head):
                times.append(h.must)
                lane.seqs.append(h.seq)
            else:
                heapq.heappush(self.must_heap, (h.must, h.seq))

    def advance(self, now: float, held: Container[int]) -> None:
        """Move the watermarks over every live deadline passed by ``now``."""
        self.due_upto = _passed(self._due_lane, self.due_heap, self.due_upto, now, held)
        if self._with_max_hold:
            self.must_upto = _passed(self._must_lane, self.must_heap, self.must_upto, now, held)

    def earliest_due(self, held: Container[int]) -> float | None:
        return _min(self._due_lane.earliest(held), _earliest(self.due_heap, held))

    def earliest_must(self, held: Container[int]) -> float | None:
        return _min(self._must_lane.earliest(held), _earliest(self.must_heap, held))

    def oversized(self, held: int) -> bool:
        due, must = self._due_lane, self._must_lane
        items = len(due.times) - due.head + len(must.times) - must.head
        return items + len(self.due_heap) + len(self.must_heap) > 4 * held + 256

    def rebuild(self, entries: Iterable[Held]) -> None:
        """Heaps from the live entries only: O(held)."""
        live = [h for h in entries if h.role == OBJECT]
        self._due_lane.clear()
        self._must_lane.clear()
        self.due_heap = [(h.due, h.seq) for h in live if h.due > h.first_held]
        heapq.heapify(self.due_heap)
        if self._with_max_hold:
            self.must_heap = [(h.must, h.seq) for h in live]
            heapq.heapify(self.must_heap)

    def clear(self) -> None:
        self.due_heap.clear()
        self.must_heap.clear()
        self._due_lane.clear()
        self._must_lane.clear()


def _earliest(heap: list[tuple[float, int]], held: Container[int]) -> float | None:
    while heap and heap[0][1] not in held:
        heapq.heappop(heap)
    return heap[0][0] if heap else None


def _min(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    return a if b is None or a <= b else b


def _passed(
    lane: _Lane, heap: list[tuple[float, int]], upto: int, now: float, held: Container[int]
) -> int:
    """``upto`` moved over the live deadlines of ``lane`` and ``heap`` passed by ``now``."""
    if lane.head < len(lane.times) and lane.times[lane.head] <= now:  # the lane's fast exit
        upto = max(upto, lane.passed(now, held))
    while heap and heap[0][0] <= now:
        _, s = heapq.heappop(heap)
        if s > upto and s in held:
            upto = s
    return upto
