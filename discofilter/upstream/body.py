"""``AiohttpBody``: an upstream watch response read chunk by chunk, its breakage typed.

A broken connection (reset, truncated chunked body, payload error) becomes ``UpstreamBroken``
whatever aiohttp or the socket raised, so every reader of a watch body (the client streams'
``WatchPump``, the shared reflector, its progress probes) handles one exception. It fits the
pump's ``server.streams.body.UpstreamBody`` protocol.

**Gathering** (``gather``, for streams whose events are held anyway): when a read comes within
two gather periods of the one before (the stream is busy), the body pauses the connection's
transport (``pause_reading``, asyncio's flow control) for ``seconds``, so the kernel (or, with
TLS, the SSL layer) keeps what arrives meanwhile and one wake-up then takes all of it: one TLS
decrypt loop, one HTTP parse call, one task wake-up and one pump pass for every event of the
pause instead of one per event. kube-apiserver flushes every event as its own chunk, so at 100
events/s a 50 ms pause turns 100 reads a second into about 20. A quiet stream (reads further
apart) is never paused: there a pause would only add two ``epoll_ctl`` calls and a timer per
event. The timer resumes the transport only while a read is waiting; otherwise the next read
does, so bytes flow only while the pump reads and a pump stuck on a slow client never lets
aiohttp's buffer grow past its own flow control. Bounded: a paused connection buffers at most the
TCP receive window and the SSL layer's high-water mark, then the sender waits (contract 6).
(Not aiohttp's ``ResponseHandler.pause_reading``: it also pauses the HTTP parser, which asserts a
body in progress, false once the last chunk is parsed.)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import aiohttp

from discofilter.errors import UpstreamBroken

_BROKEN = (aiohttp.ClientError, asyncio.IncompleteReadError, ConnectionError)


class AiohttpBody:
    """An aiohttp upstream response as the pump's ``UpstreamBody``."""

    __slots__ = (
        "_carry", "_gather", "_last_read", "_loop", "_monotonic", "_paused", "_paused_at",
        "_read", "_reading", "_resp", "_resume_at", "_timer", "_transport", "_waited",
    )  # fmt: skip

    def __init__(
        self, resp: aiohttp.ClientResponse, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._resp = resp
        self._read = resp.content.readany
        self._monotonic = monotonic
        self._gather = 0.0
        self._transport: asyncio.Transport | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._paused = False
        """Invariant: True exactly while this body holds the transport paused."""
        self._paused_at = 0.0
        self._resume_at = 0.0
        """Loop time from which the pause may end (a waiting read's timer, or the next read)."""
        self._timer: asyncio.TimerHandle | None = None
        self._reading = False
        self._last_read = float("-inf")
        self._waited = 0.0
        self._carry = False
        """True from a resume until the read that returns the bytes ``_waited`` is about."""

    def gather(self, seconds: float) -> None:
        """Gather busy reads for ``seconds`` (0: read at once, the default; also ends a pause in
        progress). Called on the event loop."""
        conn = self._resp.connection
        transport = conn.transport if conn is not None else None
        if seconds <= 0 or transport is None:
            self._stop_gathering()
            return
        self._gather = seconds
        self._transport = transport
        self._loop = asyncio.get_running_loop()

    async def read_chunk(self) -> bytes:
        """The next chunk, ``b""`` at EOF; ``UpstreamBroken`` when the connection broke."""
        loop = self._loop
        if self._paused and loop is not None and loop.time() >= self._resume_at:
            # The pause is over: its timer fired while no read waited, or is due this very
            # loop iteration (then it must not end the next pause early).
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._resume()
        self._reading = True
        try:
            data = await self._read()
        except _BROKEN as e:
            self._stop_gathering()
            raise UpstreamBroken(type(e).__name__) from e
        finally:
            self._reading = False
        transport = self._transport
        if transport is None or loop is None:
            return data
        if not data:
            self._stop_gathering()
            return data
        if self._carry:
            self._carry = False
        else:
            self._waited = 0.0  # read without a pause before it: nothing waited
        now = self._monotonic()
        if not self._paused and now - self._last_read <= 2 * self._gather:
            self._paused, self._paused_at = True, now
            self._resume_at = loop.time() + self._gather
            _pause(transport)
            self._timer = loop.call_at(self._resume_at, self._on_timer)
        self._last_read = now
        return data

    def _on_timer(self) -> None:
        self._timer = None
        if self._reading and self._paused:
            self._resume()

    def _resume(self) -> None:
        """End the pause; the bytes the next read returns may have waited since it began."""
        self._paused = False
        self._waited = self._monotonic() - self._paused_at
        self._carry = True
        if self._transport is not None:
            _resume(self._transport)

    def _stop_gathering(self) -> None:
        """Read at once from now on (an end, or gathering switched off): resume a pause."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._paused:
            self._resume()
        self._transport = None
        self._waited = 0.0
        self._carry = False

    def waited(self) -> float:
        return self._waited

    def close(self) -> None:
        self._stop_gathering()
        self._resp.close()


# A transport without flow control, or one closing, may refuse; the read then simply does not
# gather (aiohttp ignores the same errors in its own flow control).
_FLOW_ERRORS = (AttributeError, NotImplementedError, RuntimeError)


def _pause(transport: asyncio.Transport) -> None:
    try:
        transport.pause_reading()
    except _FLOW_ERRORS:
        pass


def _resume(transport: asyncio.Transport) -> None:
    try:
        transport.resume_reading()
    except _FLOW_ERRORS:
        pass
