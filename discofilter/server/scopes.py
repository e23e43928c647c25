"""Named scopes: several control planes through one proxy (docs/istio.md "Scopes").

A ``Scope`` is the ``ProxyContext`` of ``/scopes/<name>``: the worker's upstream client,
catalog, stream registry and telemetry, with the scope's own

* ``Enrollment`` view, fed by the worker's one namespace watch (``NamespaceWatcher.scopes``);
* flip stamp (``last_flip_rv``) and served versions (``ServedVersions``), so contract 3 holds
  per scope: a resume relists when *its* scope flipped since, never because another did;
* coalescing stage factory (the held events follow the scope's enrollment).

Streams it opens carry ``scope=name`` in the registry: a flip of this scope ends only them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Protocol

from discofilter import classify as cls
from discofilter.clock import Clock
from discofilter.coalesce import CoalesceStatsTable
from discofilter.config import Config
from discofilter.filter.enrollment import Enrollment, EnrollmentChange
from discofilter.server.namespaces.informer import NamespaceWatcher, resumes_before
from discofilter.server.namespaces.served import ServedVersions
from discofilter.server.streams.exclusions import UpstreamExclusions
from discofilter.server.streams.pump import Stage, StreamTelemetry
from discofilter.server.streams.registry import StreamRegistry
from discofilter.server.streams.stages import stage_factory
from discofilter.upstream.client import Upstream


class Worker(Protocol):
    """The parts of one worker (``ProxyServer``) a scope lends; a protocol, so that the arrow
    runs one way (proxy → scopes)."""

    @property
    def config(self) -> Config: ...
    @property
    def upstream(self) -> Upstream: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def registry(self) -> StreamRegistry: ...
    @property
    def telemetry(self) -> StreamTelemetry: ...
    @property
    def catalog(self) -> cls.ResourceCatalog: ...
    @property
    def discovery_attempted(self) -> asyncio.Event: ...
    @property
    def coalesce_stats(self) -> CoalesceStatsTable: ...
    @property
    def namespaces(self) -> NamespaceWatcher: ...
    @property
    def exclusions(self) -> UpstreamExclusions: ...
    @property
    def scopes(self) -> Mapping[str, Scope]: ...

    def count_request(self, request_class: str) -> None: ...

    def observe_upstream(self, verb: str, seconds: float) -> None: ...

    async def wait_ready(self) -> bool: ...


class Scope:
    def __init__(self, name: str, proxy: Worker) -> None:
        self.scope = name
        self._proxy = proxy
        sc = proxy.config.scope(name)
        assert sc is not None
        config = sc.enrollment(proxy.config.enrollment)
        sels, names = config.selector_set()
        self.enrollment = Enrollment(sels, frozenset(config.always_enrolled), names)
        self.last_flip_rv = 0
        """Invariant: >= the resourceVersion of every flip of this scope (informer.py)."""
        self.enrollment_generation = 0
        """Bumped each time this scope's flips are applied."""
        self.served = ServedVersions()
        self.stage_factory = stage_factory(
            proxy.config.churn_control, self.enrollment, proxy.coalesce_stats
        )
        self.exclusions = UpstreamExclusions(
            lambda: proxy.config.streams.upstream_excluded_namespaces, self.enrollment,
            proxy.telemetry.churn, proxy.exclusions.refused,
        )  # fmt: skip
        """This scope's own exclusions (its enrollment), the worker's churn and refusals."""

    # --- the worker's shared parts --------------------------------------------------------------

    @property
    def config(self) -> Config:
        return self._proxy.config

    @property
    def upstream(self) -> Upstream:
        return self._proxy.upstream

    @property
    def clock(self) -> Clock:
        return self._proxy.clock

    @property
    def registry(self) -> StreamRegistry:
        return self._proxy.registry

    @property
    def telemetry(self) -> StreamTelemetry:
        return self._proxy.telemetry

    @property
    def catalog(self) -> cls.ResourceCatalog:
        return self._proxy.catalog

    @property
    def discovery_attempted(self) -> asyncio.Event:
        return self._proxy.discovery_attempted

    def scope_named(self, name: str) -> Scope | None:
        return self._proxy.scopes.get(name)

    def count_request(self, request_class: str) -> None:
        self._proxy.count_request(request_class)

    def observe_upstream(self, verb: str, seconds: float) -> None:
        self._proxy.observe_upstream(verb, seconds)

    async def wait_ready(self) -> bool:
        return await self._proxy.wait_ready()

    # --- the scope's own view -------------------------------------------------------------------

    def is_enrolled(self, namespace: str) -> bool:
        return self.enrollment.is_enrolled(namespace)

    def stale_resume(self, resource_version: str) -> bool:
        # As ProxyServer.stale_resume, with this scope's flips and served versions.
        if resumes_before(resource_version, self.last_flip_rv):
            return True
        gen = self.served.generation_of(resource_version)
        return gen is not None and gen < self.enrollment_generation

    def stale_served(self, resource_version: str) -> bool:
        gen = self.served.generation_of(resource_version)
        return gen is not None and gen < self.enrollment_generation

    # Named scopes have their own enrollment view: they are not served from the default
    # scope's shared cache (docs/shared-watches.md "Scopes").
    shared = None
    authorizer = None

    def record_served(self, resource_version: str) -> None:
        self.served.record(resource_version, self.enrollment_generation)

    def stage_for(self, ref: cls.ResourceRef, initial_events: bool) -> Stage | None:
        return self.stage_factory(ref, initial_events)

    def apply_changes(self, changes: list[EnrollmentChange]) -> int:
        """End this scope's streams the flips leave inexact; return how many ended."""
        if changes:
            self.enrollment_generation += 1
        return self.registry.apply_changes(
            changes, lambda ns: self._proxy.namespaces.created_rv.get(ns, 0), self.scope
        )
