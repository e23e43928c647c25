"""Cluster-wide WATCHes: open the upstream watch, run the stream's ``WatchPump``, log.

Before contacting the upstream, a watch that resumes from a resourceVersion older than the
newest enrollment flip is answered with an immediate ``410 Expired`` ERROR event: the client's
state was filtered under the old enrollment and no open stream saw the flip (contract 3; see
docs/proxy.md "Between streams"). A WatchList (``sendInitialEvents``) never needs that: it
rebuilds the whole filtered state.

This module is where aiohttp meets the stream machinery: ``upstream.body.AiohttpBody`` adapts
the upstream response to the pump's ``UpstreamBody`` (mapping aiohttp's errors to
``UpstreamBroken``).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable

from aiohttp import web
from multidict import CIMultiDict

from discofilter.classify import FilteredWatch
from discofilter.codec import decoder_for, encode_error_event, prune_managed_fields_json
from discofilter.codec.base import FrameDecoder
from discofilter.codec.mediatype import PROTOBUF, is_json
from discofilter.errors import CodecError
from discofilter.filter.exclusion import with_exclusions
from discofilter.server.front.accept import wants_table
from discofilter.server.front.context import ProxyContext
from discofilter.server.front.headers import forward_headers
from discofilter.server.front.passthrough import relay_response
from discofilter.server.front.responses import status_response
from discofilter.server.streams.body import UpstreamBody
from discofilter.server.streams.pump import WatchPump
from discofilter.server.streams.registry import RESUMED_OPAQUE, WatchStream
from discofilter.status import expired_message, status_dict
from discofilter.upstream.body import AiohttpBody

log = logging.getLogger("discofilter.server.app")  # one logger name for watch open/close lines

PROTOBUF_WATCH = PROTOBUF + ";stream=watch"
JSON_WATCH = "application/json"
_REFUSED = (400, 414, 431)
"""Answers to a watch with exclusions that retry it without them (Bad Request, URI Too Long,
Request Header Fields Too Large)."""


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


async def expired_watch(
    proxy: ProxyContext, request: web.Request, accept: str | None
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
    proxy: ProxyContext,
    request: web.Request,
    c: FilteredWatch,
    headers: CIMultiDict[str],
    own: bool,
) -> web.StreamResponse:
    # A WatchList (sendInitialEvents) rebuilds the whole filtered state: never stale.
    checked = proxy.enrollment_generation
    if not c.send_initial_events and proxy.stale_resume(request.query.get("resourceVersion", "")):
        return await expired_watch(proxy, request, headers.get("Accept"))
    # The pump decodes the bytes: ask for them uncompressed (kube-apiserver never compresses a
    # watch today, but a compressed stream would otherwise reach the decoder as garbage).
    headers.popall("Accept-Encoding", None)
    # Not-enrolled namespaces the API server leaves out itself (filter/exclusion.py); the
    # stream counts them as dropped, so one that joins ends it (contract 3).
    resource = c.resource.group_resource
    excluded = proxy.exclusions.for_watch(resource)
    started = proxy.clock.monotonic()
    up = await proxy.upstream.request(
        "GET", with_exclusions(request.raw_path, excluded), headers, own=own
    )
    if up.status in _REFUSED and excluded:
        # An upstream without the field selector (an aggregated API may lack it), or a front
        # that limits URLs (414/431): the watch as the client sent it. Not asked again for this
        # resource only when that one is accepted: a 400 for the client's own selector must
        # not switch exclusions off.
        refused = up.status
        up.release()
        excluded = frozenset()
        up = await proxy.upstream.request("GET", request.raw_path, headers, own=own)
        if up.status == 200:
            proxy.exclusions.refuse(resource, refused)
    proxy.observe_upstream("watch", proxy.clock.monotonic() - started)
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
        body = AiohttpBody(up, proxy.clock.monotonic)
        pump = stream_pump(proxy, request, c, ctype, body, resp, decoder, proxy.is_enrolled)
        pump.stream.dropped_ns.update(excluded)
        pump.stream.excluded_upstream = len(excluded)
        if pump.stage is not None:
            body.gather(pump.stage.read_gather_seconds)  # upstream/body.py "Gathering"
        try:
            await run_stream(proxy, pump, checked_at=checked)
        finally:
            body.gather(0)  # no resume timer outlives the response
        with contextlib.suppress(ConnectionResetError):
            await resp.write_eof()
        return resp
    finally:
        up.release()


def stream_pump(
    proxy: ProxyContext,
    request: web.Request,
    c: FilteredWatch,
    ctype: str,
    body: UpstreamBody,
    resp: web.StreamResponse,
    decoder: FrameDecoder,
    keep: Callable[[str], bool],
) -> WatchPump:
    """The pump of one client stream, from the upstream (``AiohttpBody``) or from the shared
    cache (``shared.body.WatcherBody``, whose events are filtered already: ``keep`` passes all)."""
    settings = proxy.config.streams
    stream = WatchStream(
        resource=c.resource.group_resource,
        content_type=ctype,
        user_agent=request.headers.get("User-Agent", "")[:200],
        remote=str(request.remote),
        opened_at=time.time(),
        resumed_from=resumed_from(request, c.send_initial_events),
        scope=proxy.scope,
    )
    tele = proxy.telemetry
    return WatchPump(
        stream, body, resp, decoder,
        stream.watch_filter(
            keep, table=wants_table(request.headers.get("Accept")),
            count_churn=tele.churn is not None,
            sample_every=tele.sampler.every if tele.sampler is not None else 0,
        ),
        stage=proxy.stage_for(c.resource, c.send_initial_events),
        sink=proxy.registry.totals, telemetry=tele, monotonic=proxy.clock.monotonic,
        slow_client_seconds=settings.slow_client_seconds,
        transform=prune_managed_fields_json
        if settings.prune_managed_fields and is_json(ctype) else None,
        client_gone=lambda: request.transport is None or request.transport.is_closing(),
        client_fits=_fits(request),
    )  # fmt: skip


def _fits(request: web.Request) -> Callable[[int], bool]:
    """The pump's ``client_fits``: True when ``n`` more bytes keep the client transport's unsent
    bytes at or under its low-water mark. The transport pauses only above its high-water mark
    and resumes at or under the low one, so such a write cannot wait in aiohttp's drain. The
    margin covers chunk framing and TLS record overhead (~29 bytes per 16 KiB record)."""
    transport = request.transport
    if transport is None:
        return lambda n: False
    size = transport.get_write_buffer_size
    low = transport.get_write_buffer_limits()[0]

    def fits(n: int) -> bool:
        return not transport.is_closing() and size() + n + (n >> 8) + 1024 <= low

    return fits


async def run_stream(
    proxy: ProxyContext, pump: WatchPump, *, checked_at: int, cached: bool = False
) -> None:
    """Run one stream's pump while it is registered, and log its opening and end (``cached``:
    served from the shared cache, no upstream watch of its own).

    ``checked_at``: the enrollment generation under which the resume was found not stale.
    Flips applied from registration on end the stream through the registry; a flip applied
    between that check and registration (while the upstream request was in flight) reached no
    stream, so a resumed stream that missed one ends with 410 at once: its client's LIST may
    hold a namespace that left, or lack one that joined (contract 3). A stream that carries the
    whole state itself has read nothing yet and filters under the new enrollment: it stays."""
    stream = pump.stream
    proxy.registry.add(stream)  # no await between the generation check and this
    if stream.resumed_from is not None and proxy.enrollment_generation != checked_at:
        stream.expire("namespace enrollment changed while the watch was opening")
    log.info(
        "cached watch opened" if cached else "upstream watch opened",
        extra={
            "stream": stream.id, "resource": stream.resource, "content_type": stream.content_type,
            "excluded_upstream": stream.excluded_upstream,
        },
    )  # fmt: skip
    try:
        await pump.run()
    finally:
        if stream.expired is None:
            # Every flip applied while it was open was checked against it: what it handed
            # out is current as of now. (An expired stream's client relists anyway.)
            proxy.record_served(stream.last_rv)
        proxy.registry.remove(stream)
        log.info(
            "cached watch closed" if cached else "upstream watch closed",
            extra={
                "stream": stream.id, "resource": stream.resource,
                "reason": pump.end_reason, "events_in": stream.events_in,
                "events_out": stream.events_out, "bytes_in": stream.bytes_in,
                "bytes_out": stream.bytes_out,
                "seconds": round(time.time() - stream.opened_at, 3),
            },
        )  # fmt: skip
