"""Measurement math for the harness (pure: no I/O, no clocks).

Added latency is measured by *joining on resourceVersion*: the direct watcher and the proxied
watcher run in the same process on the same monotonic clock, so for every event the proxied
client receives, ``added = t_proxied(rv) - t_direct(rv)``. This needs nothing from the upstream
(it works against a real cluster too) and cancels the upstream's own send delay; its error is the
harness's own scheduling jitter, the same for both sides. A coalesced event carries the
resourceVersion of the latest state it delivers, so its latency is counted from when that state
first reached the direct watcher — exactly the delay a controller sees.

Percentiles use the nearest-rank method (p-th percentile = the smallest sample with at least p%
of samples at or below it), the convention of most latency tooling; no interpolation, so p100 is
the max and every reported value is an observed one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

WATCH_EVENT_TYPES = frozenset({"ADDED", "MODIFIED", "DELETED"})


def percentile(sorted_values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile of an ascending sequence; None when empty."""
    if not sorted_values:
        return None
    if not 0 <= p <= 100:
        raise ValueError(f"percentile {p} outside [0, 100]")
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def latency_summary(samples: Iterable[float]) -> dict[str, float | int | None]:
    """count, p50, p90, p99 and max of latency samples in seconds (reported in ms)."""
    vals = sorted(samples)

    def ms(x: float | None) -> float | None:
        return None if x is None else round(x * 1000, 3)

    return {
        "count": len(vals),
        "p50_ms": ms(percentile(vals, 50)),
        "p90_ms": ms(percentile(vals, 90)),
        "p99_ms": ms(percentile(vals, 99)),
        "max_ms": ms(vals[-1] if vals else None),
    }


def first_seen(
    times: Sequence[float], types: Sequence[str], rvs: Sequence[str]
) -> dict[str, float]:
    """resourceVersion -> first receive time of a watch event carrying it (bookmarks excluded)."""
    out: dict[str, float] = {}
    for t, ty, rv in zip(times, types, rvs, strict=True):
        if ty in WATCH_EVENT_TYPES and rv and rv not in out:
            out[rv] = t
    return out


def added_latencies(
    reference: dict[str, float],
    times: Sequence[float],
    types: Sequence[str],
    rvs: Sequence[str],
) -> list[float]:
    """For each event of the measured stream whose resourceVersion the reference saw, the delay.

    Events received before the reference saw them (negative delay: scheduling noise between two
    sockets) count as 0, so noise never makes a proxy look faster than direct.
    """
    out: list[float] = []
    for t, ty, rv in zip(times, types, rvs, strict=True):
        if ty in WATCH_EVENT_TYPES:
            t0 = reference.get(rv)
            if t0 is not None:
                out.append(max(0.0, t - t0))
    return out


def rate_series(
    times: Sequence[float], start: float, end: float, bucket_s: float = 1.0
) -> list[int]:
    """Counts per ``bucket_s`` bucket of ``times`` in [start, end); times outside are dropped."""
    n = max(1, math.ceil((end - start) / bucket_s))
    out = [0] * n
    for t in times:
        i = int((t - start) // bucket_s)
        if 0 <= i < n:
            out[i] += 1
    return out


def compare_states(
    actual: dict[tuple[str, str], tuple[str, str]],
    expected: dict[tuple[str, str], tuple[str, str]],
    limit: int = 5,
) -> dict[str, object]:
    """Differences between a client's cache and the truth, as counts plus a few examples."""
    missing = [k for k in expected if k not in actual]
    extra = [k for k in actual if k not in expected]
    stale = [k for k, v in expected.items() if k in actual and actual[k] != v]
    return {
        "matches": not (missing or extra or stale),
        "expected_objects": len(expected),
        "actual_objects": len(actual),
        "missing": len(missing),
        "extra": len(extra),
        "stale": len(stale),
        "examples": {
            "missing": ["/".join(k) for k in missing[:limit]],
            "extra": ["/".join(k) for k in extra[:limit]],
            "stale": ["/".join(k) for k in stale[:limit]],
        },
    }
