"""The informer-style watcher against the emulator: list, watch, resume, relist on 410."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from discofilter.errors import FrameTooLarge
from discofilter.sim.server import Simulator
from discofilter.watchclient import Expired, Watcher, resource

pytestmark = pytest.mark.timeout(30)


def _pod(name: str) -> dict[str, object]:
    return {"metadata": {"name": name, "namespace": "a"}, "spec": {"containers": []}}


async def test_a_watch_line_over_the_bound_is_refused() -> None:
    # The watcher splits lines with the codec's bounded decoder, never an unbounded buffer.
    async with Simulator() as sim, aiohttp.ClientSession() as s:
        sim.store.create("namespaces", {"metadata": {"name": "a"}})
        w = Watcher(s, sim.url, resource("pods"), max_frame_bytes=2048)
        await w.list_once()
        big = _pod("big")
        big["metadata"]["annotations"] = {"pad": "x" * 4096}  # type: ignore[index]
        sim.store.create("pods", big)
        with pytest.raises(FrameTooLarge):
            await asyncio.wait_for(w.watch_once(), 5)


async def test_list_then_watch_keeps_the_cache_and_logs_frames() -> None:
    async with Simulator(bookmark_interval=0.05) as sim, aiohttp.ClientSession() as s:
        sim.store.create("namespaces", {"metadata": {"name": "a"}})
        sim.store.create("pods", _pod("p0"))
        sim.store.create("pods", _pod("p00"))
        w = Watcher(s, sim.url, resource("pods"), page_size=1)  # two pages
        task = asyncio.create_task(w.run())
        await asyncio.wait_for(w.synced.wait(), 5)
        assert set(w.cache) == {("a", "p0"), ("a", "p00")}
        assert w.counters.lists == 1
        sim.store.delete("pods", "p00", "a")
        sim.store.create("pods", _pod("p1"))
        sim.store.delete("pods", "p0", "a")
        rv = sim.store.resource_version
        assert await w.wait_for_rv(rv, 5)
        assert w.state() == {
            ("a", "p1"): (
                sim.store.get("pods", "p1", "a")["metadata"]["uid"],
                sim.store.get("pods", "p1", "a")["metadata"]["resourceVersion"],
            )
        }
        types = [t for t in w.log.type if t != "BOOKMARK"]
        assert types == ["DELETED", "ADDED", "DELETED"]
        assert all(n > 0 for n in w.log.nbytes)
        task.cancel()


async def test_too_old_resource_version_relists() -> None:
    async with Simulator(history_size=3) as sim, aiohttp.ClientSession() as s:
        sim.store.create("namespaces", {"metadata": {"name": "a"}})
        w = Watcher(s, sim.url, resource("pods"))
        await w.list_once()
        for i in range(10):  # more changes than the 3-event history keeps
            sim.store.create("pods", _pod(f"p{i}"))
        with pytest.raises(Expired):
            await w.watch_once()
        task = asyncio.create_task(w.run())
        assert await w.wait_for(lambda x: len(x.cache) == 10, 5)
        assert w.counters.lists >= 2
        task.cancel()
