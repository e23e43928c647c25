"""The per-event filter: which objects and watch events a client of the proxy gets (pure).

Policy, the same for LISTs and WATCHes:

* an object passes iff its namespace is "" (cluster-scoped) or enrolled (``namespace_filter``,
  which the codec's ``filter_list`` applies to list items and Table rows);
* BOOKMARK and ERROR events always pass, so the ``k8s.io/initial-events-end`` bookmark of a
  WatchList always arrives;
* ``as=Table`` watches go through the codec's ``TableWatchFilter`` (row-level, and column
  headers survive a dropped first event).

``WatchFilter`` is one stream's filter. It does the least per event (a set lookup; the loop is
the hot path, ~135,000 events/s per stream) and records, for the stream's convergence checks
and telemetry, without a call per event:

* the namespaces it delivered and dropped (the stream's ``delivered_ns``/``dropped_ns``);
* how many object events it dropped;
* per-namespace event counts when ``count_churn`` (upstream side, before filtering);
* one event in ``sample_every`` with its decision, at most one per chunk (``take_samples``).
"""

from __future__ import annotations

from collections.abc import Callable

from discofilter.codec import TableWatchFilter
from discofilter.model import BOOKMARK, ERROR, WatchEvent

ALWAYS_PASS = frozenset({BOOKMARK, ERROR})
"""Event types every client gets whatever the enrollment."""


def namespace_filter(is_enrolled: Callable[[str], bool]) -> Callable[[str], bool]:
    """The object predicate: cluster-scoped objects (namespace "") pass; the rest if enrolled."""

    def keep(namespace: str) -> bool:
        return not namespace or is_enrolled(namespace)

    return keep


class WatchFilter:
    """The filter of one watch stream (JSON or protobuf; ``table`` for ``as=Table``)."""

    __slots__ = (
        "_countdown",
        "_enrolled",
        "_samples",
        "_table",
        "churn",
        "delivered_ns",
        "dropped",
        "dropped_ns",
        "sample_every",
    )

    def __init__(
        self,
        is_enrolled: Callable[[str], bool],
        *,
        table: bool = False,
        delivered_ns: set[str] | None = None,
        dropped_ns: set[str] | None = None,
        count_churn: bool = False,
        sample_every: int = 0,
    ) -> None:
        self._enrolled = is_enrolled
        self._table = TableWatchFilter(namespace_filter(is_enrolled)) if table else None
        self.delivered_ns: set[str] = delivered_ns if delivered_ns is not None else set()
        """Invariant: every namespace of an object event this filter passed."""
        self.dropped_ns: set[str] = dropped_ns if dropped_ns is not None else set()
        """Invariant: every namespace of an object event this filter dropped."""
        self.dropped = 0
        """Object events dropped so far."""
        self.churn: dict[str, int] | None = {} if count_churn else None
        """Object events per namespace since the last ``take_churn`` (None: not counted)."""
        self.sample_every = sample_every
        # Index (within the next chunk's events) of the next event to sample.
        self._countdown = sample_every - 1 if sample_every > 0 else -1
        self._samples: list[tuple[WatchEvent, bool]] = []

    def filter(self, events: list[WatchEvent]) -> list[WatchEvent]:
        """The events of one upstream chunk that the client gets, in order."""
        out: list[WatchEvent] = []
        enrolled = self._enrolled
        churn = self.churn
        table = self._table
        delivered, dropped_ns = self.delivered_ns, self.dropped_ns
        dropped = 0
        # Sampling without a call per event: count down by the period and record the event
        # where the countdown crosses zero (same rate, ~0 cost per event).
        sample_at = self._countdown
        for i, ev in enumerate(events):
            ns = ev.namespace
            if ev.type in ALWAYS_PASS:
                out.append(ev)
                continue
            if churn is not None:
                churn[ns] = churn.get(ns, 0) + 1
            if table is not None:
                passed = table.filter(ev)
                keep = passed is not None
            else:
                passed = ev
                keep = not ns or enrolled(ns)
            if keep and passed is not None:
                delivered.add(ns)
                out.append(passed)
            else:
                dropped_ns.add(ns)
                dropped += 1
            if i == sample_at:
                self._samples.append((ev, keep))
        if self.sample_every > 0:
            # At most one sample per chunk (a 100 KB chunk holds ~16 pod events; period 64).
            left = self._countdown - len(events)
            self._countdown = left % self.sample_every if left < 0 else left
        self.dropped += dropped
        return out

    def take_churn(self) -> dict[str, int]:
        """The per-namespace counts since the last call (empty when not counted)."""
        counts = self.churn
        if not counts:
            return {}
        self.churn = {}
        return counts

    def take_samples(self) -> list[tuple[WatchEvent, bool]]:
        """The sampled (event, kept) pairs since the last call."""
        samples, self._samples = self._samples, []
        return samples
