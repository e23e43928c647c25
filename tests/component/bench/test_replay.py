"""Trace replay into the emulator's Store: timing on an injected clock, idempotent repairs."""

from __future__ import annotations

import asyncio
from pathlib import Path

from discofilter.clock import FakeClock
from discofilter.harness.replay import TraceReplayer
from discofilter.harness.trace import TraceEvent, read_trace
from discofilter.sim.store import Store

from .tracegen import write_trace_scenario


def _pod(ns: str, name: str, uid: str, rv: str = "77") -> dict[str, object]:
    return {
        "kind": "Pod",
        "metadata": {"namespace": ns, "name": name, "uid": uid, "resourceVersion": rv},
        "spec": {"containers": [{"name": "c", "image": "x"}]},
    }


def test_repairs_a_trace_that_starts_mid_stream() -> None:
    store = Store()
    r = TraceReplayer(
        store,
        [
            TraceEvent(0, "pods", "MODIFIED", _pod("a", "p1", "u1")),  # never saw ADDED
            TraceEvent(1, "pods", "ADDED", _pod("a", "p1", "u1")),  # ADDED of an existing one
            TraceEvent(2, "pods", "DELETED", _pod("a", "p9", "u9")),  # DELETED of a missing one
            TraceEvent(3, "pods", "ADDED", _pod("a", "p1", "u2")),  # re-created, DELETED missed
            TraceEvent(4, "widgets", "ADDED", {"metadata": {"name": "w"}}),
        ],
    )
    r.apply_all()
    got = store.get("pods", "p1", "a")
    assert got["metadata"]["uid"] == "u2"
    assert got["metadata"]["resourceVersion"] != "77"  # the emulator's own revision
    assert r.counts["repair/namespace-created"] == 1
    assert r.counts["repair/modify-missing"] == 1
    assert r.counts["repair/delete-missing"] == 1
    assert r.counts["repair/recreate"] == 1
    assert r.counts["skipped/widgets"] == 1


async def test_replay_follows_trace_time_scaled_by_speed() -> None:
    clock = FakeClock()
    store = Store(clock=clock)
    evs = [TraceEvent(100.0 + i, "pods", "ADDED", _pod("a", f"p{i}", f"u{i}")) for i in range(3)]
    r = TraceReplayer(store, evs, speed=2.0, clock=clock)
    task = asyncio.create_task(r.run())
    await asyncio.sleep(0)
    assert store.count("pods") == 1  # t=0 applies at once
    clock.advance(0.49)
    await asyncio.sleep(0)
    assert store.count("pods") == 1  # the second is due at 0.5 s (1 s of trace at 2x)
    clock.advance(0.01)
    await asyncio.sleep(0)
    assert store.count("pods") == 2
    clock.advance(0.5)
    await asyncio.wait_for(task, 1)
    assert store.count("pods") == 3


async def test_duration_cuts_the_replay() -> None:
    clock = FakeClock()
    store = Store(clock=clock)
    evs = [TraceEvent(float(i), "pods", "ADDED", _pod("a", f"p{i}", f"u{i}")) for i in range(10)]
    r = TraceReplayer(store, evs, clock=clock)
    task = asyncio.create_task(r.run(duration=2.5))
    for _ in range(5):
        await asyncio.sleep(0)
        clock.advance(1.0)
    await asyncio.wait_for(task, 1)
    assert store.count("pods") == 3  # t = 0, 1, 2


def test_synthetic_trace_replays_with_labelled_namespaces(tmp_path: Path) -> None:
    write_trace_scenario(tmp_path, events=200)
    store = Store()
    r = TraceReplayer(store, read_trace(tmp_path / "trace.jsonl.gz"))
    r.apply_all()
    labels = store.get("namespaces", "mesh-a")["metadata"]["labels"]
    assert labels["istio-discovery"] == "enabled"
    assert r.counts["pods/ADDED"] > 0 and not any(k.startswith("errors/") for k in r.counts)
