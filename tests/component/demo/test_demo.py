"""``discofilter demo``: a short run exits 0 and its summary shows the saving and correctness."""

from __future__ import annotations

import asyncio
import io

import pytest

from discofilter.demo.command import demo
from discofilter.demo.view import Sample, render_frame, render_summary

pytestmark = pytest.mark.timeout(90)


def test_demo_three_seconds_is_correct_and_saves_events() -> None:
    out = io.StringIO()
    rc = asyncio.run(demo(3.0, out=out))
    text = out.getvalue()
    assert rc == 0, text
    lines = text.strip().splitlines()
    assert "direct" in lines[1] and "via discofilter" in lines[1]  # progress lines (not a TTY)
    assert "\x1b[" not in text  # no escape codes when the output is not a terminal
    events = next(line for line in lines if line.startswith("events: direct"))
    direct = int(events.split("direct ")[1].split(",")[0].replace(",", ""))
    through = events.split("through discofilter ")[1].split(" ")[0]
    assert int(through.replace(",", "")) < direct
    assert lines[-1].startswith("correct: ")


def test_frame_shows_noisy_namespaces_and_enrollment() -> None:
    s = Sample(
        3.0,
        900,
        4_000_000,
        150,
        600_000,
        300,
        50,
        noisy=[("ci-runners-0", 120, False), ("shop-1", 20, True)],
    )
    frame = render_frame(s, 20)
    assert "ci-runners-0" in frame and "filtered" in frame
    assert "shop-1" in frame and "forwarded" in frame
    assert "83.3%" in frame  # 1 - 150/900


def test_summary_last_lines() -> None:
    ok = render_summary(1000, 10_000, 200, 2_000, True).strip().splitlines()
    assert ok[-3].startswith("events: direct 1,000, through discofilter 200 (saved 80.0%)")
    assert ok[-1].startswith("correct:")
    bad = render_summary(1000, 10_000, 200, 2_000, False).strip().splitlines()
    assert bad[-1].startswith("WRONG")
