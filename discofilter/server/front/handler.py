"""The catch-all request handler: classify, then answer, pass through, or filter.

Request path::

    classify → Rejected/Upgrade: a Status from the proxy
             → PassThrough: ``passthrough.relay_response`` (byte for byte)
             → FilteredList: wait for readiness, ``lists.filtered_list``
             → FilteredWatch: wait for readiness, ``watches.filtered_watch`` (``WatchPump``)
    (with ``sharedWatches``, a FilteredList/FilteredWatch of a shareable key is first offered to
    ``cached.cached_request``: authorized as the caller, served from the key's cache; it falls
    back to the direct path when the cache cannot answer it)
    (unknown resources wait for the first API discovery, then are classified again)

Readiness: filtered requests wait up to ``server.notReadyWaitSeconds`` (5 s) for the first
namespace LIST, then get ``503`` with ``Retry-After: 1`` (client-go retries it). Waiting briefly
instead of failing at once hides a proxy restart from istiod; failing rather than passing
unfiltered keeps non-enrolled objects out (fail closed). Pass-through requests never wait.

Scopes: a path under ``/scopes/<name>`` is served by that scope's context (its own enrollment
view) with the prefix stripped, so classification and the upstream see today's paths; an
unknown scope is a ``404`` Status, never the default scope (that would widen a misconfigured
istiod's view). The prefix is stripped once: ``/scopes/a/scopes/b`` goes upstream as
``/scopes/b`` (which the API server answers 404).

Credentials (contract 5): the caller's ``Authorization`` and ``Impersonate-*`` headers go
upstream unchanged on the caller session; the proxy's identity is used for its own traffic, and
for callers *without* Authorization only in sidecar mode (then ``Impersonate-*`` is dropped).
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from aiohttp.typedefs import Handler
from yarl import URL

from discofilter import classify as cls
from discofilter.errors import UpstreamError
from discofilter.filter.events import namespace_filter
from discofilter.server.front.accept import filterable_accept
from discofilter.server.front.cached import cached_request, shared_key
from discofilter.server.front.context import ProxyContext
from discofilter.server.front.lists import filtered_list
from discofilter.server.front.passthrough import read_body, relay_response, upstream_headers
from discofilter.server.front.responses import status_response
from discofilter.server.front.watches import filtered_watch

log = logging.getLogger("discofilter.server.app")

MAX_REQUEST_BODY = 16 * 1024 * 1024  # the API server itself refuses bodies over 3 MiB


def make_app(proxy: ProxyContext) -> web.Application:
    """The proxy's aiohttp application: every request goes to ``handle``."""

    async def route(request: web.Request) -> web.StreamResponse:
        return await handle(proxy, request)

    # A middleware, not just the catch-all route: aiohttp's router never matches CONNECT
    # (it would answer a plain-text 404); every request must get the proxy's own Status.
    @web.middleware
    async def everything(request: web.Request, handler: Handler) -> web.StreamResponse:
        del handler  # the router is bypassed on purpose
        return await handle(proxy, request)

    app = web.Application(
        client_max_size=MAX_REQUEST_BODY,
        handler_args={"max_field_size": 65536},
        middlewares=[everything],
    )
    app.router.add_route("*", "/{tail:.*}", route)
    return app


async def _classify(proxy: ProxyContext, request: web.Request) -> cls.Classified | None:
    """The request's class; None when discovery did not come in time for an unknown one."""
    c = cls.classify(request.method, request.raw_path, request.headers, proxy.catalog)
    if (
        isinstance(c, cls.PassThrough)
        and c.reason == cls.UNKNOWN_RESOURCE
        and not proxy.discovery_attempted.is_set()
    ):
        # Before the first discovery a custom resource looks "unknown" and would pass
        # unfiltered: wait (bounded) for discovery, then classify again. Fail closed.
        try:
            async with asyncio.timeout(proxy.config.server.not_ready_wait_seconds):
                await proxy.discovery_attempted.wait()
        except TimeoutError:
            return None
        c = cls.classify(request.method, request.raw_path, request.headers, proxy.catalog)
    return c


