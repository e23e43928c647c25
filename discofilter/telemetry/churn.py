"""Recent churn per namespace (events/s), the number SREs tune selectors by.

A sliding window of ``buckets`` one-``width`` buckets (default 10 x 1 s): rates react within a
second to a burst and forget it ten seconds later, long enough to see a CronJob-every-30s batch
tenant in at least one ``Status`` call out of three.

Memory is bounded by namespaces x buckets (10,000 namespaces x 10 buckets = 100,000 small ints at
most). The server counts per upstream chunk into a local dict and calls ``add_counts`` once per
chunk, so the clock is read once per chunk, not per event. Time comes from an injected ``Clock``.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Mapping

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

    def _bucket_index(self) -> int:
        return int(self._clock.monotonic() // self.width)

    def _rotate(self) -> None:
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
