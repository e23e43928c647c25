"""Cluster-wide LISTs and WATCHes served from the shared-watch cache (``sharedWatches``).

Which requests (``shared_key``): a cluster-wide LIST or WATCH of the default scope, in JSON or
protobuf (the first filterable type of the caller's ``Accept``), without ``as=Table`` /
``PartialObjectMetadata`` views, with only the query parameters a cacher understands
(``resourceVersion[Match]``, ``allowWatchBookmarks``, ``sendInitialEvents``, ``timeoutSeconds``,
``limit``, ``continue``, ``labelSelector``, ``fieldSelector``). Anything else takes the direct path
(``lists.py``/``watches.py``) unchanged, as does every request while its key cannot be shared.

Order, per request: **authorize** the caller as itself (``authz``; a refusal is its 401/403
``Status`` and not a byte of data), then the key's cache (started on demand; waits for its first
LIST at most ``server.notReadyWaitSeconds``), then kube-apiserver's cacher semantics:

* LIST ``resourceVersion=0``: the cache at once. ``resourceVersion=""`` (consistent read): the
  upstream's current resourceVersion is learnt with a ``limit=1`` LIST under the proxy's identity
  and the cache must reach it within ``sharedWatches.consistentReadTimeoutSeconds``; a number:
  the cache must reach it within the same time. On a timeout, or ``resourceVersionMatch=Exact``,
  the LIST goes to the upstream as the caller (today's filtered path). ``limit``/``continue``
  page a pinned snapshot; an expired token is ``410 Expired``; a token the cache did not issue
  (a page of a direct LIST) goes on upstream.
* WATCH: ``SharedCache.watch`` (replay from the window, ``410`` when too old, synthetic ADDED for
  ""/"0", WatchList's initial events and bookmark), read through the client's own ``WatchPump``
  (coalescing, managedFields pruning, slow-client cut, counters). A WatchList or a watch at an RV
  newer than the cache waits for the cache like a LIST, then goes direct.
* Resumes: a watch from an RV the proxy served (a LIST, an earlier stream's last event) under an
  older enrollment gets 410 (contract 3); the cache's own barrier covers resumes from its own RVs.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import orjson
from aiohttp import web

from discofilter import classify as cls
from discofilter.authz import Attributes, Authorizer
from discofilter.cache import (
    BadContinueToken,
    CacheError,
    CacheKey,
    ExpiredToken,
    InvalidResourceVersion,
)
from discofilter.codec import decoder_for
from discofilter.codec.listitems import build_list
from discofilter.codec.mediatype import JSON, PROTOBUF
from discofilter.server.front.accept import wants_table
from discofilter.server.front.context import ProxyContext
from discofilter.server.front.responses import status_response
from discofilter.server.front.watches import (
    JSON_WATCH,
    PROTOBUF_WATCH,
    expired_watch,
    run_stream,
    stream_pump,
)
from discofilter.server.shared.body import CachedEvents, WatcherBody
from discofilter.server.shared.manager import SharedWatches
from discofilter.server.shared.reflector import KeyReflector
from discofilter.status import expired_message

log = logging.getLogger("discofilter.server.app")

_CACHER_PARAMS = frozenset(
    {
        "watch", "resourceVersion", "resourceVersionMatch", "allowWatchBookmarks",
        "sendInitialEvents", "timeoutSeconds", "timeout", "limit", "continue",
        "labelSelector", "fieldSelector",
    }
)  # fmt: skip


def shared_media(accept: str | None) -> str | None:
    """The content type a shared key of this ``Accept`` holds (JSON or protobuf), or None when
    the caller asks for a view the cache does not build (``as=Table``, ``PartialObjectMetadata``)
    or for nothing the proxy filters."""
    if accept is None or not accept.strip():
        return JSON
    if wants_table(accept) or ";as=" in accept.replace(" ", "").lower():
        return None
    for part in accept.split(","):
        media = part.split(";", 1)[0].strip().lower()
        if media == PROTOBUF:
            return PROTOBUF
        if media in ("application/json", "*/*", "application/*"):
            return JSON
    return None


def shared_key(
    c: cls.FilteredList | cls.FilteredWatch, query: Mapping[str, str], accept: str | None
) -> CacheKey | None:
    """The cache key serving this request, or None when it takes the direct path."""
    if isinstance(c, cls.FilteredWatch) and c.legacy_path:
        return None
    if any(k not in _CACHER_PARAMS for k in query):
        return None
    media = shared_media(accept)
    if media is None:
        return None
    ref = c.resource
    return CacheKey(
        f"{ref.group}/{ref.version}/{ref.resource}",
        media,
        query.get("labelSelector", ""),
        query.get("fieldSelector", ""),
    )


def _attributes(c: cls.FilteredList | cls.FilteredWatch, verb: str) -> Attributes:
    ref = c.resource
    return Attributes(
        verb=verb, group=ref.group, version=ref.version, resource=ref.resource, namespace=""
    )


async def _authorized(
    authorizer: Authorizer, request: web.Request, attrs: Attributes, own: bool
) -> web.StreamResponse | None:
    """None when the caller may; else its 401/403 Status. ``own`` (sidecar mode, no
    credentials): the proxy's identity serves it, as on the direct path."""
    if own:
        return None
    verdict = await authorizer.authorize(request.headers, attrs)
    if verdict.allowed:
        return None
    reason = "Unauthorized" if verdict.code == 401 else "Forbidden"
    return status_response(verdict.code, verdict.message or reason, reason)


