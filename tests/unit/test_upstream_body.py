"""``AiohttpBody`` gathering: pause after a read, resume after the gather time, and how long
the bytes of each read may have waited (``upstream/body.py`` "Gathering").

The response is a stand-in with aiohttp's two seams the body uses (``content.readany`` and the
connection's transport with ``pause_reading``/``resume_reading``); the time the body reports is
read from an injected clock, the pause itself runs on the loop (1 ms here).
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest

from discofilter.clock import FakeClock
from discofilter.errors import UpstreamBroken
from discofilter.upstream.body import AiohttpBody

GATHER = 0.001


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


async def test_each_read_pauses_and_reports_how_long_its_bytes_could_wait() -> None:
    clock, resp = FakeClock(), Response()
    body, tr = _body(resp, clock), resp.transport
    resp.chunks.put_nowait(b"a")
    assert await body.read_chunk() == b"a"
    assert tr.paused and body.waited() == 0.0  # nothing paused before the first read
    # The next read resumes once the gather time has passed; its bytes waited since the pause.
    clock.advance(0.01)
    resp.chunks.put_nowait(b"b")
    assert await body.read_chunk() == b"b"
    assert body.waited() == pytest.approx(0.01) and tr.pauses == 2 and tr.paused
    # Bytes that come after the resume waited at most as long as the pause lasted, however
    # late they come (a quiet stream).
    clock.advance(0.02)
    tr.resumed.clear()
    read = asyncio.create_task(body.read_chunk())
    await tr.resumed.wait()
    clock.advance(5.0)
    resp.chunks.put_nowait(b"c")
    assert await read == b"c"
    assert body.waited() == pytest.approx(0.02) and tr.pauses == 3


async def test_a_cancelled_read_keeps_the_pause_for_the_next() -> None:
    clock, resp = FakeClock(), Response()
    body = AiohttpBody(cast(Any, resp), clock.monotonic)
    body.gather(30.0)  # the pump's read timer cancels reads; the pause must survive that
    resp.chunks.put_nowait(b"a")
    await body.read_chunk()
    read = asyncio.create_task(body.read_chunk())
    await asyncio.sleep(0)
    read.cancel()
    with pytest.raises(asyncio.CancelledError):
        await read
    assert resp.transport.paused
    body.gather(0)  # switched off: resumes at once
    assert not resp.transport.paused


async def test_bytes_behind_a_cancelled_read_keep_their_wait() -> None:
    # The read resumed the transport, then the pump's timer cancelled it; the next read
    # returns the bytes that came during the pause: they still count as having waited.
    clock, resp = FakeClock(), Response()
    body, tr = _body(resp, clock), resp.transport
    resp.chunks.put_nowait(b"a")
    await body.read_chunk()
    clock.advance(0.03)
    tr.resumed.clear()
    read = asyncio.create_task(body.read_chunk())
    await tr.resumed.wait()
    read.cancel()
    with pytest.raises(asyncio.CancelledError):
        await read
    resp.chunks.put_nowait(b"b")
    assert await body.read_chunk() == b"b"
    assert body.waited() == pytest.approx(0.03)


async def test_the_end_resumes_and_stops_gathering() -> None:
    clock, resp = FakeClock(), Response()
    body, tr = _body(resp, clock), resp.transport
    resp.chunks.put_nowait(b"a")
    await body.read_chunk()
    resp.chunks.put_nowait(b"")
    assert await body.read_chunk() == b""
    assert not tr.paused and body.waited() == 0.0


async def test_a_broken_upstream_and_close_leave_nothing_paused() -> None:
    clock, resp = FakeClock(), Response()
    body, tr = _body(resp, clock), resp.transport
    resp.chunks.put_nowait(b"a")
    await body.read_chunk()
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
