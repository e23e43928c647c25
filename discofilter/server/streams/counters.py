"""Counting: one counter object per stream, folded into one per-kind sink when read.

``StreamCounters`` is the only place a stream counts (events in, dropped, out, coalesced,
bytes): plain ints, added to on the hot path and nothing else. ``take`` hands the difference
since the last call to the ``CounterSink``; it is called when the totals are read (a scrape of
``/metrics``, the admin ``Status``: ``KindTotals.sync`` walks the open streams) and once when
the stream ends. So no path (a timer release, a flush, a write that failed halfway) loses
counts, nothing is reported twice, and an upstream read costs a few integer additions.

``KindTotals`` is the sink the registry owns: cumulative counts per kind (closed and open
streams alike, as of the read), forwarded to Prometheus (``discofilter_events_*``) when a
``Metrics`` is given. The admin state reads it instead of walking the open streams.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Protocol

from discofilter.server.streams.ending import EndReason

if TYPE_CHECKING:
    from discofilter.metrics import KindMetrics, Metrics

FIELDS = ("events_in", "dropped", "events_out", "coalesced", "bytes_in", "bytes_out")


class StreamCounters:
    """What one stream counted. Mutated only on the event loop."""

    __slots__ = (
        "_reported",
        "bytes_in",
        "bytes_out",
        "coalesced",
        "dropped",
        "events_in",
        "events_out",
    )

    def __init__(self) -> None:
        self.events_in = 0
        """Frames decoded from the upstream (BOOKMARK and ERROR included)."""
        self.dropped = 0
        """Object events filtered out (namespace not enrolled)."""
        self.events_out = 0
        """Events written to the client."""
        self.coalesced = 0
        """Events the coalescing stage merged into a newer one."""
        self.bytes_in = 0
        self.bytes_out = 0
        self._reported = (0, 0, 0, 0, 0, 0)
        """Invariant: the values (in FIELDS order) as of the last ``take``."""

    def values(self) -> tuple[int, int, int, int, int, int]:
        return (
            self.events_in, self.dropped, self.events_out,
            self.coalesced, self.bytes_in, self.bytes_out,
        )  # fmt: skip

    def take(self) -> tuple[int, int, int, int, int, int] | None:
        """The counts since the last call (FIELDS order), or None when nothing changed."""
        now = self.values()
        if now == self._reported:
            return None
        before, self._reported = self._reported, now
        return (
            now[0] - before[0], now[1] - before[1], now[2] - before[2],
            now[3] - before[3], now[4] - before[4], now[5] - before[5],
        )  # fmt: skip


class CounterSink(Protocol):
    """Where a stream's counts go: when the totals are read, and when the stream ends."""

    def add(self, kind: str, delta: tuple[int, int, int, int, int, int]) -> None:
        """One report of ``StreamCounters.take`` for a stream of ``kind``."""

    def ended(self, kind: str, reason: EndReason) -> None:
        """A stream of ``kind`` ended."""


class KindTotals:
    """Cumulative counts per kind since start; the registry's ``CounterSink``."""

    def __init__(
        self,
        metrics: Metrics | None = None,
        live: Callable[[], Iterable[tuple[str, StreamCounters]]] | None = None,
    ) -> None:
        self._live = live
        """The open streams' (kind, counters), folded in by ``sync``."""
        self._metrics: Metrics | None = None
        self._kinds: dict[str, KindMetrics] = {}
        self._totals: dict[str, dict[str, int]] = {}
        """Invariant: kind -> FIELDS (+ slow_client_closures) summed over every report."""
        self.use_metrics(metrics)

    def use_metrics(self, metrics: Metrics | None) -> None:
        """Report to ``metrics`` from now on (the totals so far are kept)."""
        self._metrics = metrics
        self._kinds = {}
        if metrics is not None:
            metrics.on_scrape(self.sync)

    def sync(self) -> None:
        """Fold what every open stream counted since its last report into the totals."""
        if self._live is None:
            return
        for kind, counters in self._live():
            if (delta := counters.take()) is not None:
                self.add(kind, delta)

    def add(self, kind: str, delta: tuple[int, int, int, int, int, int]) -> None:
        t = self._totals.get(kind)
        if t is None:
            t = self._totals[kind] = dict.fromkeys(FIELDS, 0)
        for name, n in zip(FIELDS, delta, strict=True):
            t[name] += n
        km = self._kind_metrics(kind)
        if km is not None:
            events_in, dropped, events_out, coalesced, bytes_in, bytes_out = delta
            km.add(
                in_enrolled=events_in - dropped, in_other=dropped, out_enrolled=events_out,
                coalesced_enrolled=coalesced, suppressed=dropped,
                bytes_in=bytes_in, bytes_out=bytes_out,
            )  # fmt: skip

    def ended(self, kind: str, reason: EndReason) -> None:
        if reason is not EndReason.CLIENT_TOO_SLOW:
            return
        t = self._totals.setdefault(kind, dict.fromkeys(FIELDS, 0))
        t["slow_client_closures"] = t.get("slow_client_closures", 0) + 1
        km = self._kind_metrics(kind)
        if km is not None:
            km.slow_client_closures.inc()

    def _kind_metrics(self, kind: str) -> KindMetrics | None:
        if self._metrics is None:
            return None
        km = self._kinds.get(kind)
        if km is None:
            km = self._kinds[kind] = self._metrics.for_kind(kind)
        return km

    def track(self, kind: str) -> KindMetrics | None:
        """A stream of ``kind`` opened: the kind is listed from now on (with zeros until its
        first report). Returns the kind's cached Prometheus children (None without metrics)."""
        self._totals.setdefault(kind, dict.fromkeys(FIELDS, 0))
        return self._kind_metrics(kind)

    def kind_metrics(self, kind: str) -> KindMetrics | None:
        """The kind's cached Prometheus children (None without metrics)."""
        return self._kind_metrics(kind)

    def snapshot(self) -> dict[str, dict[str, int]]:
        """A copy: kind -> counter name -> total (open streams as of now)."""
        self.sync()
        return {k: dict(v) for k, v in self._totals.items()}
