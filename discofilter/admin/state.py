"""What the admin surfaces (gRPC and HTTP) read from a running proxy: the ``AdminState`` protocol.

The server implements ``AdminState``; the admin code only reads through it, so the admin API is
tested against an in-memory fake and never reaches into server internals. Every method is a cheap
snapshot (called per admin request, never per event) and returns plain frozen values, so a
snapshot cannot change under a serializer while the event loop keeps forwarding.

The hot-path-facing collectors the server feeds (``DecisionSampler``, ``ChurnMeter``) and the
``KindCounters`` snapshot live in ``discofilter.telemetry``, which both server and admin import;
the server exposes them through ``decisions()``, ``churn()`` and ``counters()``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from discofilter.telemetry.counters import KindCounters

if TYPE_CHECKING:
    from discofilter.filter.selectors import SelectorSet
    from discofilter.telemetry.decisions import DecisionSampler


@dataclass(frozen=True, slots=True)
class NamespaceView:
    """One namespace as the proxy's namespace informer sees it."""

    name: str
    labels: Mapping[str, str]
    enrolled: bool
    matching_term: str | None
    """Why it is enrolled, as ``Enrollment.matching_term`` says ("discoverySelectors[1]",
    "alwaysEnrolled", ...); None iff not enrolled."""


@dataclass(frozen=True, slots=True)
class StreamView:
    """One open filtered client stream (LIST or WATCH)."""

    id: str
    user_agent: str
    remote: str
    """Peer address as host:port; never a credential."""
    resource: str
    """Plural resource with group, e.g. "pods" or "endpointslices.discovery.k8s.io"."""
    verb: str
    """"list" or "watch"."""
    content_type: str
    opened_at: float
    """Wall-clock seconds since the epoch."""
    events_in: int
    events_out: int


@dataclass(frozen=True, slots=True)
class Readiness:
    """Whether the proxy can serve filtered requests correctly right now."""

    upstream_reachable: bool
    namespaces_synced: bool
    detail: str = ""
    """Human-readable reason when not ready (no credentials, never a token)."""

    @property
    def ready(self) -> bool:
        return self.upstream_reachable and self.namespaces_synced


@dataclass(frozen=True, slots=True)
class SelectorSourceInfo:
    """Where the selectors in effect come from (``meshConfigFrom`` or the config file)."""

    source: str = "config"
    """``configmap:istio-system/istio``, or ``config`` (the file and the flags)."""
    healthy: bool = True
    """False while the source's latest value is refused and the previous selectors stay."""
    error: str = ""
    resource_version: str = ""
    """The source object's resourceVersion whose selectors are in effect ("" = the fallback)."""
    seen_resource_version: str = ""


@dataclass(frozen=True, slots=True)
class ProcessInfo:
    version: str
    started_at: float
    """Wall-clock seconds since the epoch."""
    selectors: Sequence[str] = field(default_factory=tuple)
    """The configured OR-terms in kubectl syntax; empty means "all namespaces"."""
    always_enrolled: frozenset[str] = frozenset({"istio-system"})
    selectors_source: SelectorSourceInfo = field(default_factory=SelectorSourceInfo)


class AdminState(Protocol):
    """Read-only view of a running proxy, implemented by the server."""

    def info(self) -> ProcessInfo:
        """Version, start time and the selector configuration in effect."""

    def selector_set(self) -> SelectorSet | None:
        """The SelectorSet in effect; None means every namespace is enrolled."""

    def namespaces(self) -> Sequence[NamespaceView]:
        """Every namespace the proxy knows, enrolled or not, sorted by name."""

    def streams(self) -> Sequence[StreamView]:
        """Open filtered client streams."""

    def counters(self) -> Sequence[KindCounters]:
        """Per-kind counters since start."""

    def churn(self) -> Mapping[str, float]:
        """Recent events/s per namespace (upstream side, before filtering)."""

    def readiness(self) -> Readiness:
        """Upstream reachable and namespaces synced."""

    def decisions(self) -> DecisionSampler:
        """The sampled decision feed."""

    def scoped(self, scope: str) -> AdminState | None:
        """The same view of the named scope ("" = the default one); None when there is none."""
