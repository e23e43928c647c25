"""One filtered client watch: upstream bytes → decode → filter → [coalesce] → one write per chunk.

The pump (``WatchPump.run``) is the hot path, so it does the least per event:

* all frames completed by one upstream chunk are filtered (``filter.events.WatchFilter``: a set
  lookup per event) and joined into **one** client write (DESIGN anchor: per-event writes cost
  more than the filtering itself);
* counting goes into the stream's one ``StreamCounters`` (plain ints) and the filter's
  per-namespace churn dict; the registry's totals and the churn meter read them when they are
  read (a scrape, a rotation), and the pump hands over the rest at the end (``counters.py``).

Collaborators are passed in, as plain types (``body.py``): an ``UpstreamBody`` (bytes, ``b""``
at EOF, ``UpstreamBroken``), a ``ClientWriter``, the decoder, the filter, the stage, the sink.
Nothing here knows aiohttp or ``ProxyServer``.

Bounded memory (contract 6): the decoder refuses frames over ``max_frame_bytes``; the client
transport may hold at most ``client_buffer_bytes`` unsent, and a write that cannot drain within
``slow_client_seconds`` ends the stream (``ClientTooSlow``; kube-apiserver cuts a cluster-wide
pod watcher whose 1,000-event buffer stays full for ~100 ms; the client relists, exactly as
after that cut).

Endings (``EndReason``): upstream EOF or a broken upstream → the client response ends cleanly
(client-go rewatches from its last resourceVersion). An enrollment change that affects this
stream (``registry.py``) closes the upstream read, writes a ``410 Expired`` ERROR event in the
stream's content type, and ends. A frame the codec cannot decode ends the stream with a 500
ERROR event.

Coalescing seam: ``stage`` (when given) sits between filter and write with ``push``/``ready``/
``next_deadline``; with one in place the read waits at most until its next deadline so held
events are released on time even when the upstream is quiet. Held events are ``flush``ed when
the upstream ends and ``discard``ed on every other ending (in a ``finally``), so the kind's
shared ``held_now`` gauge returns to 0 (docs/coalesce.md "In the proxy").
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field
from typing import Protocol

from discofilter.coalesce import CoalesceStats
from discofilter.codec import encode_error_event
from discofilter.codec.base import FrameDecoder
from discofilter.errors import ClientTooSlow, CodecError, UpstreamBroken
from discofilter.filter.events import ALWAYS_PASS, WatchFilter
from discofilter.model import WatchEvent
from discofilter.server.streams.body import ClientWriter, UpstreamBody
from discofilter.server.streams.counters import CounterSink
from discofilter.server.streams.ending import EndReason
from discofilter.server.streams.registry import WatchStream
from discofilter.status import expired_message, status_dict
from discofilter.telemetry.churn import ChurnMeter
from discofilter.telemetry.decisions import FILTERED, FORWARDED, Decision, DecisionSampler

log = logging.getLogger(__name__)

# A quiet upstream (no events, bookmarks every ~60 s) must not keep a dead client's stream open;
# after 15 s of a read without bytes the pump checks the client connection. One re-armed timer
# per stream (``_ReadTimer``), not one per read: an ``asyncio.timeout()`` per read was ~1.5 us
# (a TimerHandle, its cancel, and ``get_running_loop()``'s getpid syscall), 5-6% of the proxy's
# CPU at low rates (docs/performance.md "Server-level levers").
IDLE_CHECK_SECONDS = 15.0
# 128 pod events of 6.5 KB = 832 KB per write: large enough that per-write overhead vanishes,
# small enough to stay in reused heap memory (tuning/malloc.py: mmap threshold 4 MiB).
WRITE_BATCH = 128
_CLIENT_GONE = (ConnectionResetError,)  # aiohttp's ClientConnectionResetError is one


class Stage(Protocol):
    """The coalescing stage (``discofilter.coalesce.Coalescer`` fits)."""

    def push(self, event: WatchEvent, now: float) -> None: ...

    def ready(self, now: float) -> list[WatchEvent]: ...

    def next_deadline(self) -> float | None: ...

    @property
    def read_gather_seconds(self) -> float:
        """How long upstream bytes may wait unread without delaying any event past its due
        time (0: read at once)."""

    def flush(self) -> list[WatchEvent]: ...

    def discard(self) -> int: ...

    @property
    def stats(self) -> CoalesceStats: ...


@dataclass(frozen=True)
class StreamTelemetry:
    """The collectors a stream feeds besides its counters (once per chunk, or sampled)."""

    churn: ChurnMeter | None = None
    sampler: DecisionSampler | None = None


@dataclass(eq=False)
class WatchPump:
    """One stream's collaborators and policy; ``run()`` pumps until the stream ends."""

    stream: WatchStream
    upstream: UpstreamBody
    client: ClientWriter
    decoder: FrameDecoder
    watch_filter: WatchFilter
    _: KW_ONLY
    stage: Stage | None = None
    sink: CounterSink | None = None
    telemetry: StreamTelemetry = field(default_factory=StreamTelemetry)
    monotonic: Callable[[], float] = time.monotonic
    slow_client_seconds: float = 10.0
    transform: Callable[[bytes], bytes] | None = None
    client_gone: Callable[[], bool] = lambda: False
    client_fits: Callable[[int], bool] = lambda n: False
    """True when writing ``n`` bytes now cannot wait on the client (the transport's unsent bytes
    stay under its low-water mark, so it cannot pause): that write needs no slow-client timer.
    The default (always False) times every write."""
    end: EndReason = field(default=EndReason.UPSTREAM_CLOSED, init=False)
    end_detail: str = field(default="", init=False)
    """The broken upstream's error, the expiry reason or the codec error (else "")."""

    _timer: _ReadTimer | None = field(default=None, init=False)
    _arrived: float = field(default=float("-inf"), init=False)
    """The newest arrival stamp pushed to the stage."""

    def __post_init__(self) -> None:
        self.stream.on_expire(self.upstream.close)  # wakes the pending read; run() sees `expired`

    @property
    def end_reason(self) -> str:
        """The ending as a log line ("upstream broke: ClientPayloadError", an expiry reason)."""
        if self.end is EndReason.EXPIRED:
            return self.end_detail
        return f"{self.end.value}: {self.end_detail}" if self.end_detail else self.end.value

    def _finish(self, reason: EndReason, detail: str = "") -> None:
        self.end, self.end_detail = reason, detail

    def _report(self) -> None:
        """Publish the sampled decisions since the last report: once per upstream chunk and
        per timer release of held events. Counts and churn are not published here: the
        registry's totals and the churn meter read them when they are read (``_end_report``)."""
        sampler = self.telemetry.sampler
        if sampler is None:
            return
        s = self.stream
        for ev, kept in self.watch_filter.take_samples():
            sampler.publish(
                Decision(
                    at=time.time(), stream_id=str(s.id), kind=s.resource,
                    namespace=ev.namespace, name=ev.name, event_type=ev.type,
                    action=FORWARDED if kept else FILTERED,
                    reason="namespace enrolled" if kept else "namespace not enrolled",
                    resource_version=ev.resource_version,
                )
            )  # fmt: skip

    def _end_report(self) -> None:
        """The stream ended: hand what was counted since the last read to the sink and the
        churn meter, and stop being read by the meter."""
        self._report()
        s = self.stream
        if self.sink is not None and (delta := s.counters.take()) is not None:
            self.sink.add(s.resource, delta)
        churn = self.telemetry.churn
        if churn is not None:
            churn.untrack(self.watch_filter.take_churn)
            if counts := self.watch_filter.take_churn():
                churn.add_counts(counts)

    async def _write(self, events: list[WatchEvent]) -> None:
        if not events:
            return
        c = self.stream.counters
        # One write per upstream chunk, but at most WRITE_BATCH events per write: a coalescing
        # window can release thousands of held events at once, and one join of 10+ MB is an
        # mmap'd buffer faulted in and freed each time (above the 4 MiB malloc threshold).
        for i in range(0, len(events), WRITE_BATCH):
            batch = events[i : i + WRITE_BATCH] if len(events) > WRITE_BATCH else events
            if self.transform is not None:
                tf = self.transform
                data = b"".join(e.raw if e.type in ALWAYS_PASS else tf(e.raw) for e in batch)
            else:
                data = b"".join(e.raw for e in batch)
            c.events_out += len(batch)
            c.bytes_out += len(data)
            if rv := batch[-1].resource_version:  # "" for an ERROR event
                self.stream.last_rv = rv
            await self._send(data)

    async def _send(self, data: bytes) -> None:
        if self.client_fits(len(data)):
            await self.client.write(data)  # returns without waiting: nothing to time
            return
        try:
            async with asyncio.timeout(self.slow_client_seconds):
                await self.client.write(data)
        except TimeoutError as e:
            raise ClientTooSlow(f"a write did not drain in {self.slow_client_seconds} s") from e

    async def _read(self) -> bytes | None:
        """The next upstream chunk (b"" at EOF), or None when a timer came first: the stage's
        next deadline, or the idle check that notices a client that went away while the
        upstream is quiet (else the stream would live until the upstream's timeoutSeconds)."""
        timer = self._timer
        assert timer is not None, "run() arms the timer"
        wait = IDLE_CHECK_SECONDS
        if self.stage is not None:
            deadline = self.stage.next_deadline()
            if deadline is not None:
                wait = deadline - self.monotonic()
                if wait <= 0:
                    return None  # due now: release before reading on
                wait = min(wait, IDLE_CHECK_SECONDS)
        return await timer.read(self.upstream, wait)

    async def _chunk(self, chunk: bytes) -> None:
        """Decode, filter, [coalesce] and write what one upstream chunk completed."""
        c = self.stream.counters
        c.bytes_in += len(chunk)
        events = self.decoder.feed(chunk)
        if not events:
            return
        c.events_in += len(events)
        passed = self.watch_filter.filter(events)
        c.dropped = self.watch_filter.dropped
        stage = self.stage
        if stage is not None:
            now = self.monotonic()
            # Bytes a gathering body let wait arrived no earlier than its pause began: stamped
            # so, the window still counts from their arrival (never later than due). Clamped:
            # arrivals never go back in time.
            arrived = now - self.upstream.waited()
            if arrived < self._arrived:
                arrived = self._arrived
            self._arrived = arrived
            # The stats are shared by all streams of the kind, but nothing else runs between
            # these two reads: the difference is this chunk's merges.
            coalesced_before = stage.stats.coalesced
            for ev in passed:
                stage.push(ev, arrived)
            c.coalesced += stage.stats.coalesced - coalesced_before
            passed = stage.ready(now)
        await self._write(passed)
        self._report()

    async def _pump(self) -> None:
        """Read until the upstream ends or the stream expires (raises on the other endings)."""
        s = self.stream
        while s.expired is None:
            try:
                chunk = await self._read()
            except UpstreamBroken as e:
                if s.expired is None:
                    self._finish(EndReason.UPSTREAM_BROKE, str(e))
                return
            if s.expired is not None:
                return
            if chunk is None:
                if self.client_gone():
                    raise ConnectionResetError("client went away while the upstream was quiet")
                if self.stage is not None:
                    await self._write(self.stage.ready(self.monotonic()))
                    self._report()  # held events released by the timer count as out
                continue
            if not chunk:
                self.decoder.flush()  # raises CodecError on a frame cut in half
                return
            await self._chunk(chunk)

    async def run(self) -> None:
        """Pump until the upstream ends, the stream expires, or the client goes away."""
        s = self.stream
        stage = self.stage
        timer = self._timer = _ReadTimer()
        if self.telemetry.churn is not None:
            self.telemetry.churn.track(self.watch_filter.take_churn)
        try:
            await self._pump()
            if s.expired is not None:
                self._finish(EndReason.EXPIRED, s.expired)
                status = status_dict(410, expired_message(f"{s.expired}; relist"), "Expired")
                await self._write_raw(encode_error_event(status, s.content_type))
            elif stage is not None:
                # Upstream EOF or break: deliver what is held (in order) before the rewatch.
                await self._write(stage.flush())
        except CodecError as e:
            await self._bad_frame(e)
        except ClientTooSlow:
            self._finish(EndReason.CLIENT_TOO_SLOW)
        except _CLIENT_GONE:
            self._finish(EndReason.CLIENT_GONE)
        finally:
            timer.close()
            if stage is not None:
                # Every exit path (client gone, 410, slow client, bad frame, cancellation):
                # drop what is still held, else the kind's shared held_now gauge keeps this
                # dead stream's events forever. A no-op after flush().
                stage.discard()
            self._end_report()
            if self.sink is not None:
                self.sink.ended(s.resource, self.end)

    async def _bad_frame(self, e: CodecError) -> None:
        self._finish(EndReason.BAD_FRAME, str(e))
        if self.stage is not None and self.stream.expired is None:  # complete events before it
            try:
                await self._write(self.stage.flush())
            except (ClientTooSlow, *_CLIENT_GONE):
                pass
        status = status_dict(500, f"discofilter could not decode the upstream stream: {e}")
        await self._write_raw(encode_error_event(status, self.stream.content_type))

    async def _write_raw(self, data: bytes) -> None:
        try:
            await self._send(data)
            self.stream.counters.bytes_out += len(data)
        except (ClientTooSlow, *_CLIENT_GONE):
            pass


