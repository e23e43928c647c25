"""Cluster-wide WATCHes: open the upstream watch, run the ``WatchPump``, log and count.

Before contacting the upstream, a watch that resumes from a resourceVersion older than the
newest enrollment flip is answered with an immediate ``410 Expired`` ERROR event: the client's
state was filtered under the old enrollment and no open stream saw the flip (contract 3; see
docs/proxy.md "Between streams"). A WatchList (``sendInitialEvents``) never needs that: it
rebuilds the whole filtered state.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

from discofilter.classify import FilteredWatch
from discofilter.codec import decoder_for, encode_error_event, prune_managed_fields_json
from discofilter.codec.mediatype import is_json
from discofilter.errors import CodecError
from discofilter.server.front.accept import wants_table
from discofilter.server.front.headers import forward_headers
from discofilter.server.front.passthrough import relay_response
from discofilter.server.front.responses import status_response
from discofilter.server.streams.pump import WatchPump
from discofilter.server.streams.registry import RESUMED_OPAQUE, WatchStream
from discofilter.status import expired_message, status_dict

if TYPE_CHECKING:
    from discofilter.server.proxy import ProxyServer

log = logging.getLogger("discofilter.server.proxy")  # one logger name for watch open/close lines

PROTOBUF = "application/vnd.kubernetes.protobuf"
PROTOBUF_WATCH = PROTOBUF + ";stream=watch"
JSON_WATCH = "application/json"


def resumes_before_flip(proxy: ProxyServer, request: web.Request) -> bool:
    """True when the watch resumes from a resourceVersion older than the newest enrollment
    flip: what the client holds was filtered under the old enrollment (its LIST, or a
    stream that ended before the flip), so it must relist (contract 3). Etcd-backed
    resourceVersions are integers; an empty or "0" version (start from now) never needs it.
    """
    rv = request.query.get("resourceVersion", "")
    if not rv or rv == "0":
        return False
    try:
        return int(rv) < proxy.namespaces.last_flip_rv
    except ValueError:
        return True  # opaque version: cannot prove it is current, so relist (safe)


def resumed_from(request: web.Request, send_initial_events: bool) -> int | None:
    """The version the client's state came from (its LIST), or None when this stream carries
    the full state itself (watch from "" or "0": synthetic ADDED events; or a WatchList)."""
    rv = request.query.get("resourceVersion", "")
    if send_initial_events or not rv or rv == "0":
        return None
    try:
        return int(rv)
    except ValueError:
        return RESUMED_OPAQUE


def served_before_flip(proxy: ProxyServer, request: web.Request) -> bool:
    """True when the version the watch resumes from was served (a filtered LIST, or the last
    event of an earlier stream) under an older enrollment than the current one: a flip whose own
    resourceVersion is not newer, applied late because the namespace watch lagged, still leaves
    that client's state stale (server/namespaces/served.py)."""
    gen = proxy.served.generation_of(request.query.get("resourceVersion", ""))
    return gen is not None and gen < proxy.enrollment_generation


async def expired_watch(
    proxy: ProxyServer, request: web.Request, accept: str | None
) -> web.StreamResponse:
    ctype = JSON_WATCH
    if accept and accept.split(",")[0].strip().startswith(PROTOBUF):
        ctype = PROTOBUF_WATCH
    resp = web.StreamResponse(status=200, headers={"Content-Type": ctype})
    await resp.prepare(request)
    msg = expired_message("namespace enrollment changed since this resourceVersion; relist")
    await resp.write(encode_error_event(status_dict(410, msg, "Expired"), ctype))
    await resp.write_eof()
    proxy.registry.expired_total += 1
    return resp


async def filtered_watch(
    proxy: ProxyServer,
    request: web.Request,
    c: FilteredWatch,
    headers: CIMultiDict[str],
    own: bool,
) -> web.StreamResponse:
    # A WatchList (sendInitialEvents) rebuilds the whole filtered state: never stale.
    if not c.send_initial_events and (
        resumes_before_flip(proxy, request) or served_before_flip(proxy, request)
    ):
        return await expired_watch(proxy, request, headers.get("Accept"))
    # The pump decodes the bytes: ask for them uncompressed (kube-apiserver never compresses a
    # watch today, but a compressed stream would otherwise reach the decoder as garbage).
    headers.popall("Accept-Encoding", None)
    up = await proxy.upstream.request("GET", request.raw_path, headers, own=own)
    try:
        ctype = up.headers.get("Content-Type", "")
        if up.status != 200:
            return await relay_response(request, up, proxy.config.streams.slow_client_seconds)
        try:
            decoder = decoder_for(ctype, proxy.config.streams.max_frame_bytes)
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
            request.transport.set_write_buffer_limits(high=proxy.config.streams.client_buffer_bytes)
        stream = WatchStream(
            resource=c.resource.group_resource,
            content_type=ctype,
            user_agent=request.headers.get("User-Agent", "")[:200],
            remote=str(request.remote),
            opened_at=time.time(),
            resumed_from=resumed_from(request, c.send_initial_events),
        )
        prune = proxy.config.streams.prune_managed_fields and is_json(ctype)
        pump = WatchPump(
            stream, up, resp, decoder, proxy.enrollment.is_enrolled,
            table=wants_table(headers.get("Accept")),
            stage=proxy.stage_factory(c.resource, c.send_initial_events),
            monotonic=proxy.clock.monotonic,
            slow_client_seconds=proxy.config.streams.slow_client_seconds,
            transform=prune_managed_fields_json if prune else None,
            hooks=proxy.hooks(stream.resource),
            client_gone=lambda: request.transport is None or request.transport.is_closing(),
        )  # fmt: skip
        proxy.registry.add(stream)
        if proxy.metrics is not None:
            proxy.metrics.for_kind(stream.resource).open_streams.inc()
        log.info(
            "upstream watch opened",
            extra={"stream": stream.id, "resource": stream.resource, "content_type": ctype},
        )
        try:
            await pump.run()
        finally:
            if stream.expired is None:
                # Every flip applied while it was open was checked against it: what it handed
                # out is current as of now. (An expired stream's client relists anyway.)
                proxy.served.record(stream.last_rv, proxy.enrollment_generation)
            proxy.registry.remove(stream)
            proxy.stream_closed(stream, pump.end_reason)
            if proxy.metrics is not None:
                proxy.metrics.for_kind(stream.resource).open_streams.dec()
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
