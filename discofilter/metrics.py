"""Prometheus metrics of one discofilter process, in a registry of its own.

Every ``Metrics`` owns a private ``CollectorRegistry``: tests and several in-process servers (the
demo runs a proxy beside the emulator) never collide on the global default registry, and
``/metrics`` shows exactly this proxy's families.

Cost on the hot path (measured on the 2-core dev machine, prometheus-client 0.26,
``python -m timeit``-style loop of 200,000 calls): ``family.labels(kind, enrolled).inc()`` costs
~1.3 µs, a cached child's ``.inc(n)`` ~0.36 µs whatever ``n`` is. At ~135,000 events/s per stream
(DESIGN anchor figures) even 0.36 µs per event is 5 % of the budget, so callers

* take a ``KindMetrics`` handle once per stream (``metrics.for_kind("pods")``): it caches the
  labelled children, so no ``labels()`` lookup happens per event;
* count into plain integers (a stream's ``StreamCounters``) that are folded into the families
  by an ``on_scrape`` hook when ``/metrics`` is collected, and when the stream ends: nothing
  per upstream read (``KindMetrics.add`` per read was ~2-7 µs of locks, 5-7% of the proxy's
  CPU at low event rates; docs/performance.md "Server-level levers").

Label sets are closed and small (cardinality: ~10 kinds x 2 enrolled values): namespaces are never a
label — per-namespace churn is served by the admin API instead (10,000 namespaces per cluster would
make a label explode).

``enrolled`` is "yes" for events whose namespace is enrolled and for events that always pass
(BOOKMARK, ERROR, cluster-scoped objects), "no" otherwise.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from discofilter import __version__
from discofilter.coalesce import CoalesceStatsTable
from discofilter.telemetry.counters import KindCounters

PREFIX = "discofilter"

# Added delivery delay: the filter alone adds microseconds, coalescing windows add up to seconds
# (pod windows default to ~1 s), so the buckets span 100 µs .. 10 s.
DELAY_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)

# Upstream request durations: a LIST of 150k pods takes seconds; a watch is timed until its
# response headers arrive (it then streams for minutes, which is not a latency).
UPSTREAM_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


def enrolled_label(enrolled: bool) -> str:
    return "yes" if enrolled else "no"


@dataclass(slots=True)
class KindMetrics:
    """Cached labelled children for one resource kind; take it once per stream, not per event."""

    kind: str
    _in_yes: Counter
    _in_no: Counter
    _out_yes: Counter
    _out_no: Counter
    _coalesced_yes: Counter
    _coalesced_no: Counter
    _suppressed: Counter
    _bytes_in: Counter
    _bytes_out: Counter
    open_streams: Gauge
    upstream_reconnects: Counter
    slow_client_closures: Counter
    added_delay: Histogram

    def add(
        self,
        *,
        in_enrolled: int = 0,
        in_other: int = 0,
        out_enrolled: int = 0,
        out_other: int = 0,
        coalesced_enrolled: int = 0,
        coalesced_other: int = 0,
        suppressed: int = 0,
        bytes_in: int = 0,
        bytes_out: int = 0,
    ) -> None:
        """Add one chunk's worth of counts; zero counts cost nothing."""
        if in_enrolled:
            self._in_yes.inc(in_enrolled)
        if in_other:
            self._in_no.inc(in_other)
        if out_enrolled:
            self._out_yes.inc(out_enrolled)
        if out_other:
            self._out_no.inc(out_other)
        if coalesced_enrolled:
            self._coalesced_yes.inc(coalesced_enrolled)
        if coalesced_other:
            self._coalesced_no.inc(coalesced_other)
        if suppressed:
            self._suppressed.inc(suppressed)
        if bytes_in:
            self._bytes_in.inc(bytes_in)
        if bytes_out:
            self._bytes_out.inc(bytes_out)


