"""One WATCH response: initial events, then history from a cursor, bookmarks, timeout.

Policy
* Start point: ``resourceVersion`` unset or "0" (without ``sendInitialEvents=false``) or
  ``sendInitialEvents=true`` → synthetic ADDED for every matching object of one snapshot, then
  everything after it; "N" → every event after N, or one 410 ERROR event (HTTP 200) when the
  history no longer reaches back to N — the client-go reflector relists on it.
* ``sendInitialEvents=true`` ends the initial events with a BOOKMARK annotated
  ``k8s.io/initial-events-end: "true"`` at the snapshot's revision.
* The stream reads the shared ``History`` through a cursor: no per-watcher queue to bound.
  A watcher that falls more than the history's capacity behind (a slow client) has nothing left
  to read and gets a 410 ERROR event, the same outcome as kube-apiserver closing a slow watcher.
* Unfiltered watches share one encoded frame per event and content type; filtered ones encode
  what they send (selector transitions change the type and sometimes the object).
* Writes are batched: whatever is ready, up to 256 KiB per ``write`` (which drains at aiohttp's
  64 KiB high-water mark), so a busy stream costs one syscall per batch, not per event.
* Bookmarks (``allowWatchBookmarks``) are sent every ``bookmark_interval`` seconds of the
  injected clock (the first one 2 s before ``timeoutSeconds`` ends the watch when that is
  sooner, as kube-apiserver's cacher does), only when the stream is caught up, carrying the
  store's current revision — every event up to it has been sent, and later events are newer.
  ``Waker.request_bookmark`` (``Simulator.request_bookmarks``) asks for one now, the same way:
  tests place bookmarks between chosen events without moving time.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from aiohttp import web

from discofilter.clock import Clock
from discofilter.model import ADDED, BOOKMARK, ERROR, INITIAL_EVENTS_END
from discofilter.sim.encoding import PARTIAL, PARTIAL_LIST, TABLE, Negotiated
from discofilter.sim.history import ENCODE_WINDOW, StoredEvent
from discofilter.sim.options import DEFAULT_WATCH_TIMEOUT, ListOptions, ObjectFilter
from discofilter.sim.resources import RESOURCES
from discofilter.sim.store import Store, sorted_items
from discofilter.sim.tables import partial, table
from discofilter.status import expired_message, status_dict

Obj = dict[str, Any]

_BATCH_BYTES = 256 * 1024
_BATCH_EVENTS = 2048


class Waker:
    """A future the store's commit callback resolves; one per open watch."""

    __slots__ = ("_fut", "bookmark_requested", "closed")

    def __init__(self) -> None:
        self._fut: asyncio.Future[None] | None = None
        self.closed = False
        """Set by ``close``: the stream ends at its next wake-up (server-side close)."""
        self.bookmark_requested = False
        """Set by ``request_bookmark``: one BOOKMARK as soon as the stream is caught up."""

    def close(self) -> None:
        self.closed = True
        self.wake()

    def request_bookmark(self) -> None:
        self.bookmark_requested = True
        self.wake()

    def wake(self) -> None:
        fut = self._fut
        if fut is not None and not fut.done():
            fut.set_result(None)

    async def wait(self) -> None:
        self._fut = asyncio.get_running_loop().create_future()
        try:
            await self._fut
        finally:
            self._fut = None


class EventEncoder:
    """(type, object) → one watch frame in the negotiated representation."""

    def __init__(self, resource: str, neg: Negotiated, opts: ListOptions, clock: Clock) -> None:
        self.resource = resource
        self.neg = neg
        self.opts = opts
        self.clock = clock
        self._headers = True

    def frame(self, type_: str, obj: Obj) -> bytes:
        target = self.neg.target
        if target == TABLE and type_ != ERROR:
            rv = obj.get("metadata", {}).get("resourceVersion", "")
            rows = [] if type_ == BOOKMARK else [obj]
            body = table(
                self.resource,
                rows,
                {"resourceVersion": rv},
                self.clock.wall(),
                include_object=self.opts.include_object,
                headers=self._headers and type_ != BOOKMARK,
                version=self.neg.target_version,
            )
            if type_ != BOOKMARK:
                self._headers = False
            return self.neg.encoding.watch_event(type_, body)
        if target in (PARTIAL, PARTIAL_LIST) and type_ != ERROR:
            return self.neg.encoding.watch_event(type_, partial(obj, self.neg.target_version))
        return self.neg.encoding.watch_event(type_, obj)

    def shared(self, ev: StoredEvent, recent: bool = True) -> bytes:
        """The frame of an unfiltered event, encoded once for all watchers of this encoding
        (cached only while ``recent``: inside the history's encode window)."""
        key = self.neg.cache_key
        if key is None:
            return self.frame(ev.type, ev.obj)
        cache = ev.encoded
        if cache is None:
            if not recent:
                return self.neg.encoding.watch_event(ev.type, ev.obj)
            cache = ev.encoded = {}
        data = cache.get(key)
        if data is None:
            data = cache[key] = self.neg.encoding.watch_event(ev.type, ev.obj)
        return data

    def bookmark(self, rv: int, initial_end: bool = False) -> bytes:
        info = RESOURCES[self.resource]
        meta: Obj = {"resourceVersion": str(rv), "creationTimestamp": None}
        if initial_end:
            meta["annotations"] = {INITIAL_EVENTS_END: "true"}
        return self.frame(
            BOOKMARK, {"kind": info.kind, "apiVersion": info.api_version, "metadata": meta}
        )

    def expired(self, message: str) -> bytes:
        return self.neg.encoding.watch_event(ERROR, status_dict(410, message, "Expired"))


