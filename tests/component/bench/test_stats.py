"""Percentile math, the resourceVersion latency join, rate buckets and state comparison."""

from __future__ import annotations

import pytest

from discofilter.harness import stats


def test_nearest_rank_percentiles() -> None:
    vals = [float(i) for i in range(1, 101)]  # 1..100
    assert stats.percentile(vals, 50) == 50.0
    assert stats.percentile(vals, 99) == 99.0
    assert stats.percentile(vals, 100) == 100.0
    assert stats.percentile(vals, 0) == 1.0
    assert stats.percentile([7.0], 99) == 7.0
    assert stats.percentile([], 50) is None
    # p99 of 10 samples is the max under nearest rank (no interpolation below it).
    assert stats.percentile([float(i) for i in range(10)], 99) == 9.0
    with pytest.raises(ValueError):
        stats.percentile(vals, 101)


def test_latency_summary_in_ms() -> None:
    s = stats.latency_summary([0.001, 0.002, 0.003, 0.010])
    assert s == {"count": 4, "p50_ms": 2.0, "p90_ms": 10.0, "p99_ms": 10.0, "max_ms": 10.0}
    assert stats.latency_summary([])["p50_ms"] is None


def test_join_on_resource_version() -> None:
    ref = stats.first_seen(
        [1.0, 2.0, 3.0, 3.5], ["ADDED", "MODIFIED", "BOOKMARK", "MODIFIED"], ["5", "6", "7", "6"]
    )
    assert ref == {"5": 1.0, "6": 2.0}  # first sighting wins; bookmarks do not count
    lat = stats.added_latencies(
        ref,
        [1.25, 0.5, 9.0, 4.0],
        ["ADDED", "MODIFIED", "MODIFIED", "BOOKMARK"],
        ["5", "6", "99", "5"],
    )
    # rv 5 +0.25 s; rv 6 arrived "before" the reference (noise) -> 0; rv 99 unknown; bookmark out.
    assert lat == [0.25, 0.0]


def test_rate_series_buckets() -> None:
    assert stats.rate_series([10.0, 10.5, 11.2, 12.9, 13.0, 9.0], 10.0, 13.0) == [2, 1, 1]
    assert stats.rate_series([], 0.0, 0.0) == [0]


def test_compare_states() -> None:
    want = {("a", "p1"): ("u1", "5"), ("a", "p2"): ("u2", "6")}
    assert stats.compare_states(dict(want), want)["matches"] is True
    got = {("a", "p1"): ("u1", "4"), ("b", "x"): ("u9", "1")}
    d = stats.compare_states(got, want)
    assert (d["matches"], d["missing"], d["extra"], d["stale"]) == (False, 1, 1, 1)
    assert d["examples"] == {"missing": ["a/p2"], "extra": ["b/x"], "stale": ["a/p1"]}
