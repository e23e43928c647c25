"""A cache ``Watcher`` as the pump's ``UpstreamBody``, and the decoder that goes with it.

A client served from the shared cache runs the same ``WatchPump`` as a direct watch (coalescing,
managedFields pruning, slow-client timer, counters, endings), with its "upstream" being its
watcher: ``read_chunk`` waits until the watcher has frames, takes up to one write's worth and
returns them joined; ``b""`` when the watcher is done (drained after its end: a slow-client cut,
a 410, the cache shutting down) or the client's ``timeoutSeconds`` passed. The frames' events
are handed over beside the bytes, not decoded again (``frames.py`` says why); only frames the
cache built itself go through a real decoder.
"""

from __future__ import annotations

import asyncio

from discofilter.cache import Watcher
from discofilter.cache.watcher import SLOW
from discofilter.codec.base import FrameDecoder
from discofilter.errors import ClientTooSlow
from discofilter.model import WatchEvent
from discofilter.server.shared.frames import EventFrame

READ_FRAMES = 128
"""Frames per read: the pump writes what one read returns as one client write (its
``WRITE_BATCH``), so a replay of thousands of events goes out in 128-event writes."""


class WatcherBody:
    """One client's watcher, read like an upstream response body."""

    __slots__ = ("_closed", "_decoder", "_ready", "_timed_out", "_timer", "_watcher", "events")

    def __init__(
        self, watcher: Watcher, decoder: FrameDecoder, timeout_seconds: float | None = None
    ) -> None:
        self._watcher = watcher
        self._decoder = decoder
        self._ready = asyncio.Event()
        watcher.on_ready = self._ready.set
        self._closed = False
        self._timed_out = False
        self.events: list[WatchEvent] = []
        """The events of the last chunk returned (``CachedEvents`` hands them to the pump)."""
        self._timer: asyncio.TimerHandle | None = None
        if timeout_seconds is not None:
            self._timer = asyncio.get_running_loop().call_later(timeout_seconds, self._timeout)

    def _timeout(self) -> None:
        # timeoutSeconds passed: the stream ends cleanly, as kube-apiserver ends it (the client
        # watches again from its last resourceVersion).
        self._timed_out = True
        self._ready.set()

    async def read_chunk(self) -> bytes:
        watcher = self._watcher
        while True:
            if self._closed or self._timed_out:
                return b""
            frames = watcher.take(READ_FRAMES)
            if frames:
                events: list[WatchEvent] = []
                for f in frames:
                    if type(f) is EventFrame:
                        events.append(f.event())
                    else:  # built by the cache: initial ADDED, BOOKMARK, ERROR
                        events.extend(self._decoder.feed(f))
                self.events = events
                return frames[0] if len(frames) == 1 else b"".join(frames)
            if watcher.done:
                if watcher.end_reason == SLOW:
                    # Cut by the cache (its buffer was full): the stream ends as a slow client's
                    # does, counted and logged so; the client resumes from its last RV.
                    raise ClientTooSlow("the client fell a full buffer behind the shared cache")
                return b""
            self._ready.clear()
            await self._ready.wait()

    def waited(self) -> float:
        return 0.0  # the cache hands over what it has; nothing waits in a socket

    def close(self) -> None:
        """The stream ended (or expired): leave the cache, wake a pending read."""
        self._closed = True
        self._watcher.close()
        if self._timer is not None:
            self._timer.cancel()
        self._ready.set()


class CachedEvents:
    """The pump's decoder for a ``WatcherBody``: the events of the chunk it just returned."""

    __slots__ = ("_body",)

    def __init__(self, body: WatcherBody) -> None:
        self._body = body

    def feed(self, data: bytes) -> list[WatchEvent]:
        events, self._body.events = self._body.events, []
        return events

    def flush(self) -> list[WatchEvent]:
        return []
