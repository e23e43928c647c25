"""Token bucket arithmetic and the stats histogram."""

from __future__ import annotations

import pytest

from discofilter.coalesce.bucket import TokenBucket
from discofilter.coalesce.stats import HOLD_BUCKETS, CoalesceStats, CoalesceStatsTable


def test_bucket_starts_full_and_refills_at_the_rate() -> None:
    b = TokenBucket(rate=10.0, burst=2)
    b.refill(100.0)
    assert b.try_take() and b.try_take() and not b.try_take()
    assert b.time_for_token() == pytest.approx(100.1)
    b.refill(100.05)
    assert not b.try_take()
    b.refill(100.1)
    assert b.try_take()
    b.refill(200.0)
    assert b.tokens == 2.0  # never more than the burst


def test_bucket_at_its_own_deadline_always_has_a_token() -> None:
    b = TokenBucket(rate=3.0, burst=1)
    b.refill(0.1)
    for _ in range(1000):
        assert b.try_take()
        t = b.time_for_token()
        b.refill(t)


def test_forced_take_never_goes_into_debt() -> None:
    b = TokenBucket(rate=1.0, burst=1)
    b.refill(0.0)
    b.take_if_any()
    b.take_if_any()
    assert b.tokens == 0.0
    b.refill(1.0)
    assert b.try_take()


def test_bucket_ignores_time_going_backwards() -> None:
    b = TokenBucket(rate=1.0, burst=1)
    b.refill(10.0)
    assert b.try_take()
    b.refill(5.0)
    assert not b.try_take()
    assert b.time_for_token() == pytest.approx(11.0)


def test_bucket_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        TokenBucket(rate=0.0, burst=1)


def test_hold_histogram_and_high_water_mark() -> None:
    s = CoalesceStats(kind="pods")
    for seconds in (0.0, 0.2, 0.25, 3.0, 60.0):
        s.observe_hold(seconds)
    assert s.hold_count == 5 and s.hold_seconds_sum == pytest.approx(63.45)
    assert s.longest_hold_seconds == 60.0
    cumulative = dict(s.cumulative_buckets())
    assert cumulative[0.001] == 1
    assert cumulative[0.25] == 3  # le is inclusive, as in Prometheus
    assert cumulative[5.0] == 4
    assert cumulative[float("inf")] == 5
    assert len(s.cumulative_buckets()) == len(HOLD_BUCKETS) + 1
    assert s.as_dict()["kind"] == "pods"


def test_stats_table_makes_one_per_kind() -> None:
    t = CoalesceStatsTable()
    assert t.get("pods") is t.get("pods")
    t.get("endpoints")
    assert [k for k, _ in t.items()] == ["endpoints", "pods"]
