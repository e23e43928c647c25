"""An open stream's counts and churn are read when they are read (a scrape, a rotation), not
pushed per upstream read; the end hands over the rest exactly once."""

from __future__ import annotations

import asyncio

import pytest

from discofilter.clock import FakeClock
from discofilter.codec import JsonWatchDecoder
from discofilter.metrics import Metrics
from discofilter.server.streams.pump import StreamTelemetry, WatchPump
from discofilter.server.streams.registry import StreamRegistry, WatchStream
from discofilter.telemetry.churn import ChurnMeter
from tests.component.proxy.test_pump import line
from tests.component.proxy.test_pump_timers import QueueBody, SignallingClient

pytestmark = pytest.mark.timeout(10)


def sample(m: Metrics, name: str, **labels: str) -> float:
    for family in m.registry.collect():
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    raise AssertionError(f"no sample {name} {labels}")


async def test_a_scrape_reads_open_streams_and_the_end_adds_only_the_rest() -> None:
    metrics = Metrics()
    registry = StreamRegistry(metrics)
    meter = ChurnMeter(FakeClock())
    stream = WatchStream("pods", content_type="application/json")
    registry.add(stream)
    body, client = QueueBody(), SignallingClient()
    p = WatchPump(
        stream, body, client, JsonWatchDecoder(),
        stream.watch_filter(lambda ns: ns == "mesh", count_churn=True),
        sink=registry.totals, telemetry=StreamTelemetry(churn=meter),
    )  # fmt: skip
    task = asyncio.create_task(p.run())
    body.chunks.put_nowait(line("ADDED", "mesh", "a", 1) + line("ADDED", "batch", "b", 2))
    await client.next_write()
    # Mid-stream: nothing was pushed, a read pulls.
    assert sample(metrics, "discofilter_events_in_total", kind="pods", enrolled="yes") == 1
    assert sample(metrics, "discofilter_events_suppressed_total", kind="pods") == 1
    assert registry.totals.snapshot()["pods"]["events_out"] == 1
    assert meter.rates() == {"mesh": 1.0, "batch": 1.0}  # one event each over one bucket
    body.chunks.put_nowait(line("MODIFIED", "mesh", "a", 3))
    await client.next_write()
    body.close()
    await task
    registry.remove(stream)
    # The end handed over only what no read had taken: nothing counted twice.
    assert sample(metrics, "discofilter_events_in_total", kind="pods", enrolled="yes") == 2
    assert sample(metrics, "discofilter_events_out_total", kind="pods", enrolled="yes") == 2
    assert sample(metrics, "discofilter_bytes_in_total", kind="pods") == stream.bytes_in
    pods = registry.totals.snapshot()["pods"]
    assert (pods["events_in"], pods["dropped"], pods["events_out"]) == (3, 1, 2)
    assert meter.rates() == {"mesh": 2.0, "batch": 1.0}
    assert not meter._sources  # the ended stream is no longer read


async def test_counts_taken_by_a_rotation_land_in_the_bucket_they_arrived_in() -> None:
    clock = FakeClock()
    meter = ChurnMeter(clock, width=1.0, buckets=10)
    pending = {"mesh": 5}

    def take() -> dict[str, int]:
        nonlocal pending
        out, pending = pending, {}
        return out

    meter.track(take)
    clock.advance(3.0)
    # Taken at this rotation, into the bucket current since the last one (t=0).
    assert meter.rates() == pytest.approx({"mesh": 5 / 3})
    pending = {"mesh": 10}
    clock.advance(9.5)
    # The 10 go to the t=3 bucket; the t=0 bucket (the 5) has left the 10 s window.
    assert meter.rates() == pytest.approx({"mesh": 10 / 9.5})
