"""Held events never outlive their watch stream: every exit path releases or discards them.

The coalescer's ``held_now`` is one gauge per kind shared by all streams; a stream that ends
without ``flush()`` or ``discard()`` would leave its held events counted forever (and, on a
long-running proxy, make ``discofilter_coalesce_held_events`` creep upward). Each test holds
events under a 30 s window, ends the stream one way, and checks the gauge is back to 0 both in
the stats and on ``/metrics``.
"""

from __future__ import annotations

import asyncio

import aiohttp
import orjson
import pytest

from discofilter.server.streams import pump as watch_stream
from tests.component.churn.conftest import ChurnRig, kind_labels

pytestmark = pytest.mark.timeout(30)

HELD = 5


async def _hold_events(
    rig: ChurnRig, s: aiohttp.ClientSession, query: str = ""
) -> aiohttp.ClientResponse:
    resp = await s.get(f"{rig.url}/api/v1/pods?watch=1{query}")
    assert resp.status == 200
    await rig.until(lambda: len(rig.proxy.registry) == 1)
    for i in range(HELD):
        rig.pod(f"p{i}", "mesh-a")
    rig.pod("other", "batch")  # filtered out before the stage: never held
    stats = rig.proxy.coalesce_stats.get("pods")
    await rig.until(lambda: stats.held_now == HELD)
    return resp


async def _assert_nothing_held(rig: ChurnRig) -> None:
    stats = rig.proxy.coalesce_stats.get("pods")
    await rig.until(lambda: len(rig.proxy.registry) == 0 and stats.held_now == 0)
    m = await rig.scrape()
    assert m[("discofilter_coalesce_held_events", kind_labels("pods"))] == 0
    assert m[("discofilter_open_streams", kind_labels("pods"))] == 0


async def test_client_gone_discards_held_events(
    holding_rig: ChurnRig, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The pump notices a vanished client at its idle check (15 s in production).
    monkeypatch.setattr(watch_stream, "IDLE_CHECK_SECONDS", 0.05)
    rig = holding_rig
    async with aiohttp.ClientSession() as s:
        resp = await _hold_events(rig, s)
        resp.close()
        await _assert_nothing_held(rig)
    stats = rig.proxy.coalesce_stats.get("pods")
    assert (stats.discarded, stats.forwarded) == (HELD, 0)
    m = await rig.scrape()
    assert m[("discofilter_coalesce_discarded_total", kind_labels("pods"))] == HELD


async def test_enrollment_410_discards_held_events(holding_rig: ChurnRig) -> None:
    rig = holding_rig
    async with aiohttp.ClientSession() as s:
        resp = await _hold_events(rig, s)
        rig.sim.store.set_namespace_labels("mesh-a", {})  # leaves the mesh: contract 3
        body = await asyncio.wait_for(resp.read(), 10)
    lines = [orjson.loads(x) for x in body.splitlines() if x]
    # The held events must not be delivered after the stream was ended for a relist.
    assert [ev["type"] for ev in lines] == ["ERROR"]
    assert lines[0]["object"]["code"] == 410
    await _assert_nothing_held(rig)
    assert rig.proxy.coalesce_stats.get("pods").discarded == HELD


async def test_upstream_end_flushes_held_events(holding_rig: ChurnRig) -> None:
    rig = holding_rig
    async with aiohttp.ClientSession() as s:
        resp = await _hold_events(rig, s, "&timeoutSeconds=1")
        body = await asyncio.wait_for(resp.read(), 10)
    names = [orjson.loads(x)["object"]["metadata"]["name"] for x in body.splitlines() if x]
    assert names == [f"p{i}" for i in range(HELD)]
    await _assert_nothing_held(rig)
    stats = rig.proxy.coalesce_stats.get("pods")
    assert (stats.forwarded, stats.discarded) == (HELD, 0)


async def test_held_gauge_does_not_creep_over_many_streams(
    holding_rig: ChurnRig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(watch_stream, "IDLE_CHECK_SECONDS", 0.05)
    rig = holding_rig
    async with aiohttp.ClientSession() as s:
        for round_ in range(3):
            resp = await s.get(f"{rig.url}/api/v1/pods?watch=1")
            await rig.until(lambda: len(rig.proxy.registry) == 1)
            rig.pod(f"r{round_}", "mesh-a")
            stats = rig.proxy.coalesce_stats.get("pods")
            # A watch without resourceVersion starts with ADDED events of every existing pod
            # (kube-apiserver's "get state and start at most recent"): all of them are held.
            await rig.until(lambda: stats.held_now == round_ + 1)  # noqa: B023
            resp.close()
            await _assert_nothing_held(rig)
    assert rig.proxy.coalesce_stats.get("pods").discarded == 1 + 2 + 3
