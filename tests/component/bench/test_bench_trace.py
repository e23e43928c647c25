"""A trace scenario through the harness: replayed churn, filtered and pass-through modes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from discofilter.harness.pipeline import BenchArgs, bench

from .tracegen import write_trace_scenario

pytestmark = pytest.mark.timeout(90)


def test_trace_scenario_replays_and_filters(tmp_path: Path) -> None:
    scenario = write_trace_scenario(tmp_path, events=300, seconds=1.5, non_mesh=0.8)
    res = asyncio.run(
        bench(
            BenchArgs(
                scenario=scenario,
                out=tmp_path / "out",
                modes=["direct", "discofilter-nocc"],
                show_progress=False,
            )
        )
    )
    assert res["final_state_matches"] is True
    assert res["scenario"]["name"] == "synthetic-trace"
    up = res["upstream"]
    assert up["events"] == 300  # every traced pod event, replayed once
    nocc = res["modes"]["discofilter-nocc"]["clients"]["python"]
    # ~20% of the churn is in the two enrolled namespaces; without churn control every one of
    # their events is forwarded and nothing else is.
    assert 0 < nocc["events"] < up["events"] * 0.5
    assert nocc["kinds"]["pods"]["final_state_matches"] is True
