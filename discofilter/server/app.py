"""``ProxyServer``: one worker's proxy — its upstream client, enrollment view, catalog, streams.

Request path (one aiohttp catch-all handler, ``handle``):

    classify → Rejected/Upgrade: a Status from the proxy
             → PassThrough: ``passthrough.relay_response`` (byte for byte)
             → FilteredList: wait for readiness, ``filtered_list``
             → FilteredWatch: wait for readiness, ``WatchPump``

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
import time
from collections.abc import Callable

import aiohttp
from aiohttp import web
from aiohttp.typedefs import Handler
from multidict import CIMultiDict

from discofilter import classify as cls
from discofilter.clock import Clock, SystemClock
from discofilter.codec import decoder_for, prune_managed_fields_json
from discofilter.codec.mediatype import is_json
from discofilter.config import Config
from discofilter.errors import CodecError, UpstreamError
from discofilter.filter.enrollment import Enrollment
from discofilter.server.filtered_list import filtered_list
from discofilter.server.headers import forward_headers
from discofilter.server.namespace_watch import NamespaceWatcher
from discofilter.server.negotiation import filterable_accept, wants_table
from discofilter.server.passthrough import read_body, relay_response, upstream_headers
from discofilter.server.responses import status_response
from discofilter.server.streams import StreamRegistry, WatchStream
from discofilter.server.watch_stream import Stage, WatchPump
from discofilter.upstream.client import Upstream
from discofilter.upstream.discovery import discover_namespaced

log = logging.getLogger(__name__)

MAX_REQUEST_BODY = 16 * 1024 * 1024  # the API server itself refuses bodies over 3 MiB


class ProxyServer:
    def __init__(self, config: Config, upstream: Upstream, clock: Clock | None = None) -> None:
        self.config = config
        self.upstream = upstream
        self.clock = clock or SystemClock()
        sels, names = config.enrollment.selector_set()
        self.enrollment = Enrollment(sels, frozenset(config.enrollment.always_enrolled), names)
        self.catalog = cls.ResourceCatalog(exempt=frozenset(config.enrollment.exempt_resources))
        self.registry = StreamRegistry()
        self.namespaces = NamespaceWatcher(
            upstream, self.enrollment, self.registry.apply_changes, self.clock
        )
        self.stage_factory: Callable[[cls.ResourceRef], Stage | None] = lambda ref: None
        """Builds the coalescing stage of a new watch stream (None = no coalescing)."""
        self.discovered = False
        self.requests_by_class: dict[str, int] = {}
        self._tasks: list[asyncio.Task[None]] = []

    # --- lifecycle ------------------------------------------------------------------------------

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
                    self.upstream, request.raw_path, headers, self.keep, own=own
                )
            return await self._watch(request, c, headers, own)
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

    async def _watch(
        self, request: web.Request, c: cls.FilteredWatch, headers: CIMultiDict[str], own: bool
    ) -> web.StreamResponse:
        up = await self.upstream.request("GET", request.raw_path, headers, own=own)
        try:
            ctype = up.headers.get("Content-Type", "")
            if up.status != 200:
                return await relay_response(request, up, self.config.streams.slow_client_seconds)
            try:
                decoder = decoder_for(ctype, self.config.streams.max_frame_bytes)
            except CodecError:
                return status_response(
                    406, f"discofilter cannot filter a watch of content type {ctype!r}"
                )
            resp = web.StreamResponse(
                status=200, headers=forward_headers(up.headers, drop=("Content-Length",))
            )
            resp.enable_chunked_encoding()
            await resp.prepare(request)
            if request.transport is not None:
                # The client may leave this much unsent before writes wait (then time out).
                request.transport.set_write_buffer_limits(
                    high=self.config.streams.client_buffer_bytes
                )
            stream = WatchStream(
                resource=c.resource.group_resource,
                content_type=ctype,
                user_agent=request.headers.get("User-Agent", "")[:200],
                remote=str(request.remote),
                opened_at=time.time(),
            )
            prune = self.config.streams.prune_managed_fields and is_json(ctype)
            pump = WatchPump(
                stream, up, resp, decoder, self.keep,
                table=wants_table(headers.get("Accept")),
                stage=self.stage_factory(c.resource),
                monotonic=self.clock.monotonic,
                slow_client_seconds=self.config.streams.slow_client_seconds,
                transform=prune_managed_fields_json if prune else None,
            )  # fmt: skip
            self.registry.add(stream)
            log.info(
                "upstream watch opened",
                extra={"stream": stream.id, "resource": stream.resource, "content_type": ctype},
            )
            try:
                await pump.run()
            finally:
                self.registry.remove(stream)
                log.info(
                    "upstream watch closed",
                    extra={
                        "stream": stream.id, "resource": stream.resource,
                        "reason": pump.end_reason, "events_in": stream.events_in,
                        "events_out": stream.events_out, "bytes_in": stream.bytes_in,
                        "bytes_out": stream.bytes_out,
                        "seconds": round(time.time() - stream.opened_at, 3),
                    },
                )  # fmt: skip
            with contextlib.suppress(ConnectionResetError, aiohttp.ClientConnectionResetError):
                await resp.write_eof()
            return resp
        finally:
            up.release()
