"""The emulator's /metrics: open watches, bytes sent and events, as the server itself counts them.

The fan-out benchmark (``bench --clients N``) reads the upstream's cost from here, so each
series is checked against what a client actually received.
"""

from __future__ import annotations

import asyncio

import aiohttp

from discofilter.sim import Simulator
from discofilter.sim.metrics import WATCHES_OPEN, parse

WAIT = 5.0


async def _metrics(s: aiohttp.ClientSession) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    async with s.get("/metrics") as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain")
        return parse(await r.text())


def _open(m: dict[str, dict[tuple[tuple[str, str], ...], float]], resource: str) -> float:
    return sum(v for k, v in m.get(WATCHES_OPEN, {}).items() if ("resource", resource) in k)


def _one(m: dict[str, dict[tuple[tuple[str, str], ...], float]], name: str, **labels: str) -> float:
    want = tuple(sorted(labels.items()))
    return m.get(name, {}).get(want, 0.0)


async def test_open_watches_peak_bytes_and_events(sim: Simulator) -> None:
    async with aiohttp.ClientSession(sim.url) as s:
        async with s.get("/api/v1/pods") as r:
            list_body = await r.read()
        m0 = await _metrics(s)
        assert _one(m0, "emulator_sent_bytes_total", verb="LIST", resource="pods") == len(list_body)
        assert _open(m0, "pods") == 0
        rv = int(sim.store.resource_version)
        w1 = await s.get(f"/api/v1/pods?watch=1&resourceVersion={rv}")
        w2 = await s.get(f"/api/v1/namespaces/mesh-a/pods?watch=1&resourceVersion={rv}")
        m1 = await _metrics(s)
        assert _open(m1, "pods") == 2
        assert _one(m1, WATCHES_OPEN, verb="WATCH", resource="pods", scope="cluster") == 1
        assert _one(m1, WATCHES_OPEN, verb="WATCH", resource="pods", scope="namespace") == 1
        assert _one(m1, "emulator_watches_peak", resource="pods") == 2
        events0 = _one(m1, "emulator_events_total", resource="pods")

        sim.store.create("pods", {"metadata": {"name": "new"}, "spec": {}}, "mesh-a")
        got1 = await asyncio.wait_for(w1.content.readline(), WAIT)
        got2 = await asyncio.wait_for(w2.content.readline(), WAIT)
        assert b'"ADDED"' in got1 and b'"ADDED"' in got2
        m2 = await _metrics(s)
        assert _one(m2, "emulator_events_total", resource="pods") == events0 + 1
        # Both streams' frames, byte for byte as the clients read them.
        assert _one(m2, "emulator_sent_bytes_total", verb="WATCH", resource="pods") == len(
            got1
        ) + len(got2)

        w1.close()
        w2.close()

        async def closed() -> None:
            # The handlers notice the hang-up on their next wake; poll, bounded by WAIT below.
            while _open(await _metrics(s), "pods") != 0:  # noqa: ASYNC110
                await asyncio.sleep(0.02)

        sim.request_bookmarks("pods")  # wakes both handlers so they see the closed transports
        await asyncio.wait_for(closed(), WAIT)
        m3 = await _metrics(s)
        assert _one(m3, "emulator_watches_peak", resource="pods") == 2
        assert _one(m3, "emulator_watches_started_total", resource="pods") == 2
