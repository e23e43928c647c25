"""The upstream goes away and comes back: client watches end cleanly, the proxy recovers."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from tests.component.proxy.conftest import CONTENT_TYPES, Rig
from tests.component.proxy.helpers import WatchReader, open_watch

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("ctype", CONTENT_TYPES)
async def test_upstream_restart(rig: Rig, ctype: str) -> None:
    port = int(rig.sim.url.rsplit(":", 1)[1])
    async with aiohttp.ClientSession() as s:
        r, task = await open_watch(s, f"{rig.url}/api/v1/pods?watch=1", ctype)
        await rig.until(lambda: len(rig.proxy.registry) == 1)
        await rig.sim.stop()
        await asyncio.wait_for(task, 10)  # the client's stream ended (EOF), nothing wedged
        assert isinstance(r, WatchReader) and r.done
        await rig.until(lambda: len(rig.proxy.registry) == 0)
        # While the upstream is down a filtered request gets a Status, not a hang.
        async with s.get(f"{rig.url}/api/v1/pods") as resp:
            assert resp.status == 503
            assert (await resp.json())["kind"] == "Status"
        await rig.sim.start("127.0.0.1", port)  # same store, same resourceVersions
        rig.pod("after", "mesh-a")
        await rig.until(lambda: rig.proxy.namespaces.watches >= 2, within=15)
        async with s.get(f"{rig.url}/api/v1/pods") as resp:
            doc = await resp.json()
        assert {(i["metadata"]["namespace"], i["metadata"]["name"]) for i in doc["items"]} == (
            rig.expected()
        )
