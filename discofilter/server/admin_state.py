"""``ProxyAdminState``: the server's implementation of the admin ``AdminState`` protocol.

Every method is a snapshot built on demand from the live ``ProxyServer`` (per admin request,
never per event). Per-kind totals come from the stream registry's ``KindTotals`` (every stream,
closed or open, as of its last chunk); the coalescing counters from the kind's stage stats.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from discofilter import __version__
from discofilter.admin.sources import SelectorSourceView, source_info
from discofilter.admin.state import (
    NamespaceView,
    ProcessInfo,
    Readiness,
    StreamView,
)
from discofilter.filter.enrollment import Enrollment
from discofilter.filter.selectors import SelectorSet
from discofilter.telemetry.counters import KindCounters
from discofilter.telemetry.decisions import DecisionSampler

if TYPE_CHECKING:
    from discofilter.server.proxy import ProxyServer

_STREAM_FIELDS = ("events_in", "events_out", "bytes_in", "bytes_out", "slow_client_closures")


class _ScopeSource:
    def __init__(self, status: Callable[[str], object], scope: str) -> None:
        self._status = status
        self._scope = scope

    def status(self) -> object:
        return self._status(self._scope)


class ProxyAdminState:
    def __init__(
        self, proxy: ProxyServer, source: SelectorSourceView | None = None, scope: str = ""
    ) -> None:
        self.proxy = proxy
        self.source = source
        """The live selectors' source (``meshConfigFrom``); None: the config file and flags."""
        self.scope = scope
        """The scope this view shows ("" = the default scope)."""
        self.started_at = time.time()

    def scoped(self, scope: str) -> ProxyAdminState | None:
        if scope == self.scope:
            return self
        if scope and scope not in self.proxy.scopes:
            return None
        source = self.source
        if scope:
            # A scope's own meshConfigFrom (``EnrollmentSources.scope_status``), else "config".
            status = getattr(self.source, "scope_status", None)
            source = _ScopeSource(status, scope) if status is not None else None
        view = ProxyAdminState(self.proxy, source, scope)
        view.started_at = self.started_at
        return view

    @property
    def _enrollment(self) -> Enrollment:
        return self.proxy.scopes[self.scope].enrollment if self.scope else self.proxy.enrollment

    def info(self) -> ProcessInfo:
        sels = self._enrollment.selectors
        src = self.source.status() if self.source is not None else None
        return ProcessInfo(
            version=__version__,
            started_at=self.started_at,
            selectors=tuple(str(s) for s in sels.selectors) if sels is not None else (),
            always_enrolled=self._enrollment.always_enrolled,
            selectors_source=source_info(src),
        )

    def selector_set(self) -> SelectorSet | None:
        return self._enrollment.selectors

    def namespaces(self) -> Sequence[NamespaceView]:
        e = self._enrollment
        known = dict(e.namespaces())
        out = []
        for name in sorted(set(known) | e.always_enrolled):
            labels = dict(known.get(name, {}))
            term = e.matching_term(name)
            out.append(NamespaceView(name, labels, term is not None, term))
        return out

    def streams(self) -> Sequence[StreamView]:
        return [
            StreamView(
                id=str(s.id), user_agent=s.user_agent, remote=s.remote, resource=s.resource,
                verb="watch", content_type=s.content_type, opened_at=s.opened_at,
                events_in=s.events_in, events_out=s.events_out,
            )
            for s in self.proxy.registry.streams(self.scope)
        ]  # fmt: skip

    def counters(self) -> Sequence[KindCounters]:
        # The registry's totals already hold every stream, open ones as of their last chunk.
        totals: dict[str, dict[str, int]] = {}
        for kind, t in self.proxy.registry.totals.snapshot().items():
            totals[kind] = {f: t.get(f, 0) for f in _STREAM_FIELDS}
        for kind, st in self.proxy.coalesce_stats.items():
            t = totals.setdefault(kind, {})
            t["events_coalesced"] = st.coalesced
            t["events_suppressed"] = st.suppressed
        return [KindCounters(kind=k, **v) for k, v in sorted(totals.items())]

    def churn(self) -> Mapping[str, float]:
        return self.proxy.churn.rates()

    def readiness(self) -> Readiness:
        w = self.proxy.namespaces
        synced = w.ready.is_set()
        reachable = w.last_ok_after_error
        detail = "" if synced else f"namespace LIST pending: {w.last_error or 'starting'}"
        return Readiness(upstream_reachable=reachable, namespaces_synced=synced, detail=detail)

    def decisions(self) -> DecisionSampler:
        return self.proxy.sampler
