"""``AiohttpBody`` gathering: pause after a read, resume after the gather time, and how long
the bytes of each read may have waited (``upstream/body.py`` "Gathering").

The response is a stand-in with aiohttp's two seams the body uses (``content.readany`` and the
connection's transport with ``pause_reading``/``resume_reading``); the time the body reports is
read from an injected clock, the pause itself runs on the loop (20 ms here).
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest

from discofilter.clock import FakeClock
from discofilter.errors import UpstreamBroken
from discofilter.upstream.body import AiohttpBody

GATHER = 0.02


class Transport:
    def __init__(self) -> None:
        self.paused = False
        self.pauses = 0
        self.resumed = asyncio.Event()

    def pause_reading(self) -> None:
        self.paused = True
        self.pauses += 1

    def resume_reading(self) -> None:
        self.paused = False
        self.resumed.set()


class Response:
    def __init__(self) -> None:
        self.chunks: asyncio.Queue[bytes | Exception] = asyncio.Queue()
        self.content = self
        self.connection = self
        self.transport = Transport()
        self.closed = False

    async def readany(self) -> bytes:
        item = await self.chunks.get()
        if isinstance(item, Exception):
            raise item
        return item

    def close(self) -> None:
        self.closed = True


def _body(resp: Response, clock: FakeClock) -> AiohttpBody:
    body = AiohttpBody(cast(Any, resp), clock.monotonic)
    body.gather(GATHER)
    return body


async def _busy(body: AiohttpBody, resp: Response, clock: FakeClock) -> None:
    """Two reads within two gather periods: the second pauses."""
    for chunk in (b"a", b"b"):
        resp.chunks.put_nowait(chunk)
        assert await body.read_chunk() == chunk
        clock.advance(GATHER / 2)


async def _read_after_resume(body: AiohttpBody, resp: Response, chunk: bytes) -> bytes:
    """A read that waits: the pause's timer resumes the transport, then ``chunk`` comes."""
    resp.transport.resumed.clear()
    read = asyncio.create_task(body.read_chunk())
    await resp.transport.resumed.wait()
    resp.chunks.put_nowait(chunk)
    return await read


async def test_busy_reads_pause_and_report_how_long_their_bytes_could_wait() -> None:
    clock, resp = FakeClock(), Response()
    body, tr = _body(resp, clock), resp.transport
    resp.chunks.put_nowait(b"a")
    assert await body.read_chunk() == b"a"
    assert not tr.paused and body.waited() == 0.0  # a first (or quiet) read: no pause
    clock.advance(GATHER / 2)
    resp.chunks.put_nowait(b"b")
    assert await body.read_chunk() == b"b"
    assert tr.paused and tr.pauses == 1 and body.waited() == 0.0  # busy: gather from now
    # The timer resumes a waiting read; its bytes may have waited since the pause began (on
    # the pump's clock), however late they come.
    clock.advance(GATHER)
    assert await _read_after_resume(body, resp, b"c") == b"c"
    assert body.waited() == pytest.approx(GATHER) and tr.pauses == 2  # still busy: again
    clock.advance(5.0)
    assert await _read_after_resume(body, resp, b"d") == b"d"
    assert body.waited() == pytest.approx(5.0)
    assert not tr.paused and tr.pauses == 2  # 5 s since the read before: quiet, no pause


async def test_the_timer_leaves_a_pause_to_the_next_read_when_none_waits() -> None:
    # A pump busy writing (no read waiting) keeps the transport paused past its time, so bytes
    # never pile up in aiohttp's buffer; the next read resumes at once.
    clock, resp = FakeClock(), Response()
    body, tr = _body(resp, clock), resp.transport
    await _busy(body, resp, clock)
    await asyncio.sleep(GATHER * 2)  # the pump is elsewhere while the timer fires
    assert tr.paused
    resp.chunks.put_nowait(b"c")
    assert await body.read_chunk() == b"c"
    assert tr.resumed.is_set()


async def test_a_cancelled_read_keeps_the_pause_and_its_bytes_keep_their_wait() -> None:
    clock, resp = FakeClock(), Response()
    body, tr = _body(resp, clock), resp.transport
    await _busy(body, resp, clock)
    read = asyncio.create_task(body.read_chunk())  # cancelled by the pump's timer
    await asyncio.sleep(0)
    read.cancel()
    with pytest.raises(asyncio.CancelledError):
        await read
    assert tr.paused  # the pause survives the cancellation
    clock.advance(0.03)
    tr.resumed.clear()
    read = asyncio.create_task(body.read_chunk())
    await tr.resumed.wait()
    read.cancel()  # cancelled again, this time after the resume
    with pytest.raises(asyncio.CancelledError):
        await read
    resp.chunks.put_nowait(b"c")
    assert await body.read_chunk() == b"c"
    assert body.waited() == pytest.approx(GATHER / 2 + 0.03)


async def test_the_end_resumes_and_stops_gathering() -> None:
    clock, resp = FakeClock(), Response()
    body, tr = _body(resp, clock), resp.transport
    await _busy(body, resp, clock)
    resp.chunks.put_nowait(b"")
    assert await body.read_chunk() == b""
    assert not tr.paused and body.waited() == 0.0


async def test_a_broken_upstream_and_close_leave_nothing_paused() -> None:
    clock, resp = FakeClock(), Response()
    body, tr = _body(resp, clock), resp.transport
    await _busy(body, resp, clock)
    resp.chunks.put_nowait(ConnectionResetError("reset"))
    with pytest.raises(UpstreamBroken):
        await body.read_chunk()
    assert not tr.paused
    body.close()
    assert resp.closed and not tr.paused


async def test_without_gathering_reads_never_pause() -> None:
    clock, resp = FakeClock(), Response()
    body = AiohttpBody(cast(Any, resp), clock.monotonic)
    body.gather(0)
    for chunk in (b"a", b"b"):
        resp.chunks.put_nowait(chunk)
        assert await body.read_chunk() == chunk
    assert resp.transport.pauses == 0 and body.waited() == 0.0
