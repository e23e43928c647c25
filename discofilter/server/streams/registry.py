"""Open filtered watch streams, and which of them an enrollment change must end (contract 3).

Each ``WatchStream`` remembers the namespaces it *delivered* an event from and the namespaces it
*dropped* an event from. When a namespace flips:

* became enrolled → end the streams that dropped something from it (their client is missing
  those objects), and the streams that resumed from a resourceVersion at or after the namespace's
  creation: their client's LIST (or an earlier stream) filtered out the namespace's objects
  without this stream ever seeing them — an EndpointSlice that never changes again would
  otherwise stay missing for good. Streams that carried the whole state themselves (watch from
  "" or "0", WatchList) and never saw the namespace are still exact;
* left → end the streams that delivered something from it (their client holds objects it must
  no longer see), and, for the same reason as a join, the streams that resumed from a version at
  or after the namespace's creation: their client's LIST showed the namespace's objects. Only a
  stream that carried the whole state itself and never delivered the namespace stays open.

Ending = the stream writes a ``410 Expired`` ERROR event in its own content type and closes, so
a client-go reflector relists through the filter. An event for a namespace the proxy has not
seen yet is dropped and counted as dropped, so the namespace's later arrival ends the stream.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, overload

from discofilter.filter.enrollment import EnrollmentChange
from discofilter.filter.events import WatchFilter
from discofilter.server.streams.counters import KindTotals, StreamCounters

if TYPE_CHECKING:
    from discofilter.metrics import KindMetrics, Metrics

log = logging.getLogger(__name__)
_ids = itertools.count(1)

RESUMED_OPAQUE = 2**63
"""``resumed_from`` of a stream that resumed from a non-numeric resourceVersion."""


class _CounterView:
    """A read-only attribute of a ``WatchStream`` that reads the same-named counter (as a
    ``property`` would: assigning to it raises AttributeError)."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, stream: None, owner: type) -> _CounterView: ...

    @overload
    def __get__(self, stream: WatchStream, owner: type | None = None) -> int: ...

    def __get__(self, stream: WatchStream | None, owner: type | None = None) -> int | _CounterView:
        if stream is None:
            return self
        value: int = getattr(stream.counters, self.name)
        return value

    def __set__(self, stream: WatchStream, value: int) -> None:
        raise AttributeError(f"{self.name} is read from the stream's counters")


@dataclass(eq=False)
class WatchStream:
    """Counters and namespace sets of one client watch. Mutated only on the event loop."""

    resource: str
    content_type: str = ""
    user_agent: str = ""
    remote: str = ""
    opened_at: float = 0.0
    scope: str = ""
    """The scope the client reached (``/scopes/<name>``); "" = the default scope. Only that
    scope's enrollment flips end the stream."""
    id: int = field(default_factory=lambda: next(_ids))
    delivered_ns: set[str] = field(default_factory=set)
    """Invariant: every namespace of an event this stream wrote to its client."""
    dropped_ns: set[str] = field(default_factory=set)
    """Invariant: every namespace of an event this stream filtered out."""
    resumed_from: int | None = None
    """The resourceVersion the client's state came from before this stream (its LIST), or None
    when the stream itself carries the full state (watch from "" or "0", or sendInitialEvents).
    A non-numeric version is stored as RESUMED_OPAQUE: every join then ends the stream."""
    excluded_upstream: int = 0
    """Not-enrolled namespaces the upstream watch left out (``filter/exclusion.py``); each is
    also in ``dropped_ns``."""
    last_rv: str = ""
    """resourceVersion of the newest event or bookmark written to the client ("" if none)."""
    counters: StreamCounters = field(default_factory=StreamCounters)
    """The stream's one counter object (read when the totals are, ``counters.py``)."""
    expired: str | None = None
    """Why the stream must end with 410 (None while it may continue)."""
    _on_expire: Callable[[], None] | None = None

    def affected_by(self, change: EnrollmentChange, created_rv: int = 0) -> bool:
        """Whether ``change`` leaves this stream's client inexact; ``created_rv`` is the
        resourceVersion at which the namespace was created (0 when unknown: assume it is old)."""
        seen = self.dropped_ns if change.enrolled else self.delivered_ns
        if change.namespace in seen:
            return True
        # The client's base state (its LIST) predates the stream and may hold the namespace's
        # objects (a leave) or lack them (a join), none of which ever crossed this stream.
        return self.resumed_from is not None and created_rv <= self.resumed_from

    def expire(self, reason: str) -> None:
        """Mark the stream for a 410 end and interrupt its upstream read."""
        if self.expired is not None:
            return
        self.expired = reason
        if self._on_expire is not None:
            self._on_expire()

    def on_expire(self, fn: Callable[[], None]) -> None:
        self._on_expire = fn

    def watch_filter(
        self,
        is_enrolled: Callable[[str], bool],
        *,
        table: bool = False,
        count_churn: bool = False,
        sample_every: int = 0,
    ) -> WatchFilter:
        """This stream's per-event filter, recording into ``delivered_ns``/``dropped_ns``."""
        return WatchFilter(
            is_enrolled, table=table, delivered_ns=self.delivered_ns, dropped_ns=self.dropped_ns,
            count_churn=count_churn, sample_every=sample_every,
        )  # fmt: skip

    # Read-only views of the counters (logs, admin, tests).
    events_in = _CounterView()
    events_out = _CounterView()
    dropped = _CounterView()
    bytes_in = _CounterView()
    bytes_out = _CounterView()


class StreamRegistry:
    """All open watch streams of this worker, and the per-kind totals they report into."""

    def __init__(self, metrics: Metrics | None = None) -> None:
        self._streams: dict[int, WatchStream] = {}
        self.expired_total = 0
        """Streams ended with 410 since start (enrollment changes and stale resumes)."""
        self.totals = KindTotals(metrics, live=self._live_counters)
        self._gauged: dict[int, KindMetrics] = {}
        """Every stream's counts per kind, closed and open (as of their last chunk)."""

    def _live_counters(self) -> Iterator[tuple[str, StreamCounters]]:
        for s in self._streams.values():
            yield s.resource, s.counters

    def add(self, stream: WatchStream) -> None:
        self._streams[stream.id] = stream
        km = self.totals.track(stream.resource)
        if km is not None:
            km.open_streams.inc()
            self._gauged[stream.id] = km  # dec the same gauge even if metrics are swapped

    def remove(self, stream: WatchStream) -> None:
        self._streams.pop(stream.id, None)
        km = self._gauged.pop(stream.id, None)
        if km is not None:
            km.open_streams.dec()

    def __len__(self) -> int:
        return len(self._streams)

    def streams(self, scope: str | None = None) -> list[WatchStream]:
        """The open streams (of ``scope`` only, when given; "" = the default scope)."""
        return [s for s in self._streams.values() if scope is None or s.scope == scope]

    def apply_changes(
        self,
        changes: Iterable[EnrollmentChange],
        created_rv: Callable[[str], int] | None = None,
        scope: str = "",
    ) -> int:
        """End every stream of ``scope`` an enrollment change of that scope affects; return
        how many were ended.

        ``created_rv(namespace)`` gives the namespace's creation resourceVersion (0 = unknown)."""
        ended = 0
        for change in changes:
            born = created_rv(change.namespace) if created_rv is not None else 0
            for s in self.streams(scope):
                if s.expired is None and s.affected_by(change, born):
                    verb = "joined" if change.enrolled else "left"
                    s.expire(f"namespace {change.namespace} {verb} the mesh")
                    ended += 1
        self.expired_total += ended
        if ended:
            log.info("enrollment change ended watches", extra={"streams": ended})
        return ended
