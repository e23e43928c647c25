"""Coalescing counters per kind: plain ints and floats, exported by the server (no Prometheus here).

One ``CoalesceStats`` is shared by every watch stream of one kind, so each ``Coalescer`` updates it
incrementally (``held_now`` goes up and down, it is never assigned). Conservation, checked by the
property test at every step:

    events_in == forwarded + coalesced + suppressed + 2 * vanished + held_now + discarded

Hold times are measured from the arrival of the OLDEST event folded into a delivered event (how
stale the client's view of that object was allowed to get), in seconds of the injected clock.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import asdict, dataclass, field
from typing import Any

HOLD_BUCKETS: tuple[float, ...] = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
"""Upper bounds (seconds) of the hold-time histogram; brackets the 0.25 s default window and the
5 s default maximum hold. A last implicit +Inf bucket follows."""


@dataclass(slots=True)
class CoalesceStats:
    """Counters of one kind (all streams). Every field is a total since start unless noted."""

    kind: str = ""
    events_in: int = 0
    """Events pushed, of every type (BOOKMARK and ERROR included)."""
    forwarded: int = 0
    """Events handed to the client writer (after merging and retyping)."""
    coalesced: int = 0
    """Events absorbed by a newer event of the same object (or an older bookmark by a newer one)."""
    suppressed: int = 0
    """MODIFIED events dropped as semantic no-ops (``suppress_noop``)."""
    vanished: int = 0
    """ADDED+DELETED pairs the client never saw, dropped together (2 events each)."""
    held_now: int = 0
    """Gauge: events held right now across all streams of this kind."""
    discarded: int = 0
    """Held events dropped because the client went away (``Coalescer.discard``)."""
    longest_hold_seconds: float = 0.0
    """High-water mark of the hold time of a delivered event."""
    forced_by_max_hold: int = 0
    """Times ``max_hold_seconds`` released held events that the rate limit would still hold."""
    rate_limited: int = 0
    """Times delivery stopped because the token bucket was empty."""
    retype_failures: int = 0
    """Later states of an undelivered ADDED whose frame could not be re-typed: the ADDED went as
    it came and they followed as a MODIFIED (never a MODIFIED of an object the client lacks)."""
    hold_seconds_sum: float = 0.0
    hold_count: int = 0
    hold_buckets: list[int] = field(default_factory=lambda: [0] * (len(HOLD_BUCKETS) + 1))
    """Per-bucket (non-cumulative) counts of hold times; index len(HOLD_BUCKETS) is +Inf."""

    def observe_hold(self, seconds: float) -> None:
        self.hold_seconds_sum += seconds
        self.hold_count += 1
        self.hold_buckets[bisect_left(HOLD_BUCKETS, seconds)] += 1
        if seconds > self.longest_hold_seconds:
            self.longest_hold_seconds = seconds

    def cumulative_buckets(self) -> list[tuple[float, int]]:
        """Cumulative ``(le, count)`` pairs ending with ``(inf, hold_count)`` (Prometheus)."""
        out: list[tuple[float, int]] = []
        total = 0
        for le, n in zip((*HOLD_BUCKETS, float("inf")), self.hold_buckets, strict=True):
            total += n
            out.append((le, total))
        return out

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class CoalesceStatsTable:
    """One ``CoalesceStats`` per kind, created on first use (the server iterates it to export)."""

    def __init__(self) -> None:
        self._by_kind: dict[str, CoalesceStats] = {}

    def get(self, kind: str) -> CoalesceStats:
        stats = self._by_kind.get(kind)
        if stats is None:
            stats = self._by_kind[kind] = CoalesceStats(kind=kind)
        return stats

    def items(self) -> list[tuple[str, CoalesceStats]]:
        return sorted(self._by_kind.items())
