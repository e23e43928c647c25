"""The window: recent frames for resumes, bounded in events and bytes (pure).

Like kube-apiserver's ``watchCache`` cyclic buffer, it answers "every frame after RV r" while r
is covered. Invariants:

* ``_rvs[_start:]`` is strictly increasing, and ``_frames[i]`` is the frame of ``_rvs[i]``;
* ``floor`` (never decreasing) is the oldest RV a resume may name: a client at RV
  ``r >= floor`` has missed nothing the window lacks. Evicting the frame at RV e sets
  ``floor = e`` (a client at e saw it); a ``barrier`` (enrollment flip) sets
  ``floor = head + 1``: nobody who resumes from an RV at or before the barrier may continue,
  because what they hold was filtered under an enrollment the cache no longer has (contract 3);
  a ``reset`` (relist at RV R) sets ``floor = R``;
* live frames are held while both ``len <= max_events`` and ``bytes <= max_bytes``: the window is
  the longest suffix of the events since the last barrier that fits both bounds.
"""

from __future__ import annotations

from bisect import bisect_right


class Window:
    """A bounded, append-only run of (RV, frame) with O(log n) lookup by RV."""

    __slots__ = ("_frames", "_rvs", "_start", "_times", "bytes", "floor", "max_bytes", "max_events")

    def __init__(self, max_events: int, max_bytes: int, floor: int = 0) -> None:
        self.max_events = max_events
        self.max_bytes = max_bytes
        self.floor = floor
        self._rvs: list[int] = []
        self._frames: list[bytes] = []
        self._times: list[float] = []  # monotonic arrival time of each frame (window span metric)
        self._start = 0
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._rvs) - self._start

    def append(self, rv: int, frame: bytes, at: float = 0.0) -> None:
        if len(self) and rv <= self._rvs[-1]:
            raise ValueError(f"window RV {rv} is not after {self._rvs[-1]}")
        self._rvs.append(rv)
        self._frames.append(frame)
        self._times.append(at)
        self.bytes += len(frame)
        while len(self) and (len(self) > self.max_events or self.bytes > self.max_bytes):
            self._evict_oldest()

    def _evict_oldest(self) -> None:
        i = self._start
        self.bytes -= len(self._frames[i])
        self.floor = max(self.floor, self._rvs[i])
        self._frames[i] = b""
        self._start += 1
        # Compact when the dead prefix is half the list: amortised O(1) per event.
        if self._start > 1024 and self._start * 2 > len(self._rvs):
            del self._rvs[: self._start]
            del self._frames[: self._start]
            del self._times[: self._start]
            self._start = 0

    def barrier(self, head: int) -> None:
        """Forget everything: resumes from any RV <= ``head`` are answered 410 from now on."""
        self._rvs.clear()
        self._frames.clear()
        self._times.clear()
        self._start = 0
        self.bytes = 0
        self.floor = max(self.floor, head + 1)

    def reset(self, floor: int) -> None:
        """Forget everything after a relist at RV ``floor``: a client at ``floor`` may resume."""
        self.barrier(floor - 1)

    def covers(self, rv: int) -> bool:
        """Whether a client at ``rv`` can resume from here (else: 410 Expired)."""
        return rv >= self.floor

    def since(self, rv: int) -> list[bytes]:
        """The frames after ``rv``, oldest first; only meaningful when ``covers(rv)``."""
        i = bisect_right(self._rvs, rv, self._start)
        return self._frames[i:]

    def span_seconds(self, now: float) -> float:
        """How far back the window reaches: ``now`` minus its oldest arrival (0 when empty)."""
        return now - self._times[self._start] if len(self) else 0.0

    @property
    def oldest_rv(self) -> int | None:
        return self._rvs[self._start] if len(self) else None
