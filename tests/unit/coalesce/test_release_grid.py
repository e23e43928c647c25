"""Windows end on a grid (``coalescer.release_due``): never late, few distinct deadlines."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from discofilter.coalesce import CoalescePolicy, Coalescer
from discofilter.coalesce.coalescer import RELEASE_TICKS, release_due
from discofilter.model import ADDED, WatchEvent


@given(
    now=st.floats(min_value=0.0, max_value=1e6, allow_nan=False),
    window=st.floats(min_value=0.001, max_value=10.0, allow_nan=False),
)
def test_due_is_never_later_than_the_window_and_at_most_one_tick_earlier(
    now: float, window: float
) -> None:
    due = release_due(now, window)
    tick = window / RELEASE_TICKS
    slack = 1e-9 * max(1.0, now)  # float rounding of now + window
    assert now + window - tick - slack <= due <= now + window + slack


def test_arrivals_on_the_grid_keep_the_exact_window() -> None:
    for i in range(200):
        now = i * 0.05
        assert abs(release_due(now, 0.25) - (now + 0.25)) < 1e-9
    assert release_due(3.0, 0.0) == 3.0  # no window: due at once


def _ev(i: int) -> WatchEvent:
    return WatchEvent(ADDED, "ns", f"p{i}", f"u{i}", str(i), b"x")


def test_a_steady_low_rate_stream_wakes_once_per_tick_not_once_per_event() -> None:
    """100 distinct objects/s for 2 s with the default 250 ms window: 200 events, at most
    ~2 s / 50 ms + 1 release wake-ups (one per tick), each releasing about 5 events; every
    event delivered, none held longer than the window."""
    c = Coalescer(CoalescePolicy(window_seconds=0.25))
    arrival: dict[str, float] = {}
    wakeups = delivered = 0
    t = 0.0
    for i in range(200):
        t = 1.0 + i * 0.01 + 0.003  # off the grid on purpose
        while (d := c.next_deadline()) is not None and d <= t:
            out = c.ready(d)
            wakeups += bool(out)
            for e in out:
                assert d - arrival[e.name] <= 0.25 + 1e-9
            delivered += len(out)
        c.push(_ev(i), t)
        arrival[f"p{i}"] = t
    while (d := c.next_deadline()) is not None:
        out = c.ready(d)
        wakeups += bool(out)
        delivered += len(out)
    assert delivered == 200
    assert wakeups <= 2.25 / 0.05 + 1, wakeups  # before the grid: 200
