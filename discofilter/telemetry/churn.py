"""Recent churn per namespace (events/s), the number SREs tune selectors by.

A sliding window of ``buckets`` one-``width`` buckets (default 10 x 1 s): rates react within a
second to a burst and forget it ten seconds later, long enough to see a CronJob-every-30s batch
tenant in at least one ``Status`` call out of three.

Memory is bounded by namespaces x buckets (10,000 namespaces x 10 buckets = 100,000 small ints at
most). Each open stream counts into a dict of its own (``WatchFilter.churn``) and registers a
``take`` function (``track``); the meter takes those counts whenever it rotates or is read, so an
upstream read costs one dict update and no clock read (``add_counts`` per read was ~1.5 µs).
Counts land in the bucket that was current when they were last taken, so someone must rotate
at least once per bucket: the proxy runs ``run_ticks`` (a stream that ends hands over its rest
with ``add_counts``). Time comes from an injected ``Clock``.
"""

from __future__ import annotations

import asyncio
from collections import Counter, deque
from collections.abc import Callable, Mapping

from discofilter.clock import Clock, SystemClock


class ChurnMeter:
    def __init__(self, clock: Clock | None = None, width: float = 1.0, buckets: int = 10) -> None:
        if width <= 0 or buckets < 1:
            raise ValueError("width must be > 0 and buckets >= 1")
        self._clock = clock or SystemClock()
        self.width = width
        self.buckets = buckets
        self._started = self._clock.monotonic()
        self._index = self._bucket_index()
        self._current: Counter[str] = Counter()
        # Invariant: indexes strictly increase and all are > self._index - self.buckets after
        # _rotate(); the current bucket is not in the deque.
        self._past: deque[tuple[int, Counter[str]]] = deque()
        self._sources: dict[Callable[[], Mapping[str, int]], None] = {}
        """The open streams' ``take`` functions (insertion-ordered set)."""

    def track(self, take: Callable[[], Mapping[str, int]]) -> None:
        """Read ``take()`` (counts since its last call) at every rotation from now on."""
        self._sources[take] = None

    def untrack(self, take: Callable[[], Mapping[str, int]]) -> None:
        self._sources.pop(take, None)

    async def run_ticks(self) -> None:
        """Rotate once per bucket width, forever: the tracked counts land in their bucket.
        Paced by the event loop, not the injected clock: the rotation reads that clock, and a
        test's fake clock keeps only the sleepers it expects."""
        while True:
            await asyncio.sleep(self.width)
            self._rotate()

    def _bucket_index(self) -> int:
        return int(self._clock.monotonic() // self.width)

    def _rotate(self) -> None:
        current = self._current
        for take in self._sources:
            if counts := take():
                current.update(counts)
        idx = self._bucket_index()
        if idx != self._index:
            if self._current:
                self._past.append((self._index, self._current))
            self._current = Counter()
            self._index = idx
        oldest = idx - self.buckets
        while self._past and self._past[0][0] <= oldest:
            self._past.popleft()

    def add(self, namespace: str, n: int = 1) -> None:
        self._rotate()
        self._current[namespace] += n

    def add_counts(self, counts: Mapping[str, int]) -> None:
        """Add one chunk's per-namespace counts."""
        self._rotate()
        self._current.update(counts)

    def rates(self) -> dict[str, float]:
        """Events/s per namespace over the window (or since start, if that is shorter)."""
        self._rotate()
        total: Counter[str] = Counter(self._current)
        for _, c in self._past:
            total.update(c)
        now = self._clock.monotonic()
        # The window covers the current (partial) bucket and the buckets-1 before it; a span
        # under one bucket width would turn a single event into a huge rate right after start.
        window_start = max(self._started, (self._index - self.buckets + 1) * self.width)
        span = max(now - window_start, self.width)
        return {ns: n / span for ns, n in total.items() if n}