SCOPE_PREFIX = "/scopes/"


def _scoped(
    proxy: ProxyContext, request: web.Request
) -> tuple[ProxyContext, web.Request] | web.StreamResponse:
    """The scope's context and the request without ``/scopes/<name>``, or a 404 Status."""
    raw = request.raw_path
    if not raw.startswith(SCOPE_PREFIX):
        return proxy, request
    rest = raw[len(SCOPE_PREFIX) :]
    cut = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    name, tail = rest[:cut], rest[cut:]
    scope = proxy.scope_named(name)
    if scope is None:
        return status_response(404, f"discofilter has no scope named {name[:63]!r}")
    if not tail.startswith("/"):
        tail = "/" + tail
    # encoded=True: the client's own percent-encoding goes upstream unchanged.
    return scope, request.clone(rel_url=URL(tail, encoded=True))


async def handle(proxy: ProxyContext, request: web.Request) -> web.StreamResponse:
    scoped = _scoped(proxy, request)
    if isinstance(scoped, web.StreamResponse):
        return scoped
    proxy, request = scoped
    c = await _classify(proxy, request)
    if c is None:
        return status_response(
            503, "discofilter is starting: API discovery not done yet", retry_after=1
        )
    proxy.count_request(type(c).__name__)
    if isinstance(c, cls.Rejected):
        return status_response(c.code, c.message)
    if isinstance(c, cls.Upgrade):
        return status_response(
            501,
            f"discofilter does not proxy connection upgrades ({c.what}); "
            "run exec/attach/port-forward against the API server directly",
        )
    own = proxy.config.server.sidecar and "Authorization" not in request.headers
    try:
        if isinstance(c, cls.PassThrough):
            return await _pass_through(proxy, request, own)
        return await _filtered(proxy, request, c, own)
    except UpstreamError as e:
        log.warning("upstream request failed", extra={"path": request.path, "error": str(e)})
        return status_response(503, f"upstream unavailable: {e}", retry_after=1)


async def _filtered(
    proxy: ProxyContext,
    request: web.Request,
    c: cls.FilteredList | cls.FilteredWatch,
    own: bool,
) -> web.StreamResponse:
    if not await proxy.wait_ready():
        return status_response(
            503, "discofilter is starting: namespace enrollment not synced yet", retry_after=1
        )
    headers = upstream_headers(request, drop_impersonation=own)
    accept = filterable_accept(request.headers.get("Accept"))
    if accept == "":
        return status_response(
            406, "discofilter filters only application/json and "
            "application/vnd.kubernetes.protobuf responses",
        )  # fmt: skip
    if accept is not None:
        headers["Accept"] = accept
    if proxy.shared is not None and proxy.authorizer is not None:
        key = shared_key(c, request.query, request.headers.get("Accept"))
        if key is not None:
            cached = await cached_request(
                proxy, proxy.shared, proxy.authorizer, request, c, key, own
            )
            if cached is not None:
                return cached
    if isinstance(c, cls.FilteredList):
        started = proxy.clock.monotonic()

        def body_read() -> None:
            proxy.observe_upstream("list", proxy.clock.monotonic() - started)

        return await filtered_list(
            proxy.upstream, request.raw_path, headers, namespace_filter(proxy.is_enrolled),
            own=own, served=proxy.record_served, body_read=body_read,
        )  # fmt: skip
    return await filtered_watch(proxy, request, c, headers, own)


async def _pass_through(proxy: ProxyContext, request: web.Request, own: bool) -> web.StreamResponse:
    headers = upstream_headers(request, drop_impersonation=own)
    body = await read_body(request)
    started = proxy.clock.monotonic()
    up = await proxy.upstream.request(request.method, request.raw_path, headers, body, own=own)
    proxy.observe_upstream(request.method.lower(), proxy.clock.monotonic() - started)
    try:
        return await relay_response(request, up, proxy.config.streams.slow_client_seconds)
    finally:
        up.release()
