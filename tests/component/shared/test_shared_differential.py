"""Differential check of the served streams: a client of the shared cache gets, byte for byte,
the events a direct filtered watch from the same resourceVersion gets.

One emulator, two proxies in front of it: per-client (today's direct path) and shared, churn
control off on both so that bytes can be compared. Random churn (create/update/delete in
enrolled and other namespaces) runs in rounds; between rounds, clients (up to 10, JSON and
protobuf) resume from the last resourceVersion they read, read a random number of events (a
hang-up after a prefix), and every event frame must equal the direct stream's frame at the same
position. The pure core's property test (tests/unit/cache/test_cache_property.py, 2,000
examples) covers flips, relists and the window's edges; this one covers what the server adds:
frames carried with their events (``EventFrame``), the watcher read as a pump's body, the
resume path through HTTP. ``SHARED_DIFF_RESUMES`` sets the number of resumes (default 2,000, ~8 s).
"""

from __future__ import annotations

import dataclasses
import os
import random
from typing import Any

import aiohttp
import pytest

from discofilter.codec import decoder_for
from discofilter.codec.mediatype import JSON, PROTOBUF
from discofilter.config import Config, with_overrides
from discofilter.model import BOOKMARK, WatchEvent
from discofilter.sim.server import Simulator
from tests.component.proxy.conftest import MESH, Rig, start_rig, stop_rig

pytestmark = pytest.mark.timeout(120)

RESUMES = int(os.environ.get("SHARED_DIFF_RESUMES", "2000"))
SEED = int(os.environ.get("SHARED_DIFF_SEED", "15"))
NAMESPACES = ("mesh-a", "mesh-b", "batch")
ENROLLED = ("mesh-a", "mesh-b")


def _config(shared: bool) -> Config:
    cfg = with_overrides(Config(), enrollment={"selectors": ("istio-injection=enabled",)})
    cfg = with_overrides(cfg, shared_watches={"enabled": shared})
    return dataclasses.replace(cfg, churn_control={"enabled": False})


async def _read(s: aiohttp.ClientSession, url: str, ctype: str, count: int) -> list[WatchEvent]:
    """The first ``count`` object events of a watch (bookmarks skipped), then hang up."""
    out: list[WatchEvent] = []
    async with s.get(url, headers={"Accept": ctype}) as r:
        assert r.status == 200, await r.text()
        dec = decoder_for(r.headers["Content-Type"])
        while len(out) < count:
            chunk = await r.content.readany()
            assert chunk, f"stream ended after {len(out)} of {count} events"
            out += [e for e in dec.feed(chunk) if e.type != BOOKMARK]
    return out[:count]


async def test_shared_streams_equal_direct_streams_byte_for_byte() -> None:
    sim = Simulator(bookmark_interval=60.0)
    direct: Rig = await start_rig(_config(False), sim=sim)
    shared: Rig | None = None
    rng = random.Random(SEED)
    try:
        shared = await start_rig(_config(True), sim=_Started(sim))  # type: ignore[arg-type]
        for ns in NAMESPACES:
            direct.ns(ns, MESH if ns in ENROLLED else {})
        await direct.until(lambda: all(direct.proxy.enrollment.is_enrolled(n) for n in ENROLLED))
        await shared.until(lambda: all(shared.proxy.enrollment.is_enrolled(n) for n in ENROLLED))
        kept: list[int] = []  # RVs of events in enrolled namespaces, in order
        live: dict[tuple[str, str], Any] = {}
        clients: list[tuple[str, int]] = []
        async with aiohttp.ClientSession() as s:
            for ctype in (JSON, PROTOBUF):  # start both keys: the window begins here
                async with s.get(f"{shared.url}/api/v1/pods", headers={"Accept": ctype}) as r:
                    assert r.status == 200
            start = sim.store.resource_version
            clients = [(rng.choice((JSON, PROTOBUF)), start) for _ in range(10)]
            done = 0
            n = 0
            while done < RESUMES:
                for _ in range(rng.randint(3, 20)):  # a round of churn
                    n += 1
                    ns = rng.choice(NAMESPACES)
                    keys = [k for k in live if k[0] == ns]
                    op = rng.random()
                    if keys and op < 0.3:
                        k = rng.choice(keys)
                        sim.store.delete("pods", k[1], ns)
                        del live[k]
                    elif keys and op < 0.7:
                        k = rng.choice(keys)
                        obj = sim.store.get("pods", k[1], ns)
                        obj["metadata"].setdefault("labels", {})["gen"] = str(n)
                        sim.store.update("pods", obj)
                    else:
                        name = f"p{n}"
                        live[(ns, name)] = sim.store.create(
                            "pods", _pod(name, ns, rng.randint(0, 300)), ns
                        )
                    if ns in ENROLLED:
                        kept.append(sim.store.resource_version)
                for i in rng.sample(range(len(clients)), rng.randint(1, len(clients))):
                    ctype, rv = clients[i]
                    pending = [k for k in kept if k > rv]
                    if not pending:
                        continue
                    count = rng.randint(1, len(pending))
                    url = f"/api/v1/pods?watch=1&resourceVersion={rv}"
                    want = await _read(s, direct.url + url, ctype, count)
                    got = await _read(s, shared.url + url, ctype, count)
                    assert [e.raw for e in got] == [e.raw for e in want], (ctype, rv, count)
                    assert [int(e.resource_version) for e in want] == pending[:count]
                    clients[i] = (ctype, int(got[-1].resource_version))
                    done += 1
        # Two keys, one upstream watch each, whatever the number of resumes.
        assert sim.metrics.open[("pods", "cluster")] >= 2
        snap = shared.proxy.shared.snapshot()  # type: ignore[union-attr]
        assert sorted(k.content_type for k in snap) == sorted((JSON, PROTOBUF))
        assert all(k.relists == 1 and k.lists_from_upstream == 0 for k in snap)
    finally:
        if shared is not None:
            await shared.proxy.stop()
            await shared.runner.cleanup()
        await stop_rig(direct)


class _Started:
    """The running emulator, lent to a second rig (``start_rig`` starts what it is given)."""

    def __init__(self, sim: Simulator) -> None:
        self._sim = sim
        self.url = sim.url
        self.store = sim.store

    async def start(self) -> str:
        return self._sim.url

    async def stop(self) -> None:
        return None


def _pod(name: str, ns: str, pad: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": "x"}},
        "spec": {"containers": [{"name": "c", "image": "busybox" + "x" * pad}]},
    }
