"""``AiohttpBody``: an upstream watch response read chunk by chunk, its breakage typed.

A broken connection (reset, truncated chunked body, payload error) becomes ``UpstreamBroken``
whatever aiohttp or the socket raised, so every reader of a watch body (the client streams'
``WatchPump``, the shared reflector, its progress probes) handles one exception. It fits the
pump's ``server.streams.body.UpstreamBody`` protocol.

**Gathering** (``gather``, for streams whose events are held anyway): after each read the body
pauses the connection's transport (``pause_reading``, asyncio's flow control) and the next read
resumes it once ``seconds`` have passed, so the kernel (or, with TLS, the SSL layer) keeps what
arrives meanwhile and one wake-up then takes all of it: one TLS decrypt loop, one HTTP parse
call, one task wake-up and one pump pass for every event of the pause instead of one per event.
kube-apiserver flushes every event as its own chunk, so at 100 events/s a 50 ms pause turns 100
reads a second into about 20. Only a read resumes, so bytes flow only while the pump is reading:
a pump stuck on a slow client never lets aiohttp's buffer grow past its own flow control. Bounded:
a paused connection buffers at most the TCP receive window and the SSL layer's high-water mark,
then the sender waits (contract 6). (Not aiohttp's ``ResponseHandler.pause_reading``: it also
pauses the HTTP parser, which asserts a body in progress, false once the last chunk is parsed.)
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
        "_carry", "_gather", "_monotonic", "_paused_at", "_read", "_resp", "_resume_at",
        "_transport", "_waited",
    )  # fmt: skip

    def __init__(
        self, resp: aiohttp.ClientResponse, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._resp = resp
        self._read = resp.content.readany
        self._monotonic = monotonic
        self._gather = 0.0
        self._transport: asyncio.Transport | None = None
        self._resume_at: float | None = None
        """Invariant: not None exactly while this body holds the transport paused (loop time
        at which the next read may resume it)."""
        self._paused_at = 0.0
        self._waited = 0.0
        self._carry = False
        """True from a resume until the read that returns the bytes ``_waited`` is about."""

    def gather(self, seconds: float) -> None:
        """Pause reading for ``seconds`` after every read (0: read at once, the default; also
        resumes a pause in progress)."""
        conn = self._resp.connection
        transport = conn.transport if conn is not None else None
        if seconds <= 0 or transport is None:
            self._stop_gathering()
            return
        self._gather = seconds
        self._transport = transport

    async def read_chunk(self) -> bytes:
        """The next chunk, ``b""`` at EOF; ``UpstreamBroken`` when the connection broke."""
        transport = self._transport
        if transport is not None and self._resume_at is not None:
            wait = self._resume_at - asyncio.get_running_loop().time()
            if wait > 0:
                await asyncio.sleep(wait)  # a cancelled read leaves the pause for the next
            self._resume_at = None
            # Until the next bytes are read: they may have waited since the pause began (also
            # when this read is cancelled after the resume and the next one returns them).
            self._waited = self._monotonic() - self._paused_at
            self._carry = True
            _resume(transport)
        try:
            data = await self._read()
        except _BROKEN as e:
            self._stop_gathering()
            raise UpstreamBroken(type(e).__name__) from e
        if transport is None or self._transport is None:
            return data
        if not data:
            self._stop_gathering()
            return data
        if self._carry:
            self._carry = False
        else:
            self._waited = 0.0  # read without a pause before it: nothing waited
        # Bytes that came after the resume were read at once, so the bytes of this read waited
        # at most as long as the pause lasted (``_waited``, on the pump's clock).
        self._paused_at = self._monotonic()
        self._resume_at = asyncio.get_running_loop().time() + self._gather
        _pause(transport)
        return data

    def _stop_gathering(self) -> None:
        """Read at once from now on (an end, or gathering switched off): resume a pause."""
        transport, self._transport = self._transport, None
        if transport is not None and self._resume_at is not None:
            _resume(transport)
        self._resume_at = None
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
