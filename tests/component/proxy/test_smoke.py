from __future__ import annotations

import aiohttp

from tests.component.proxy.conftest import Rig


async def test_list_filters(rig: Rig) -> None:
    rig.pod("a", "mesh-a")
    rig.pod("b", "batch")
    await rig.until(lambda: rig.proxy.enrollment.is_enrolled("mesh-a"))
    async with aiohttp.ClientSession() as s, s.get(rig.url + "/api/v1/pods") as r:
        body = await r.json()
    print(body)
    assert {
        (i["metadata"]["namespace"], i["metadata"]["name"]) for i in body["items"]
    } == rig.expected()
