"""``ProxyServer``: one worker's proxy — its upstream client, enrollment view, catalog, streams.

Request path (one aiohttp catch-all handler, ``handle``):

    classify → Rejected/Upgrade: a Status from the proxy
             → PassThrough: ``passthrough.relay_response`` (byte for byte)
             → FilteredList: wait for readiness, ``filtered_list``
             → FilteredWatch: wait for readiness, ``filtered_watch`` (``WatchPump``)
    (unknown resources wait for the first API discovery, then are classified again)

Readiness: filtered requests wait up to ``server.notReadyWaitSeconds`` (5 s) for the first
namespace LIST, then get ``503`` with ``Retry-After: 1`` (client-go retries it). Waiting briefly
instead of failing at once hides a proxy restart from istiod; failing rather than passing
unfiltered keeps non-enrolled objects out (fail closed). Pass-through requests never wait.

Credentials (contract 5): the caller's ``Authorization`` and ``Impersonate-*`` headers go
upstream unchanged on the caller session; the proxy's identity is used for its own traffic, and
for callers *without* Authorization only in sidecar mode (then ``Impersonate-*`` is dropped).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from aiohttp import web
from aiohttp.typedefs import Handler

from discofilter import classify as cls
from discofilter.clock import Clock, SystemClock
from discofilter.coalesce import CoalesceStatsTable
from discofilter.config import Config
from discofilter.errors import UpstreamError
from discofilter.filter.enrollment import Enrollment, EnrollmentChange
from discofilter.metrics import Metrics
from discofilter.server.front.accept import filterable_accept
from discofilter.server.front.lists import filtered_list
from discofilter.server.front.passthrough import read_body, relay_response, upstream_headers
from discofilter.server.front.responses import status_response
from discofilter.server.front.watches import filtered_watch
from discofilter.server.namespaces.informer import NamespaceWatcher
from discofilter.server.namespaces.served import ServedVersions
from discofilter.server.streams.pump import Stage
from discofilter.server.streams.registry import StreamHooks, StreamRegistry, WatchStream
from discofilter.server.streams.stages import stage_factory
from discofilter.telemetry.churn import ChurnMeter
from discofilter.telemetry.decisions import DecisionSampler
from discofilter.upstream.client import Upstream
from discofilter.upstream.discovery import discover_namespaced

log = logging.getLogger(__name__)

MAX_REQUEST_BODY = 16 * 1024 * 1024  # the API server itself refuses bodies over 3 MiB


class ProxyServer:
    def __init__(
        self,
        config: Config,
        upstream: Upstream,
        clock: Clock | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.config = config
        self.upstream = upstream
        self.clock = clock or SystemClock()
        sels, names = config.enrollment.selector_set()
        self.enrollment = Enrollment(sels, frozenset(config.enrollment.always_enrolled), names)
        self.catalog = cls.ResourceCatalog(exempt=frozenset(config.enrollment.exempt_resources))
        self.registry = StreamRegistry()
        self.enrollment_generation = 0
        """Bumped each time enrollment flips are applied (namespace events or a reload)."""
        self.served = ServedVersions()
        """Version handed to a client -> the generation it was filtered under (contract 3)."""
        self.metrics = metrics
        self.churn = ChurnMeter(self.clock)
        self.sampler = DecisionSampler()
        self.kind_totals: dict[str, dict[str, int]] = {}
        """Per-kind counters of closed streams (live ones are added at snapshot time)."""
        self.namespaces = NamespaceWatcher(
            upstream, self.enrollment, self._on_enrollment_changes, self.clock
        )
        self.coalesce_stats = CoalesceStatsTable()
        if metrics is not None:
            metrics.watch_coalesce(self.coalesce_stats)  # discofilter_coalesce_* per kind
        self.stage_factory: Callable[[cls.ResourceRef, bool], Stage | None] = stage_factory(
            config.churn_control, self.enrollment, self.coalesce_stats
        )
        """Builds the coalescing stage of a new watch stream (None = no coalescing)."""
        self.discovered = False
        self.discovery_attempted = asyncio.Event()
        """Set after the first discovery attempt (success or failure)."""
        self.requests_by_class: dict[str, int] = {}
        self._tasks: list[asyncio.Task[None]] = []

    # --- lifecycle ------------------------------------------------------------------------------

    def _on_enrollment_changes(self, changes: list[EnrollmentChange]) -> None:
        if changes:
            self.enrollment_generation += 1
        self.registry.apply_changes(changes, lambda ns: self.namespaces.created_rv.get(ns, 0))
        if self.metrics is not None:
            for ch in changes:
                self.metrics.enrollment_changes.labels("added" if ch.enrolled else "removed").inc()
            enrolled = len(self.enrollment.enrolled())
            total = len(self.enrollment.namespaces())
            self.metrics.set_namespaces(enrolled, max(0, total - enrolled), self.ready)

    def hooks(self, kind: str) -> StreamHooks:
        km = self.metrics.for_kind(kind) if self.metrics is not None else None
        return StreamHooks(metrics=km, churn=self.churn, sampler=self.sampler)

    def stream_closed(self, stream: WatchStream, reason: str) -> None:
        t = self.kind_totals.setdefault(stream.resource, {})
        for f in ("events_in", "events_out", "bytes_in", "bytes_out"):
            t[f] = t.get(f, 0) + getattr(stream, f)
        if reason == "client too slow":
            t["slow_client_closures"] = t.get("slow_client_closures", 0) + 1
            if self.metrics is not None:
                self.metrics.for_kind(stream.resource).slow_client_closures.inc()

    def keep(self, namespace: str) -> bool:
        """The filter predicate: cluster-scoped items (namespace "") pass; the rest if enrolled."""
        return not namespace or self.enrollment.is_enrolled(namespace)

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

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self._tasks.clear()
        for s in self.registry.streams():
            s.expire("proxy shutting down")
        await self.upstream.close()

    def make_app(self) -> web.Application:
        # A middleware, not just the catch-all route: aiohttp's router never matches CONNECT
        # (it would answer a plain-text 404); every request must get the proxy's own Status.
        @web.middleware
        async def everything(request: web.Request, handler: Handler) -> web.StreamResponse:
            del handler  # the router is bypassed on purpose
            return await self.handle(request)

        app = web.Application(
            client_max_size=MAX_REQUEST_BODY,
            handler_args={"max_field_size": 65536},
            middlewares=[everything],
        )
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    @property
    def ready(self) -> bool:
        return self.namespaces.ready.is_set()

    # --- requests -------------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        c = cls.classify(request.method, request.raw_path, request.headers, self.catalog)
        if (
            isinstance(c, cls.PassThrough)
            and c.reason == cls.UNKNOWN_RESOURCE
            and not self.discovery_attempted.is_set()
        ):
            # Before the first discovery a custom resource looks "unknown" and would pass
            # unfiltered: wait (bounded) for discovery, then classify again. Fail closed.
            try:
                async with asyncio.timeout(self.config.server.not_ready_wait_seconds):
                    await self.discovery_attempted.wait()
            except TimeoutError:
                return status_response(
                    503, "discofilter is starting: API discovery not done yet", retry_after=1
                )
            c = cls.classify(request.method, request.raw_path, request.headers, self.catalog)
        name = type(c).__name__
        self.requests_by_class[name] = self.requests_by_class.get(name, 0) + 1
        if isinstance(c, cls.Rejected):
            return status_response(c.code, c.message)
        if isinstance(c, cls.Upgrade):
            return status_response(
                501,
                f"discofilter does not proxy connection upgrades ({c.what}); "
                "run exec/attach/port-forward against the API server directly",
            )
        own = self.config.server.sidecar and "Authorization" not in request.headers
        try:
            if isinstance(c, cls.PassThrough):
                return await self._pass_through(request, own)
            if not await self._wait_ready():
                return status_response(
                    503, "discofilter is starting: namespace enrollment not synced yet",
                    retry_after=1,
                )  # fmt: skip
            headers = upstream_headers(request, drop_impersonation=own)
            accept = filterable_accept(request.headers.get("Accept"))
            if accept == "":
                return status_response(
                    406, "discofilter filters only application/json and "
                    "application/vnd.kubernetes.protobuf responses",
                )  # fmt: skip
            if accept is not None:
                headers["Accept"] = accept
            if isinstance(c, cls.FilteredList):
                return await filtered_list(
                    self.upstream, request.raw_path, headers, self.keep, own=own,
                    served=lambda rv: self.served.record(rv, self.enrollment_generation),
                )  # fmt: skip
            return await filtered_watch(self, request, c, headers, own)
        except UpstreamError as e:
            log.warning("upstream request failed", extra={"path": request.path, "error": str(e)})
            return status_response(503, f"upstream unavailable: {e}", retry_after=1)

    async def _wait_ready(self) -> bool:
        if self.ready:
            return True
        try:
            async with asyncio.timeout(self.config.server.not_ready_wait_seconds):
                await self.namespaces.ready.wait()
        except TimeoutError:
            return False
        return True

    async def _pass_through(self, request: web.Request, own: bool) -> web.StreamResponse:
        headers = upstream_headers(request, drop_impersonation=own)
        body = await read_body(request)
        up = await self.upstream.request(request.method, request.raw_path, headers, body, own=own)
        try:
            return await relay_response(request, up, self.config.streams.slow_client_seconds)
        finally:
            up.release()
