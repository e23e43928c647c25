"""``ObjectWatch`` against the emulator: one named object by field selector — every state of it,
None on DELETED and on a LIST that finds none, a relist after 410 (compaction), a rewatch after
the server closes the stream; other objects of the namespace never reach the callback."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from discofilter.clock import SystemClock
from discofilter.sim.server import Simulator
from discofilter.sources.object_watch import ObjectWatch
from discofilter.upstream.client import Upstream
from discofilter.upstream.target import OwnCredentials, UpstreamTarget

pytestmark = pytest.mark.timeout(30)


def _cm(name: str, value: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "istio-system"}, "data": {"mesh": value}}


async def test_one_object_through_relists_and_rewatches() -> None:
    async with Simulator() as sim:
        sim.store.create("namespaces", {"metadata": {"name": "istio-system"}})
        upstream = Upstream(UpstreamTarget(server=sim.url, own=OwnCredentials()))
        await upstream.start()
        seen: asyncio.Queue[str | None] = asyncio.Queue()

        def on_object(obj: dict[str, Any] | None, rv: str) -> None:
            seen.put_nowait(None if obj is None else obj["data"]["mesh"])

        watch = ObjectWatch(upstream, "istio-system", "configmaps", "istio", on_object,
                            SystemClock())  # fmt: skip
        task = asyncio.create_task(watch.run())

        async def next_state() -> str | None:
            return await asyncio.wait_for(seen.get(), 10)

        try:
            assert await next_state() is None  # the first LIST finds none
            sim.store.create("configmaps", _cm("istio", "v1"), "istio-system")
            assert await next_state() == "v1"
            sim.store.create("configmaps", _cm("other", "x"), "istio-system")  # not ours
            sim.store.update("configmaps", _cm("istio", "v2"))
            assert await next_state() == "v2"
            assert sim.close_watches() >= 1  # EOF: rewatch from the same resourceVersion
            sim.store.update("configmaps", _cm("istio", "v3"))
            assert await next_state() == "v3"
            sim.close_watches()
            sim.store.update("configmaps", _cm("istio", "v4"))
            # Compacted: a rewatch from before v4 gets 410 and relists (a rewatch that won the
            # race streams v4 instead); either way v4 arrives exactly once.
            sim.store.compact()
            assert await next_state() == "v4"
            sim.store.delete("configmaps", "istio", "istio-system")
            assert await next_state() is None
            assert seen.empty()
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await upstream.close()
