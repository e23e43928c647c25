"""The pump's timers: one re-armed handle per stream for the idle check and the stage's
deadlines, and a slow-client timer only for a write that may wait on the client."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from discofilter.clock import FakeClock
from discofilter.coalesce import CoalesceStats
from discofilter.codec import JsonWatchDecoder
from discofilter.model import WatchEvent
from discofilter.server.streams import pump as pump_module
from discofilter.server.streams.ending import EndReason
from discofilter.server.streams.pump import WatchPump
from discofilter.server.streams.registry import WatchStream
from tests.component.proxy.pump_fakes import RecordingClient
from tests.component.proxy.test_pump import STREAM, line

pytestmark = pytest.mark.timeout(10)


class QueueBody:
    """An upstream that suspends on every read until a chunk is put (``b""`` = EOF)."""

    def __init__(self) -> None:
        self.chunks: asyncio.Queue[bytes] = asyncio.Queue()

    async def read_chunk(self) -> bytes:
        return await self.chunks.get()

    def waited(self) -> float:
        return 0.0

    def close(self) -> None:
        self.chunks.put_nowait(b"")


class HoldStage:
    """Holds every event for ``hold`` seconds of ``time.monotonic``."""

    def __init__(self, hold: float) -> None:
        self.hold = hold
        self.held: list[tuple[float, WatchEvent]] = []
        self._stats = CoalesceStats()

    def push(self, event: WatchEvent, now: float) -> None:
        self.held.append((now + self.hold, event))

    def ready(self, now: float) -> list[WatchEvent]:
        out = [e for due, e in self.held if due <= now]
        self.held = [(due, e) for due, e in self.held if due > now]
        return out

    def next_deadline(self) -> float | None:
        return self.held[0][0] if self.held else None

    read_gather_seconds = 0.0

    def flush(self) -> list[WatchEvent]:
        out, self.held = [e for _, e in self.held], []
        return out

    def discard(self) -> int:
        n, self.held = len(self.held), []
        return n

    @property
    def stats(self) -> CoalesceStats:
        return self._stats


class SignallingClient(RecordingClient):
    """A ``RecordingClient`` that signals each write."""

    def __init__(self) -> None:
        super().__init__()
        self.wrote = asyncio.Event()

    async def write(self, data: bytes) -> None:
        await super().write(data)
        self.wrote.set()

    async def next_write(self) -> None:
        await self.wrote.wait()
        self.wrote.clear()


def make(body: QueueBody, client: RecordingClient, **kw: Any) -> WatchPump:
    stream = WatchStream("pods", content_type="application/json")
    return WatchPump(
        stream, body, client, JsonWatchDecoder(), stream.watch_filter(lambda ns: True), **kw
    )


def count_call_at(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    loop = asyncio.get_running_loop()
    calls: list[float] = []
    real = loop.call_at

    def call_at(when: float, cb: Any, *args: Any, **kw: Any) -> asyncio.TimerHandle:
        calls.append(when)
        return real(when, cb, *args, **kw)

    monkeypatch.setattr(loop, "call_at", call_at)
    return calls


async def feed(body: QueueBody, client: SignallingClient, n: int) -> None:
    for i in range(n):
        body.chunks.put_nowait(line("MODIFIED", "mesh", "a", i + 1))
        await client.next_write()  # then the pump is back in its next read


@pytest.mark.parametrize("fits", [True, False])
async def test_reads_share_one_timer_and_writes_that_fit_need_none(
    monkeypatch: pytest.MonkeyPatch, fits: bool
) -> None:
    body, client = QueueBody(), SignallingClient()
    calls = count_call_at(monkeypatch)
    task = asyncio.create_task(make(body, client, client_fits=lambda n: fits).run())
    await feed(body, client, 200)
    body.close()
    await task
    assert client.writes == 200
    if fits:
        assert len(calls) == 1  # armed once for the idle check, never re-armed within 15 s
    else:
        assert len(calls) >= 200  # a write that may wait is timed (asyncio.timeout)


async def test_idle_check_fires_while_the_upstream_is_quiet(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pump_module, "IDLE_CHECK_SECONDS", 0.02)
    checks: list[float] = []

    def gone() -> bool:
        checks.append(time.monotonic())
        return len(checks) >= 3

    body, client = QueueBody(), RecordingClient()
    p = make(body, client, client_gone=gone)
    body.chunks.put_nowait(STREAM[0])
    started = time.monotonic()
    await p.run()
    assert p.end is EndReason.CLIENT_GONE and len(checks) == 3
    assert checks[-1] - started >= 0.05  # three quiet reads of 0.02 s each, not sooner
    assert client.data == STREAM[0]


async def test_a_stage_deadline_releases_held_events_on_a_quiet_upstream() -> None:
    body, client = QueueBody(), SignallingClient()
    stage = HoldStage(0.03)
    p = make(body, client, stage=stage)
    task = asyncio.create_task(p.run())
    body.chunks.put_nowait(STREAM[0])
    sent = time.monotonic()
    await client.next_write()
    assert time.monotonic() - sent >= 0.03 - 0.005  # held for the window (loop clock: ~1 ms)
    assert client.data == STREAM[0] and not stage.held
    body.chunks.put_nowait(STREAM[2])
    body.close()
    await task
    assert client.data == STREAM[0] + STREAM[2]  # the second one flushed at EOF


async def test_a_cancellation_from_outside_still_cancels_the_read() -> None:
    body, client = QueueBody(), RecordingClient()
    task = asyncio.create_task(make(body, client).run())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


class WaitedBody(QueueBody):
    """A gathering body: each chunk reports how long it may have waited unread."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float] = []
        self.wait = 0.0

    async def read_chunk(self) -> bytes:
        chunk = await super().read_chunk()
        self.wait = self.waits.pop(0) if chunk and self.waits else 0.0
        return chunk

    def waited(self) -> float:
        return self.wait


class StampStage(HoldStage):
    def __init__(self) -> None:
        super().__init__(hold=3600.0)
        self.stamps: list[float] = []

    def push(self, event: WatchEvent, now: float) -> None:
        self.stamps.append(now)
        super().push(event, now)


async def test_gathered_bytes_are_stamped_at_their_earliest_arrival_never_going_back() -> None:
    # The window counts from arrival: bytes a gathering body let wait are pushed with the
    # moment the pause began (now - waited), and stamps never go back in time.
    clock = FakeClock()
    body, stage = WaitedBody(), StampStage()
    body.waits = [0.0, 0.04, 5.0]
    pump = make(body, RecordingClient(), stage=stage, monotonic=clock.monotonic)
    task = asyncio.create_task(pump.run())
    for i, step in enumerate((0.0, 0.05, 0.01)):
        clock.advance(step)
        body.chunks.put_nowait(line("MODIFIED", "mesh", f"p{i}", i + 1))
        await _until(lambda: len(stage.stamps) == i + 1)  # noqa: B023
    body.close()
    await task
    t0 = 1000.0
    assert stage.stamps == pytest.approx([t0, t0 + 0.05 - 0.04, t0 + 0.01])  # third: clamped


async def _until(cond: Any) -> None:
    async with asyncio.timeout(5):
        while not cond():  # noqa: ASYNC110 - the pump offers no event per push
            await asyncio.sleep(0)
