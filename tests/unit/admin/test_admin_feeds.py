"""DecisionSampler (bounded fan-out) and ChurnMeter (sliding window on an injected clock)."""

from __future__ import annotations

import asyncio

import pytest

from discofilter.clock import FakeClock
from discofilter.telemetry.churn import ChurnMeter
from discofilter.telemetry.decisions import FILTERED, Decision, DecisionSampler


def _d(i: int) -> Decision:
    return Decision(at=float(i), stream_id="s", kind="pods", namespace="ns", name=f"p{i}",
                    event_type="ADDED", action=FILTERED)  # fmt: skip


def test_should_sample_one_in_every() -> None:
    s = DecisionSampler(every=4)
    picks = [s.should_sample() for _ in range(12)]
    assert picks == [False, False, False, True] * 3


def test_every_must_be_positive() -> None:
    with pytest.raises(ValueError):
        DecisionSampler(every=0)


def test_recent_ring_is_bounded() -> None:
    s = DecisionSampler(capacity=3)
    for i in range(5):
        s.publish(_d(i))
    assert [d.name for d in s.recent()] == ["p2", "p3", "p4"]


async def test_slow_subscriber_drops_instead_of_growing() -> None:
    s = DecisionSampler()
    sub = s.subscribe(maxsize=2)
    for i in range(5):
        s.publish(_d(i))  # never blocks
    assert sub.dropped == 3
    got = []
    sub.close()
    async for d in sub:
        got.append(d.name)
    assert got == ["p0", "p1"]
    assert s.subscribers == 0


async def test_subscription_replay_and_close_ends_iteration() -> None:
    s = DecisionSampler()
    s.publish(_d(0))
    async with s.subscribe(replay_recent=True) as sub:
        it = aiter(sub)
        assert (await asyncio.wait_for(anext(it), 1)).name == "p0"
        s.publish(_d(1))
        assert (await asyncio.wait_for(anext(it), 1)).name == "p1"
        pending = asyncio.ensure_future(anext(it))
        await asyncio.sleep(0)
        s.close()  # server shutdown ends every subscriber
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(pending, 1)
    assert s.subscribers == 0


def test_churn_rates_over_window() -> None:
    clock = FakeClock(start=100.0)
    m = ChurnMeter(clock, width=1.0, buckets=10)
    m.add_counts({"batch": 50, "shop": 5})
    clock.advance(1.0)
    m.add("batch", 50)
    clock.advance(1.0)
    # Since start (2 s) is shorter than the 10 s window: 100 batch events over 2 s.
    assert m.rates() == {"batch": pytest.approx(50.0), "shop": pytest.approx(2.5)}
    clock.advance(8.0)
    # t=110: the window is the current (empty, just begun) bucket plus the 9 before it,
    # [101, 110): the first bucket [100, 101) has left it, 50 batch events remain over 9 s.
    assert m.rates() == {"batch": pytest.approx(50 / 9)}
    clock.advance(5.0)
    assert m.rates() == {}


def test_churn_first_instant_is_not_a_spike() -> None:
    clock = FakeClock(start=0.5)
    m = ChurnMeter(clock)
    m.add("a")
    assert m.rates() == {"a": pytest.approx(1.0)}  # span floored at one bucket width
