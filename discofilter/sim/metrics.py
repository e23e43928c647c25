"""The emulator's own ``/metrics``: what the API server itself paid, per resource.

A proxy's claims about the upstream ("one watch per key, not N") must be checked on the upstream
side, not from the proxy's own counters. kube-apiserver answers that with
``apiserver_longrunning_requests{verb="WATCH"}`` (open watches) on its ``/metrics``; the emulator
serves a gauge of the same name and labels it uses for the question (``verb``, ``resource``,
``scope``), so one scraper reads both, plus counters kube-apiserver keeps only as histograms:

    apiserver_longrunning_requests{verb="WATCH",resource,scope}  open watch streams now
    emulator_watches_peak{resource}                              most open at once since start
    emulator_watches_started_total{resource}                     watch requests accepted
    emulator_sent_bytes_total{verb="LIST"|"WATCH",resource}      body bytes written (LIST bodies
                                                                 as sent, gzip included; watch
                                                                 frames as each is written)
    emulator_events_total{resource}                              events committed to the store

Counters only grow (a scraper takes deltas); nothing here is reset by a request.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from prometheus_client.parser import text_string_to_metric_families

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
WATCHES_OPEN = "apiserver_longrunning_requests"


class SimMetrics:
    """Counters and gauges of one emulator; the server calls the ``on_*`` hooks."""

    def __init__(self) -> None:
        self.open: Counter[tuple[str, str]] = Counter()
        """(resource, scope) -> watch streams open now; scope is cluster or namespace."""
        self.peak: Counter[str] = Counter()
        self.started: Counter[str] = Counter()
        self.sent: Counter[tuple[str, str]] = Counter()
        """(verb, resource) -> body bytes written."""
        self.events: Counter[str] = Counter()

    def on_watch_start(self, resource: str, namespaced: bool) -> None:
        self.open[(resource, _scope(namespaced))] += 1
        self.started[resource] += 1
        now = sum(n for (r, _), n in self.open.items() if r == resource)
        self.peak[resource] = max(self.peak[resource], now)

    def on_watch_end(self, resource: str, namespaced: bool) -> None:
        self.open[(resource, _scope(namespaced))] -= 1

    def on_sent(self, verb: str, resource: str, nbytes: int) -> None:
        self.sent[(verb, resource)] += nbytes

    def on_event(self, resource: str) -> None:
        self.events[resource] += 1

    def render(self) -> str:
        """The Prometheus text exposition of every series."""
        return "".join(self._lines())

    def _lines(self) -> Iterator[str]:
        yield f"# TYPE {WATCHES_OPEN} gauge\n"
        for (res, scope), n in sorted(self.open.items()):
            yield f'{WATCHES_OPEN}{{verb="WATCH",resource="{res}",scope="{scope}"}} {n}\n'
        yield "# TYPE emulator_watches_peak gauge\n"
        for res, n in sorted(self.peak.items()):
            yield f'emulator_watches_peak{{resource="{res}"}} {n}\n'
        yield "# TYPE emulator_watches_started_total counter\n"
        for res, n in sorted(self.started.items()):
            yield f'emulator_watches_started_total{{resource="{res}"}} {n}\n'
        yield "# TYPE emulator_sent_bytes_total counter\n"
        for (verb, res), n in sorted(self.sent.items()):
            yield f'emulator_sent_bytes_total{{verb="{verb}",resource="{res}"}} {n}\n'
        yield "# TYPE emulator_events_total counter\n"
        for res, n in sorted(self.events.items()):
            yield f'emulator_events_total{{resource="{res}"}} {n}\n'


def _scope(namespaced: bool) -> str:
    return "namespace" if namespaced else "cluster"


def parse(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """Prometheus text -> {sample name: {sorted label items: value}} (for scrapers and tests)."""
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = float(s.value)
    return out
