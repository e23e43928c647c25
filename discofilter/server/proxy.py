"""``ProxyServer``: one worker's parts — upstream client, enrollment view, catalog, streams.

It owns the parts and their lifecycle (``start_background``/``stop``) and is the one place that
changes them: enrollment flips (``apply_enrollment_changes``, from the namespace informer and
from reloads) and live reloads (``apply_reload``). The HTTP front reads it through the
``front.context.ProxyContext`` protocol; the admin surfaces through ``admin_state``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable

from aiohttp import web

from discofilter import classify as cls
from discofilter.authz import Authorizer, ReviewAuthorizer
from discofilter.clock import Clock, SystemClock
from discofilter.coalesce import CoalesceStatsTable
from discofilter.config import Config
from discofilter.errors import UpstreamError
from discofilter.filter.enrollment import Enrollment, EnrollmentChange
from discofilter.filter.selectors import SelectorSet
from discofilter.metrics import Metrics
from discofilter.server.front.handler import make_app
from discofilter.server.namespaces.informer import NamespaceWatcher
from discofilter.server.namespaces.served import ServedVersions
from discofilter.server.scopes import Scope
from discofilter.server.shared.manager import SharedWatches
from discofilter.server.shared.metrics import SharedWatchCollector
from discofilter.server.streams.exclusions import UpstreamExclusions
from discofilter.server.streams.pump import Stage, StreamTelemetry
from discofilter.server.streams.registry import StreamRegistry
from discofilter.server.streams.stages import stage_factory
from discofilter.telemetry.churn import ChurnMeter
from discofilter.telemetry.decisions import DecisionSampler
from discofilter.upstream.client import Upstream
from discofilter.upstream.discovery import discover_namespaced

log = logging.getLogger(__name__)

StageFactory = Callable[[cls.ResourceRef, bool], Stage | None]


class ProxyServer:
    def __init__(
        self,
        config: Config,
        upstream: Upstream,
        clock: Clock | None = None,
        metrics: Metrics | None = None,
        authorizer: Authorizer | None = None,
    ) -> None:
        self.config = config
        self.upstream = upstream
        self.clock = clock or SystemClock()
        sels, names = config.enrollment.selector_set()
        self.enrollment = Enrollment(sels, frozenset(config.enrollment.always_enrolled), names)
        self.catalog = cls.ResourceCatalog(exempt=frozenset(config.enrollment.exempt_resources))
        self.registry = StreamRegistry(metrics)
        self.enrollment_generation = 0
        """Bumped each time enrollment flips are applied (namespace events or a reload)."""
        self.served = ServedVersions()
        """Version handed to a client -> the generation it was filtered under (contract 3)."""
        self._metrics = metrics
        self.churn = ChurnMeter(self.clock)
        self.sampler = DecisionSampler()
        self.telemetry = StreamTelemetry(churn=self.churn, sampler=self.sampler)
        self.exclusions = UpstreamExclusions(
            lambda: self.config.streams.upstream_excluded_namespaces, self.enrollment, self.churn
        )
        """What this scope's filtered watches ask the API server to leave out."""
        self.namespaces = NamespaceWatcher(
            upstream, self.enrollment, self.apply_enrollment_changes, self.clock
        )
        self.coalesce_stats = CoalesceStatsTable()
        self.scope = ""
        """This is the default scope's context; the named ones are ``scopes``."""
        if metrics is not None:
            metrics.watch_coalesce(self.coalesce_stats)  # discofilter_coalesce_* per kind
            self._gauge_exclusions(metrics)
        self.stage_factory: StageFactory = stage_factory(
            config.churn_control, self.enrollment, self.coalesce_stats
        )
        """Builds the coalescing stage of a new watch stream (None = no coalescing)."""
        self.scopes: dict[str, Scope] = {s.name: Scope(s.name, self) for s in config.scopes}
        """Named scopes (``/scopes/<name>``), each fed by the one namespace watch."""
        self.namespaces.scopes = list(self.scopes.values())
        self.discovered = False
        self.discovery_attempted = asyncio.Event()
        """Set after the first discovery attempt (success or failure)."""
        self.requests_by_class: dict[str, int] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.shared: SharedWatches | None = None
        """The shared-watch keys when ``sharedWatches.enabled`` (docs/shared-watches.md)."""
        self.authorizer: Authorizer | None = None
        """Authorizes each caller served from the shared cache as itself (SelfSubjectAccessReview
        with the caller's credentials unless a test injects another)."""
        if config.shared_watches.enabled:
            enrollment = self.enrollment
            self.shared = SharedWatches(
                config.shared_watches, upstream, self.clock,
                lambda: None if enrollment.selectors is None else enrollment.enrolled(),
                max_frame_bytes=config.streams.max_frame_bytes,
            )  # fmt: skip
            self.authorizer = authorizer or ReviewAuthorizer(upstream, self.clock)
            if metrics is not None:
                metrics.watch_collector("shared", SharedWatchCollector(self.shared.snapshot))

    # --- changes --------------------------------------------------------------------------------

    def apply_enrollment_changes(self, changes: list[EnrollmentChange]) -> int:
        """Apply flips: end the open streams they leave inexact; return how many ended."""
        if changes:
            self.enrollment_generation += 1
        if self.shared is not None:
            self.shared.apply_changes(changes)
        ended = self.registry.apply_changes(
            changes, lambda ns: self.namespaces.created_rv.get(ns, 0)
        )
        if self.metrics is not None:
            for ch in changes:
                self.metrics.enrollment_changes.labels("added" if ch.enrolled else "removed").inc()
            enrolled = len(self.enrollment.enrolled())
            total = len(self.enrollment.namespaces())
            self.metrics.set_namespaces(enrolled, max(0, total - enrolled), self.ready)
        return ended

    def apply_reload(
        self,
        new: Config,
        selectors: SelectorSet | None,
        names: tuple[str, ...] | None,
        factory: StageFactory,
        extra: Callable[[list[EnrollmentChange]], list[EnrollmentChange]],
    ) -> list[EnrollmentChange]:
        """Switch to ``new``'s live settings and return the flips, which the caller applies
        (``apply_enrollment_changes``) before its next await, so no event is filtered between
        the switch and the endings. ``extra(changes)`` adds the flips only open streams show.
        Restart-only settings (``exemptResources``, ``server``, ``upstream``) stay."""
        changes = self.enrollment.reconfigure(
            selectors, frozenset(new.enrollment.always_enrolled), names
        )
        changes += extra(changes)
        running = self.config
        self.config = dataclasses.replace(
            running,
            enrollment=dataclasses.replace(
                new.enrollment, exempt_resources=running.enrollment.exempt_resources
            ),
            streams=new.streams,
            churn_control=new.churn_control,
        )
        self.stage_factory = factory
        return changes

    # --- what the HTTP front reads (front.context.ProxyContext) ---------------------------------

    def scope_named(self, name: str) -> Scope | None:
        return self.scopes.get(name)

    def count_request(self, request_class: str) -> None:
        self.requests_by_class[request_class] = self.requests_by_class.get(request_class, 0) + 1

    def observe_upstream(self, verb: str, seconds: float) -> None:
        if self.metrics is not None:
            self.metrics.upstream_request_duration.labels(verb).observe(seconds)

    def is_enrolled(self, namespace: str) -> bool:
        return self.enrollment.is_enrolled(namespace)

    def stale_resume(self, resource_version: str) -> bool:
        # Older than the newest flip, or served (a filtered LIST, or the last event of an
        # earlier stream) under an older enrollment: a flip whose own resourceVersion is not
        # newer, applied late because the namespace watch lagged (namespaces/served.py).
        if self.namespaces.resumes_before_flip(resource_version):
            return True
        return self.stale_served(resource_version)

    def stale_served(self, resource_version: str) -> bool:
        gen = self.served.generation_of(resource_version)
        return gen is not None and gen < self.enrollment_generation

    def record_served(self, resource_version: str) -> None:
        self.served.record(resource_version, self.enrollment_generation)

    def stage_for(self, ref: cls.ResourceRef, initial_events: bool) -> Stage | None:
        return self.stage_factory(ref, initial_events)

    async def wait_ready(self) -> bool:
        if self.ready:
            return True
        try:
            async with asyncio.timeout(self.config.server.not_ready_wait_seconds):
                await self.namespaces.ready.wait()
        except TimeoutError:
            return False
        return True

    @property
    def ready(self) -> bool:
        return self.namespaces.ready.is_set()

    @property
    def metrics(self) -> Metrics | None:
        """The Prometheus families this worker reports to (None: not exported)."""
        return self._metrics

    @metrics.setter
    def metrics(self, metrics: Metrics | None) -> None:
        # Streams report through the registry's totals: they follow the new families.
        self._metrics = metrics
        self.registry.totals.use_metrics(metrics)
        if metrics is not None:
            self._gauge_exclusions(metrics)

    def _gauge_exclusions(self, metrics: Metrics) -> None:
        exclusions = self.exclusions
        metrics.upstream_excluded_namespaces.set_function(lambda: len(exclusions.last))

    @property
    def kind_totals(self) -> dict[str, dict[str, int]]:
        """Per-kind counters of every stream, closed and open (as of its last chunk)."""
        return self.registry.totals.snapshot()

    # --- lifecycle ------------------------------------------------------------------------------

    async def refresh_catalog(self) -> None:
        namespaced = await discover_namespaced(self.upstream)
        self.catalog = self.catalog.with_namespaced(namespaced)
        self.discovered = True

    async def _discovery_loop(self) -> None:
        interval = self.config.upstream.discovery_refresh_seconds
        while True:
            try:
                await self.refresh_catalog()
            except UpstreamError as e:
                log.warning(
                    "discovery failed; keeping the previous catalog", extra={"error": str(e)}
                )
            self.discovery_attempted.set()
            await self.clock.sleep(interval if self.discovered else min(interval, 2.0))

    async def start_background(self) -> None:
        await self.upstream.start()
        self._tasks.append(asyncio.create_task(self.namespaces.run(), name="namespace-watch"))
        self._tasks.append(asyncio.create_task(self._discovery_loop(), name="discovery"))
        self._tasks.append(asyncio.create_task(self.churn.run_ticks(), name="churn-ticks"))

    def background_task(self, name: str) -> asyncio.Task[None]:
        """The running background task ``name`` ("namespace-watch" or "discovery"); tests
        cancel one to simulate a proxy that is starting."""
        return next(t for t in self._tasks if t.get_name() == name)

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self._tasks.clear()
        for s in self.registry.streams():
            s.expire("proxy shutting down")
        if self.shared is not None:
            await self.shared.stop()
        await self.upstream.close()

    def make_app(self) -> web.Application:
        return make_app(self)