async def _upstream_rv(proxy: ProxyContext, r: KeyReflector) -> int | None:
    """The upstream's current resourceVersion for a consistent read (a ``limit=1`` LIST)."""
    q = r.query(limit="1")
    status, body = await proxy.upstream.get_own(f"{r.path}?{q}", {"Accept": "application/json"})
    if status != 200:
        return None
    try:
        rv = (orjson.loads(body).get("metadata") or {}).get("resourceVersion", "")
        return int(rv)
    except (orjson.JSONDecodeError, ValueError, TypeError, AttributeError):
        return None


async def _fresh(proxy: ProxyContext, r: KeyReflector, resource_version: str) -> bool:
    """Whether the cache reached ``resource_version`` ("" = the upstream's current one) in time."""
    timeout = proxy.config.shared_watches.consistent_read_timeout_seconds
    if resource_version == "":
        target = await _upstream_rv(proxy, r)
        if target is None:
            return False
    else:
        try:
            target = int(resource_version)
        except ValueError:
            return False
    return await r.wait_until(target, timeout)


async def cached_request(
    proxy: ProxyContext,
    shared: SharedWatches,
    authorizer: Authorizer,
    request: web.Request,
    c: cls.FilteredList | cls.FilteredWatch,
    key: CacheKey,
    own: bool,
) -> web.StreamResponse | None:
    """Serve ``c`` from the cache; None when it must take the direct path instead."""
    if not shared.may_share(key):
        return None  # not shareable now: the direct path, where the API server authorizes
    verb = "list" if isinstance(c, cls.FilteredList) else "watch"
    refused = await _authorized(authorizer, request, _attributes(c, verb), own)
    if refused is not None:
        shared.count_denied(key)
        return refused
    r = await shared.reflector_for(key, c.path, proxy.config.server.not_ready_wait_seconds)
    if r is None or r.cache is None:
        return None
    if isinstance(c, cls.FilteredList):
        resp = await _cached_list(proxy, request, r)
    else:
        resp = await _cached_watch(proxy, request, c, r)
    if resp is None:
        shared.count_upstream(key, watch=verb == "watch")
    return resp


async def _cached_list(
    proxy: ProxyContext, request: web.Request, r: KeyReflector
) -> web.StreamResponse | None:
    q = request.query
    cache = r.cache
    assert cache is not None
    rv = q.get("resourceVersion", "")
    token = q.get("continue", "")
    try:
        limit = int(q.get("limit", "0") or "0")
    except ValueError:
        return None  # the API server's own 400
    if token:
        try:
            page = cache.list(limit, token)
        except BadContinueToken:
            return None  # a page of a direct LIST: its token is the API server's
        except ExpiredToken as e:
            return status_response(410, expired_message(str(e)), "Expired")
    else:
        if q.get("resourceVersionMatch") == "Exact":
            return None
        if rv != "0" and not await _fresh(proxy, r, rv):
            return None
        cache = r.cache  # re-read after the await: the key may have stopped meanwhile
        if cache is None or not cache.ready:
            return None
        page = cache.list(limit)
    body = build_list(
        [o.object for o in page.items], page.resource_version, page.continue_token,
        cache.key.content_type, r.api_version, r.kind + "List",
    )  # fmt: skip
    proxy.record_served(page.resource_version)
    return web.Response(status=200, body=body, headers={"Content-Type": cache.key.content_type})


async def _cached_watch(
    proxy: ProxyContext, request: web.Request, c: cls.FilteredWatch, r: KeyReflector
) -> web.StreamResponse | None:
    q = request.query
    rv = q.get("resourceVersion", "")
    sie = c.send_initial_events
    ctype = r.key.content_type
    # A resume from an RV the proxy handed out under an older enrollment (contract 3). RVs it
    # never served are left to the cache's window and flip barrier, which cover every RV the
    # cache reached. (Not the direct path's flip-RV check: the cache's RV may lag the namespace
    # event's, and a client listing from the cache would then 410 until the next pod event.)
    checked = proxy.enrollment_generation
    if not sie and rv not in ("", "0") and proxy.stale_served(rv):
        return await expired_watch(proxy, request, ctype)
    if sie and rv != "0" and not await _fresh(proxy, r, rv):
        return None
    cache = r.cache
    if cache is None or not cache.ready:
        return None
    try:
        watcher = cache.watch(
            rv, send_initial_events=sie,
            allow_bookmarks=q.get("allowWatchBookmarks", "") in ("true", "1"),
        )  # fmt: skip
    except InvalidResourceVersion as e:
        return status_response(400, str(e), "BadRequest")
    except CacheError:
        return None
    timeout: float | None = None
    if (t := q.get("timeoutSeconds", "")).isdigit() and int(t) > 0:
        timeout = float(t)
    wire_type = PROTOBUF_WATCH if ctype == PROTOBUF else JSON_WATCH
    body = WatcherBody(
        watcher, decoder_for(wire_type, proxy.config.streams.max_frame_bytes), timeout
    )
    try:
        resp = web.StreamResponse(status=200, headers={"Content-Type": wire_type})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        if request.transport is not None:
            request.transport.set_write_buffer_limits(high=proxy.config.streams.client_buffer_bytes)
        pump = stream_pump(proxy, request, c, wire_type, body, resp, CachedEvents(body), _ALL)
        await run_stream(proxy, pump, checked_at=checked, cached=True)
        try:
            await resp.write_eof()
        except ConnectionResetError:
            pass
        return resp
    finally:
        body.close()


def _all(namespace: str) -> bool:
    return True


_ALL = _all
"""The cache holds enrolled namespaces only: its clients' streams filter nothing again."""
