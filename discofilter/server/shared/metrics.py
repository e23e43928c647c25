"""``discofilter_shared_*``: the shared-watch keys' figures, read when scraped.

Labels: ``resource`` ("group/version/resource", "" group for core) and ``content_type``; keys
with label or field selectors add them as ``selectors`` (operators rarely have more than a
handful). Counters are totals since the proxy started: a key stopped when idle keeps its counts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from discofilter.metrics import PREFIX
from discofilter.server.shared.manager import KeySnapshot

_LABELS = ("resource", "content_type", "selectors")

GAUGES = {
    "upstream_watches": ("upstream_watches", "Upstream WATCH requests open for the key (0 or 1)."),
    "clients": ("clients", "Client watch streams served from the key's cache."),
    "cache_objects": ("objects", "Objects in the key's cache (enrolled namespaces only)."),
    "cache_bytes": ("object_bytes", "Bytes of the objects in the key's cache."),
    "window_events": ("window_events", "Events the key's window holds for resumes."),
    "window_bytes": ("window_bytes", "Bytes of the events the key's window holds."),
    "window_seconds": ("window_seconds", "Age of the oldest event a resume can still replay."),
}
COUNTERS = {
    "lists_from_cache": ("lists_from_cache", "LIST pages served from the key's cache."),
    "lists_from_upstream": (
        "lists_from_upstream",
        "LISTs of a shared key served from the upstream (consistent-read timeout, Exact, "
        "a direct page's continue token).",
    ),
    "watches_from_upstream": (
        "watches_from_upstream",
        "WATCHes of a shared key served from the upstream (the cache could not catch up).",
    ),
    "expired_sent": (
        "expired_sent",
        "410 Expired sent to the key's clients (too old, flips, relists).",
    ),
    "slow_clients_cut": ("slow_cut", "Clients cut off because their buffer was full."),
    "relists": ("relists", "Upstream LISTs of the whole key (first load and after faults)."),
    "namespace_lists": ("namespace_lists", "Namespace LISTs for namespaces that joined."),
    "denied": ("denied", "Requests refused (401/403) by the caller's own access review."),
    "events_in": ("events_in", "Upstream events the key's reflector applied (any namespace)."),
    "events_kept": ("events_kept", "Upstream events of enrolled namespaces (cached, fanned out)."),
}


class SharedWatchCollector(Collector):
    def __init__(self, source: Callable[[], list[KeySnapshot]]) -> None:
        self._source = source

    def describe(self) -> list[Metric]:
        return list(self._families([]))

    def collect(self) -> Iterator[Metric]:
        return self._families(self._source())

    def _families(self, keys: list[KeySnapshot]) -> Iterator[Metric]:
        p = f"{PREFIX}_shared"
        for suffix, (attr, doc) in GAUGES.items():
            g = GaugeMetricFamily(f"{p}_{suffix}", doc, labels=_LABELS)
            for k in keys:
                g.add_metric((k.resource, k.content_type, k.selectors), float(getattr(k, attr)))
            yield g
        for suffix, (attr, doc) in COUNTERS.items():
            c = CounterMetricFamily(f"{p}_{suffix}", doc, labels=_LABELS)
            for k in keys:
                c.add_metric((k.resource, k.content_type, k.selectors), float(getattr(k, attr)))
            yield c