async def serve_watch(
    request: web.Request,
    *,
    store: Store,
    resource: str,
    namespace: str | None,
    opts: ListOptions,
    neg: Negotiated,
    clock: Clock,
    bookmark_interval: float,
    waker: Waker,
    is_closing: Callable[[], bool] = lambda: False,
    on_sent: Callable[[int], None] = lambda n: None,
) -> web.StreamResponse:
    """Stream one watch until timeout, client disconnect, or expiry; ``on_sent`` is told the size
    of every write (the server's bytes-sent counter)."""
    hist = store.history(resource)
    filt = ObjectFilter(resource, namespace, opts.label, opts.field)
    enc = EventEncoder(resource, neg, opts, clock)
    initial: list[Obj] = []
    initial_end_rv: int | None = None
    cursor: int | None
    too_old = ""
    legacy_initial = opts.send_initial_events is None and opts.resource_version in ("", "0")
    if opts.send_initial_events or legacy_initial:
        # One consistent snapshot: stored dicts are immutable and nothing commits while this
        # synchronous block runs, so the snapshot and the cursor describe the same revision.
        initial = [o for o in sorted_items(store.view(resource, namespace)) if filt.matches(o)]
        cursor = hist.end
        if opts.send_initial_events:
            initial_end_rv = store.resource_version
    else:
        start_rv = opts.resource_version_number
        if start_rv is None:
            start_rv = store.resource_version
        cursor = hist.index_after(start_rv)
        if cursor is None:
            too_old = f"too old resource version: {start_rv} ({hist.oldest_rv})"
    resp = web.StreamResponse(
        status=200,
        headers={
            "Content-Type": neg.encoding.watch_content_type,
            "Cache-Control": "no-cache, private",
        },
    )
    resp.enable_chunked_encoding()
    await resp.prepare(request)

    async def write(data: bytes) -> None:
        on_sent(len(data))
        await resp.write(data)

    if cursor is None:
        await write(enc.expired(too_old))
        await resp.write_eof()
        return resp

    state = {"bookmark_due": False, "timed_out": False}
    timeout = opts.timeout_seconds if opts.timeout_seconds is not None else DEFAULT_WATCH_TIMEOUT

    async def ticker() -> None:
        # As kube-apiserver's cacher: every interval, and once 2 s before the deadline (so a
        # client timing out knows how far it got; a shared cache's progress probe relies on it).
        first = min(bookmark_interval, timeout - 2.0)
        if first > 0:
            await clock.sleep(first)
            state["bookmark_due"] = True
            waker.wake()
        while True:
            await clock.sleep(bookmark_interval)
            state["bookmark_due"] = True
            waker.wake()

    async def deadline() -> None:
        await clock.sleep(timeout)
        state["timed_out"] = True
        waker.wake()

    tasks = [asyncio.ensure_future(deadline())]
    if opts.allow_bookmarks:
        tasks.append(asyncio.ensure_future(ticker()))
    try:
        for i in range(0, len(initial), _BATCH_EVENTS):
            chunk = initial[i : i + _BATCH_EVENTS]
            await write(b"".join(enc.frame(ADDED, o) for o in chunk))
            if state["timed_out"]:
                return resp
        if initial_end_rv is not None:
            await write(enc.bookmark(initial_end_rv, initial_end=True))
        while not state["timed_out"] and not is_closing() and not waker.closed:
            events = hist.read(cursor, _BATCH_EVENTS)
            if events is None:
                await write(enc.expired(expired_message()))
                break
            if events:
                recent = hist.end - cursor <= ENCODE_WINDOW
                cursor += len(events)
                parts: list[bytes] = []
                size = 0
                for ev in events:
                    if filt.selects_all and (namespace is None or ev.namespace == namespace):
                        data = enc.shared(ev, recent)
                    else:
                        out = filt.transition(ev)
                        if out is None:
                            continue
                        data = enc.frame(*out)
                    parts.append(data)
                    size += len(data)
                    if size >= _BATCH_BYTES:
                        await write(b"".join(parts))
                        parts, size = [], 0
                if parts:
                    await write(b"".join(parts))
                continue
            if state["bookmark_due"] or (waker.bookmark_requested and opts.allow_bookmarks):
                state["bookmark_due"] = waker.bookmark_requested = False
                await write(enc.bookmark(store.resource_version))
                continue
            if request.transport is None or request.transport.is_closing():
                break
            await waker.wait()
        with contextlib.suppress(ConnectionError, RuntimeError):
            await resp.write_eof()
    except (ConnectionError, RuntimeError):
        pass  # the client went away mid-write
    finally:
        for t in tasks:
            t.cancel()
    return resp
