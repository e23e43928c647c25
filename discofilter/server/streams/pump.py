"""One filtered client watch: upstream bytes → decode → filter → [coalesce] → one write per chunk.

The pump (``WatchPump.run``) is the hot path, so it does the least per event:

* all frames completed by one upstream chunk are filtered and joined into **one**
  ``resp.write`` (DESIGN anchor: per-event writes cost more than the filtering itself);
* the filter is a set lookup per event (``Enrollment.is_enrolled``); BOOKMARK and ERROR events
  always pass, so the ``k8s.io/initial-events-end`` bookmark of a WatchList always arrives;
* ``as=Table`` streams (``kubectl get -A -w``) go through the codec's ``TableWatchFilter`` so
  column headers survive a dropped first event.

Bounded memory (contract 6): the decoder refuses frames over ``max_frame_bytes``; the client
transport may hold at most ``client_buffer_bytes`` unsent, and a write that cannot drain within
``slow_client_seconds`` ends the stream (kube-apiserver cuts a cluster-wide pod watcher whose
1,000-event buffer stays full for ~100 ms; the client relists, exactly as after that cut).

Endings: upstream EOF or a broken upstream → the client response ends cleanly (client-go
rewatches from its last resourceVersion). An enrollment change that affects this stream
(``streams.py``) closes the upstream read, writes a ``410 Expired`` ERROR event in the stream's
content type, and ends. A frame the codec cannot decode ends the stream with a 500 ERROR event.

Coalescing seam: ``stage`` (when given) sits between filter and write with ``push``/``ready``/
``next_deadline``; with one in place the read waits at most until its next deadline so held
events are released on time even when the upstream is quiet. Held events are ``flush``ed when
the upstream ends and ``discard``ed on every other ending (in a ``finally``), so the kind's
shared ``held_now`` gauge returns to 0. Metrics are reported per chunk, per timer release and
at the end, as differences from the last report (docs/coalesce.md "In the proxy").
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Protocol

import aiohttp
from aiohttp import web

from discofilter.coalesce import CoalesceStats
from discofilter.codec import TableWatchFilter, encode_error_event
from discofilter.codec.base import FrameDecoder
from discofilter.errors import CodecError
from discofilter.model import BOOKMARK, ERROR, WatchEvent
from discofilter.server.streams.registry import StreamHooks, WatchStream
from discofilter.status import expired_message, status_dict
from discofilter.telemetry.decisions import FILTERED, FORWARDED, Decision

log = logging.getLogger(__name__)

_ALWAYS_PASS = frozenset({BOOKMARK, ERROR})
# A quiet upstream (no events, bookmarks every ~60 s) must not keep a dead client's stream open;
# every 15 s of silence the pump checks the client connection. One timer per read: ~0.5 us.
IDLE_CHECK_SECONDS = 15.0
# 128 pod events of 6.5 KB = 832 KB per write: large enough that per-write overhead vanishes,
# small enough to stay in reused heap memory (malloc.py: mmap threshold 4 MiB).
WRITE_BATCH = 128


class Stage(Protocol):
    """The coalescing stage (``discofilter.coalesce.Coalescer`` fits)."""

    def push(self, event: WatchEvent, now: float) -> None: ...

    def ready(self, now: float) -> list[WatchEvent]: ...

    def next_deadline(self) -> float | None: ...

    def flush(self) -> list[WatchEvent]: ...

    def discard(self) -> int: ...

    @property
    def stats(self) -> CoalesceStats: ...


class WatchPump:
    def __init__(
        self,
        stream: WatchStream,
        upstream_resp: aiohttp.ClientResponse,
        client_resp: web.StreamResponse,
        decoder: FrameDecoder,
        is_enrolled: Callable[[str], bool],
        *,
        table: bool = False,
        stage: Stage | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        slow_client_seconds: float = 10.0,
        transform: Callable[[bytes], bytes] | None = None,
        hooks: StreamHooks | None = None,
        client_gone: Callable[[], bool] = lambda: False,
    ) -> None:
        self.stream = stream
        self.up = upstream_resp
        self.resp = client_resp
        self.decoder = decoder
        self.is_enrolled = is_enrolled
        self.table = TableWatchFilter(is_enrolled) if table else None
        self.stage = stage
        self.monotonic = monotonic
        self.slow_client_seconds = slow_client_seconds
        self.transform = transform
        self.end_reason = "upstream closed"
        self.hooks = hooks
        self.client_gone = client_gone
        self._churn_counts: dict[str, int] | None = (
            {} if hooks is not None and hooks.churn is not None else None
        )
        self._sampler = hooks.sampler if hooks is not None else None
        # Index (within the next chunk's events) of the next event to sample; see filter().
        self._sample_countdown = self._sampler.every - 1 if self._sampler is not None else -1
        # Stream counters already published to metrics: (events_in, dropped, events_out,
        # bytes_in, bytes_out). Reports send the difference, so no path (timer release, flush,
        # a write that failed halfway) loses counts, and nothing is reported twice.
        self._reported = (0, 0, 0, 0, 0)
        self._coalesced_unreported = 0
        stream.on_expire(self._interrupt)

    def _interrupt(self) -> None:
        # Closing the upstream connection wakes the pending read; run() then sees `expired`.
        self.up.close()

    def filter(self, events: list[WatchEvent]) -> list[WatchEvent]:
        """Keep enrolled namespaces' events, BOOKMARK and ERROR; record namespaces both ways."""
        s = self.stream
        out: list[WatchEvent] = []
        enrolled = self.is_enrolled
        churn = self._churn_counts
        table = self.table
        dropped = 0
        # Decision sampling without a call per event: count down by the sampler's period and
        # publish the event where the countdown crosses zero (same rate, ~0 cost per event).
        sample_at = self._sample_countdown if self._sampler is not None else -1
        for i, ev in enumerate(events):
            ns = ev.namespace
            if ev.type in _ALWAYS_PASS:
                out.append(ev)
                continue
            if churn is not None:
                churn[ns] = churn.get(ns, 0) + 1
            if table is not None:
                passed = table.filter(ev)
                keep = passed is not None
            else:
                passed = ev
                keep = not ns or enrolled(ns)
            if keep and passed is not None:
                s.delivered_ns.add(ns)
                out.append(passed)
            else:
                s.dropped_ns.add(ns)
                dropped += 1
            if i == sample_at:
                self._decide(ev, keep)
        if self._sampler is not None:
            # At most one sample per chunk (a 100 KB chunk holds ~16 pod events; period 64).
            left = self._sample_countdown - len(events)
            self._sample_countdown = left % self._sampler.every if left < 0 else left
        s.dropped += dropped
        return out

    def _decide(self, ev: WatchEvent, kept: bool) -> None:
        h = self.hooks
        assert h is not None and h.sampler is not None
        h.sampler.publish(
            Decision(
                at=time.time(), stream_id=str(self.stream.id), kind=self.stream.resource,
                namespace=ev.namespace, name=ev.name, event_type=ev.type,
                action=FORWARDED if kept else FILTERED,
                reason="namespace enrolled" if kept else "namespace not enrolled",
                resource_version=ev.resource_version,
            )
        )  # fmt: skip

    def _report(self) -> None:
        """Publish the counts since the last report to metrics and the churn meter: once per
        upstream chunk, per timer release of held events, and once when the stream ends."""
        h = self.hooks
        if h is None:
            return
        s = self.stream
        if h.metrics is not None:
            r_in, r_dropped, r_out, r_bytes_in, r_bytes_out = self._reported
            dropped = s.dropped - r_dropped
            h.metrics.add(
                in_enrolled=s.events_in - r_in - dropped,
                in_other=dropped,
                out_enrolled=s.events_out - r_out,
                coalesced_enrolled=self._coalesced_unreported,
                suppressed=dropped,
                bytes_in=s.bytes_in - r_bytes_in,
                bytes_out=s.bytes_out - r_bytes_out,
            )
            self._reported = (s.events_in, s.dropped, s.events_out, s.bytes_in, s.bytes_out)
            self._coalesced_unreported = 0
        if h.churn is not None and self._churn_counts:
            h.churn.add_counts(self._churn_counts)
            self._churn_counts = {}

    async def _write(self, events: list[WatchEvent]) -> None:
        if not events:
            return
        # One write per upstream chunk, but at most WRITE_BATCH events per write: a coalescing
        # window can release thousands of held events at once, and one join of 10+ MB is an
        # mmap'd buffer faulted in and freed each time (above the 4 MiB malloc threshold).
        for i in range(0, len(events), WRITE_BATCH):
            batch = events[i : i + WRITE_BATCH] if len(events) > WRITE_BATCH else events
            if self.transform is not None:
                tf = self.transform
                data = b"".join(e.raw if e.type in _ALWAYS_PASS else tf(e.raw) for e in batch)
            else:
                data = b"".join(e.raw for e in batch)
            self.stream.events_out += len(batch)
            self.stream.bytes_out += len(data)
            if rv := batch[-1].resource_version:  # "" for an ERROR event
                self.stream.last_rv = rv
            async with asyncio.timeout(self.slow_client_seconds):
                await self.resp.write(data)

    async def _read(self) -> bytes | None:
        """The next upstream chunk (b"" at EOF), or None when a timer came first: the stage's
        next deadline, or the idle check that notices a client that went away while the
        upstream is quiet (else the stream would live until the upstream's timeoutSeconds)."""
        wait = IDLE_CHECK_SECONDS
        if self.stage is not None:
            deadline = self.stage.next_deadline()
            if deadline is not None:
                wait = min(wait, max(0.0, deadline - self.monotonic()))
        try:
            async with asyncio.timeout(wait):
                return await self.up.content.readany()
        except TimeoutError:
            return None

    async def run(self) -> None:
        """Pump until the upstream ends, the stream expires, or the client goes away."""
        s = self.stream
        stage = self.stage
        try:
            while s.expired is None:
                try:
                    chunk = await self._read()
                except (aiohttp.ClientError, asyncio.IncompleteReadError, ConnectionError) as e:
                    if s.expired is None:
                        self.end_reason = f"upstream broke: {type(e).__name__}"
                    break
                if s.expired is not None:
                    break
                if chunk is None:
                    if self.client_gone():
                        self.end_reason = "client went away"
                        return  # nobody to flush to: the finally discards what is held
                    if stage is not None:
                        await self._write(stage.ready(self.monotonic()))
                        self._report()  # held events released by the timer count as out
                    continue
                if not chunk:
                    self.decoder.flush()  # raises CodecError on a frame cut in half
                    break
                s.bytes_in += len(chunk)
                events = self.decoder.feed(chunk)
                if not events:
                    continue
                s.events_in += len(events)
                passed = self.filter(events)
                if stage is not None:
                    now = self.monotonic()
                    # The stats are shared by all streams of the kind, but nothing else runs
                    # between these two reads: the difference is this chunk's merges.
                    coalesced_before = stage.stats.coalesced
                    for ev in passed:
                        stage.push(ev, now)
                    self._coalesced_unreported += stage.stats.coalesced - coalesced_before
                    passed = stage.ready(now)
                await self._write(passed)
                self._report()
            if s.expired is not None:
                self.end_reason = s.expired
                status = status_dict(410, expired_message(f"{s.expired}; relist"), "Expired")
                await self._write_raw(encode_error_event(status, s.content_type))
            elif stage is not None:
                # Upstream EOF: deliver what is held (in order) before the client's rewatch.
                await self._write(stage.flush())
        except CodecError as e:
            self.end_reason = f"bad upstream frame: {e}"
            if stage is not None and s.expired is None:  # complete events held before it
                try:
                    await self._write(stage.flush())
                except (TimeoutError, ConnectionResetError, aiohttp.ClientConnectionResetError):
                    pass
            status = status_dict(500, f"discofilter could not decode the upstream stream: {e}")
            await self._write_raw(encode_error_event(status, s.content_type))
        except TimeoutError:
            self.end_reason = "client too slow"
        except (ConnectionResetError, aiohttp.ClientConnectionResetError):
            self.end_reason = "client went away"
        finally:
            if stage is not None:
                # Every exit path (client gone, 410, slow client, bad frame, cancellation):
                # drop what is still held, else the kind's shared held_now gauge keeps this
                # dead stream's events forever. A no-op after flush().
                stage.discard()
            self._report()

    async def _write_raw(self, data: bytes) -> None:
        try:
            async with asyncio.timeout(self.slow_client_seconds):
                await self.resp.write(data)
            self.stream.bytes_out += len(data)
        except (TimeoutError, ConnectionResetError, aiohttp.ClientConnectionResetError):
            pass