class Metrics:
    """All metric families of one proxy process, registered in ``self.registry``."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        # No `<name>_created` series: they double the series count and nobody alerts on them.
        # The switch is process-wide in prometheus-client; discofilter has no other registry.
        disable_created_metrics()
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        # Registered before every family: the registry collects in registration order, so
        # the hooks have brought the families up to date when they are read.
        self._hooks = _ScrapeHooks()
        r.register(self._hooks)
        self._stream_families(r)
        self._process_families(r)
        self.build_info.labels(__version__).set(1)
        self._kinds: dict[str, KindMetrics] = {}
        self._coalesce: CoalesceCollector | None = None
        self._extra: dict[str, Collector] = {}

    def _stream_families(self, r: CollectorRegistry) -> None:
        """The per-kind families the streams report into (once per chunk, ``KindMetrics``)."""
        kind_enrolled = ("kind", "enrolled")
        self.events_in = Counter(
            f"{PREFIX}_events_in",
            "Watch events and list items decoded from the upstream.",
            kind_enrolled,
            registry=r,
        )
        self.events_out = Counter(
            f"{PREFIX}_events_out",
            "Watch events and list items written to clients (synthesized ones included).",
            kind_enrolled,
            registry=r,
        )
        self.events_coalesced = Counter(
            f"{PREFIX}_events_coalesced",
            "Events merged into a later event of the same object by the coalescer.",
            kind_enrolled,
            registry=r,
        )
        self.events_suppressed = Counter(
            f"{PREFIX}_events_suppressed",
            "Events dropped because their namespace is not enrolled.",
            ("kind",),
            registry=r,
        )
        self.bytes_in = Counter(
            f"{PREFIX}_bytes_in", "Body bytes read from the upstream.", ("kind",), registry=r
        )
        self.bytes_out = Counter(
            f"{PREFIX}_bytes_out", "Body bytes written to clients.", ("kind",), registry=r
        )
        self.open_streams = Gauge(
            f"{PREFIX}_open_streams",
            "Filtered client streams (LIST or WATCH) currently open.",
            ("kind",),
            registry=r,
        )
        self.upstream_reconnects = Counter(
            f"{PREFIX}_upstream_reconnects",
            "Upstream watch streams re-established after a drop.",
            ("kind",),
            registry=r,
        )
        self.slow_client_closures = Counter(
            f"{PREFIX}_slow_client_closures",
            "Client watches cut off because they did not drain their bounded buffer in time.",
            ("kind",),
            registry=r,
        )

    def _process_families(self, r: CollectorRegistry) -> None:
        """Latency, upstream, namespace-view, reload and build families."""
        self.added_delay = Histogram(
            f"{PREFIX}_added_delay_seconds",
            "Time from an event's arrival from the upstream to its write to the client.",
            ("kind",),
            buckets=DELAY_BUCKETS,
            registry=r,
        )
        self.upstream_request_duration = Histogram(
            f"{PREFIX}_upstream_request_duration_seconds",
            "Upstream request time until response headers (LIST: until the body is read).",
            ("verb",),
            buckets=UPSTREAM_BUCKETS,
            registry=r,
        )
        self.namespaces = Gauge(
            f"{PREFIX}_namespaces",
            "Namespaces known to the proxy, by enrollment.",
            ("enrolled",),
            registry=r,
        )
        self.upstream_excluded_namespaces = Gauge(
            f"{PREFIX}_upstream_excluded_namespaces",
            "Not-enrolled namespaces the newest filtered watch asked the API server to leave out; "
            "their events reach no discofilter_events_* counter.",
            registry=r,
        )
        self.namespaces_synced = Gauge(
            f"{PREFIX}_namespaces_synced",
            "1 once the namespace informer has listed and is watching, else 0.",
            registry=r,
        )
        self.enrollment_changes = Counter(
            f"{PREFIX}_enrollment_changes",
            "Namespaces that became enrolled (added) or left (removed).",
            ("direction",),
            registry=r,
        )
        self.config_reloads = Counter(
            f"{PREFIX}_config_reloads",
            "Configuration reloads (SIGHUP or file change), by result.",
            ("result",),
            registry=r,
        )
        self.build_info = Gauge(
            f"{PREFIX}_build_info", "Always 1; labels carry the version.", ("version",), registry=r
        )

    def on_scrape(self, hook: Callable[[], None]) -> None:
        """Call ``hook`` at the start of every collection (``/metrics``, ``kind_counters``):
        the streams count in plain ints and are folded into the families only then."""
        if hook not in self._hooks.hooks:
            self._hooks.hooks.append(hook)

    def watch_coalesce(self, table: CoalesceStatsTable) -> None:
        """Export ``table`` (the proxy's per-kind ``CoalesceStats``) as the
        ``discofilter_coalesce_*`` families, read at scrape time. Calling it again replaces the
        table (a proxy has one; tests may build several)."""
        if self._coalesce is not None:
            self.registry.unregister(self._coalesce)
        self._coalesce = CoalesceCollector(table)
        self.registry.register(self._coalesce)

    def watch_collector(self, name: str, collector: Collector) -> None:
        """Register ``collector`` under ``name``, replacing the one registered under it before
        (a proxy has one of each; tests may build several proxies on one Metrics)."""
        old = self._extra.pop(name, None)
        if old is not None:
            self.registry.unregister(old)
        self._extra[name] = collector
        self.registry.register(collector)

    def for_kind(self, kind: str) -> KindMetrics:
        """The cached per-kind handle (created on first use; the children then show as 0)."""
        km = self._kinds.get(kind)
        if km is None:
            km = KindMetrics(
                kind=kind,
                _in_yes=self.events_in.labels(kind, "yes"),
                _in_no=self.events_in.labels(kind, "no"),
                _out_yes=self.events_out.labels(kind, "yes"),
                _out_no=self.events_out.labels(kind, "no"),
                _coalesced_yes=self.events_coalesced.labels(kind, "yes"),
                _coalesced_no=self.events_coalesced.labels(kind, "no"),
                _suppressed=self.events_suppressed.labels(kind),
                _bytes_in=self.bytes_in.labels(kind),
                _bytes_out=self.bytes_out.labels(kind),
                open_streams=self.open_streams.labels(kind),
                upstream_reconnects=self.upstream_reconnects.labels(kind),
                slow_client_closures=self.slow_client_closures.labels(kind),
                added_delay=self.added_delay.labels(kind),
            )
            self._kinds[kind] = km
        return km

    def set_namespaces(self, enrolled: int, other: int, synced: bool) -> None:
        """Publish the namespace view (call on each namespace event or enrollment change)."""
        self.namespaces.labels("yes").set(enrolled)
        self.namespaces.labels("no").set(other)
        self.namespaces_synced.set(1 if synced else 0)

    def kind_counters(self) -> list[KindCounters]:
        """Per-kind totals for the admin ``Status`` (read through the public collect() API;
        per admin request, never per event). Sorted by kind."""
        fields = {
            f"{PREFIX}_events_in_total": "events_in",
            f"{PREFIX}_events_out_total": "events_out",
            f"{PREFIX}_events_coalesced_total": "events_coalesced",
            f"{PREFIX}_events_suppressed_total": "events_suppressed",
            f"{PREFIX}_bytes_in_total": "bytes_in",
            f"{PREFIX}_bytes_out_total": "bytes_out",
            f"{PREFIX}_upstream_reconnects_total": "upstream_reconnects",
            f"{PREFIX}_slow_client_closures_total": "slow_client_closures",
        }
        totals: dict[str, dict[str, int]] = defaultdict(dict)
        for family in self.registry.collect():
            for sample in family.samples:
                field_name = fields.get(sample.name)
                kind = sample.labels.get("kind")
                if field_name is None or kind is None:
                    continue
                per_kind = totals[kind]
                per_kind[field_name] = per_kind.get(field_name, 0) + int(sample.value)
        return [KindCounters(kind=k, **v) for k, v in sorted(totals.items())]

    def exposition(self) -> bytes:
        """The Prometheus text exposition of this registry."""
        return generate_latest(self.registry)

    content_type = CONTENT_TYPE_LATEST


# family suffix -> (CoalesceStats field, help) of the counters exported per kind.
_COALESCE_COUNTERS = {
    "events_in": ("events_in", "Events pushed into coalescing stages (BOOKMARK, ERROR included)."),
    "forwarded": ("forwarded", "Events the coalescing stages handed to client writers."),
    "coalesced": ("coalesced", "Events absorbed by a newer event of the same object or bookmark."),
    "noop_suppressed": ("suppressed", "MODIFIED events dropped as semantic no-ops (suppressNoop)."),
    "vanished_pairs": ("vanished", "ADDED+DELETED pairs the client never saw, dropped together."),
    "discarded": ("discarded", "Held events dropped because their stream ended (client resumes)."),
    "forced_by_max_hold": (
        "forced_by_max_hold",
        "Releases forced by maxHoldSeconds while the rate limit would still hold.",
    ),
    "rate_limited": ("rate_limited", "Times delivery paused on an empty token bucket."),
    "retype_failures": (
        "retype_failures",
        "Later states of an undelivered ADDED that could not be re-typed into it (sent after it).",
    ),
}


class _ScrapeHooks(Collector):
    """No family of its own: runs the ``on_scrape`` hooks when the registry is collected."""

    def __init__(self) -> None:
        self.hooks: list[Callable[[], None]] = []

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        for hook in self.hooks:
            hook()
        return iter(())


class CoalesceCollector(Collector):
    """Every ``CoalesceStats`` field per kind, read when scraped (never on the hot path).

    The coalescers update plain ints on the event loop; a scrape on the same loop reads them
    consistently, so the conservation law of ``discofilter.coalesce.stats`` holds in one scrape:
    ``events_in == forwarded + coalesced + noop_suppressed + 2*vanished_pairs + held_events +
    discarded``. ``discofilter_events_coalesced_total{enrolled}`` (fed per chunk by the streams)
    counts the same merges as ``discofilter_coalesce_coalesced_total``.
    """

    def __init__(self, table: CoalesceStatsTable) -> None:
        self.table = table

    def describe(self) -> list[Metric]:
        return list(self._families())

    def collect(self) -> Iterator[Metric]:
        return self._families()

    def _families(self) -> Iterator[Metric]:
        p = f"{PREFIX}_coalesce"
        kinds = self.table.items()
        for suffix, (field_name, doc) in _COALESCE_COUNTERS.items():
            c = CounterMetricFamily(f"{p}_{suffix}", doc, labels=("kind",))
            for kind, st in kinds:
                c.add_metric((kind,), getattr(st, field_name))
            yield c
        held = GaugeMetricFamily(
            f"{p}_held_events", "Events held right now (all streams of the kind).", labels=("kind",)
        )
        longest = GaugeMetricFamily(
            f"{p}_longest_hold_seconds",
            "Longest hold of any delivered event since start (high-water mark).",
            labels=("kind",),
        )
        hist = HistogramMetricFamily(
            f"{p}_hold_seconds",
            "Delivery time minus arrival of the oldest event folded into the delivered event.",
            labels=("kind",),
        )
        for kind, st in kinds:
            held.add_metric((kind,), st.held_now)
            longest.add_metric((kind,), st.longest_hold_seconds)
            buckets = [(_le(le), float(n)) for le, n in st.cumulative_buckets()]
            hist.add_metric((kind,), buckets, st.hold_seconds_sum)
        yield held
        yield longest
        yield hist


def _le(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(bound)