class _ReadTimer:
    """One stream's read deadline: a single ``loop.call_at`` handle, re-armed only when a read
    wants an earlier deadline than the one armed (a stage deadline), or when it fires before
    the deadline the pending read wants (the idle check moved on since it was armed).

    It must run in the task that reads: when the pending read's deadline passes, the handle
    cancels that task and ``read`` turns the cancellation back into ``None``, as
    ``asyncio.timeout()`` does; a cancellation from elsewhere still propagates."""

    __slots__ = ("_armed_at", "_fired", "_handle", "_loop", "_reading", "_target", "_task")

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        self._task = task
        self._handle: asyncio.TimerHandle | None = None
        self._armed_at = 0.0  # loop time of _handle (meaningless while it is None)
        self._target = 0.0  # loop time the pending read times out at
        self._reading = False
        self._fired = False

    async def read(self, body: UpstreamBody, wait: float) -> bytes | None:
        """``body.read_chunk()``, or None when ``wait`` seconds pass first."""
        target = self._target = self._loop.time() + wait
        if self._handle is None or self._armed_at > target:
            self._arm(target)
        self._reading = True
        try:
            return await body.read_chunk()
        except asyncio.CancelledError:
            if not self._fired:
                raise
            self._fired = False
            if self._task.uncancel() > 0:
                raise  # cancelled from elsewhere too
            return None
        finally:
            self._reading = False

    def _arm(self, at: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._handle = self._loop.call_at(at, self._due)
        self._armed_at = at

    def _due(self) -> None:
        self._handle = None
        if not self._reading:
            return  # the next read arms again
        if self._target > self._armed_at:
            self._arm(self._target)  # armed for an older, earlier deadline
            return
        self._fired = True
        self._task.cancel()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
