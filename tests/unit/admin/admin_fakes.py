"""An in-memory ``AdminState`` for admin API tests (the server implements the real one)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from discofilter.admin.state import (
    NamespaceView,
    ProcessInfo,
    Readiness,
    SelectorSourceInfo,
    StreamView,
)
from discofilter.filter.candidates import from_strings
from discofilter.filter.dryrun import enrollment
from discofilter.filter.selectors import SelectorSet
from discofilter.telemetry.counters import KindCounters
from discofilter.telemetry.decisions import DecisionSampler

ALWAYS = frozenset({"istio-system"})


@dataclass
class FakeAdminState:
    """Namespaces are (name, labels); enrollment is computed from ``selector_strings``."""

    ns_labels: dict[str, dict[str, str]] = field(default_factory=dict)
    selector_strings: tuple[str, ...] | None = ("istio-injection=enabled",)
    stream_views: list[StreamView] = field(default_factory=list)
    counter_views: list[KindCounters] = field(default_factory=list)
    churn_rates: dict[str, float] = field(default_factory=dict)
    ready: Readiness = field(default_factory=lambda: Readiness(True, True))
    sampler: DecisionSampler = field(default_factory=lambda: DecisionSampler(every=1))
    source: SelectorSourceInfo = field(default_factory=SelectorSourceInfo)

    def info(self) -> ProcessInfo:
        return ProcessInfo(
            version="0.1.0-test",
            started_at=1_700_000_000.5,
            selectors=tuple(self.selector_strings or ()),
            always_enrolled=ALWAYS,
            selectors_source=self.source,
        )

    def selector_set(self) -> SelectorSet | None:
        if self.selector_strings is None:
            return None
        return from_strings(self.selector_strings)

    def namespaces(self) -> Sequence[NamespaceView]:
        e = enrollment(self.selector_set(), self.ns_labels, ALWAYS)
        out = []
        for name in sorted(self.ns_labels):
            term = e.matching_term(name)
            out.append(NamespaceView(name, self.ns_labels[name], term is not None, term))
        return out

    def streams(self) -> Sequence[StreamView]:
        return self.stream_views

    def counters(self) -> Sequence[KindCounters]:
        return self.counter_views

    def churn(self) -> Mapping[str, float]:
        return self.churn_rates

    def readiness(self) -> Readiness:
        return self.ready

    def decisions(self) -> DecisionSampler:
        return self.sampler

    def scoped(self, scope: str) -> FakeAdminState | None:
        return self if scope == "" else None


def sample_state() -> FakeAdminState:
    return FakeAdminState(
        ns_labels={
            "istio-system": {"kubernetes.io/metadata.name": "istio-system"},
            "shop": {"istio-injection": "enabled", "team": "shop"},
            "payments": {"istio-injection": "enabled", "team": "pay"},
            "batch": {"team": "data"},
            "ci": {"team": "ci", "mesh": "candidate"},
        },
        stream_views=[
            StreamView(
                id="s1",
                user_agent="pilot-discovery/1.24",
                remote="127.0.0.1:50000",
                resource="pods",
                verb="watch",
                content_type="application/vnd.kubernetes.protobuf;stream=watch",
                opened_at=1_700_000_100.0,
                events_in=1000,
                events_out=120,
            )
        ],
        counter_views=[KindCounters("pods", events_in=1000, events_out=120, events_suppressed=880)],
        churn_rates={"batch": 60.0, "ci": 30.0, "shop": 8.0, "payments": 2.0},
    )
