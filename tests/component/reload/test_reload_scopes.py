"""Live reload with scopes: a scope's new selectors flip only that scope's streams and stamp;
adding or removing a scope waits for a restart."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from tests.component.proxy.conftest import JSON, stop_rig
from tests.component.proxy.helpers import open_watch
from tests.component.reload.conftest import MESH_ONLY, start_reload_rig

SCOPES = MESH_ONLY + "scopes:\n  - name: team\n    selectors: [tier=nothing]\n"
SCOPE_GETS_BATCH = MESH_ONLY + "scopes:\n  - name: team\n    selectors: [tier=batch]\n"
SCOPE_RENAMED = MESH_ONLY + "scopes:\n  - name: other\n    selectors: [tier=batch]\n"


async def test_scope_selectors_reload_live_and_flip_only_that_scope(tmp_path: Path) -> None:
    rr = await start_reload_rig(tmp_path, text=SCOPES)
    rig = rr.rig
    try:
        team = rig.proxy.scopes["team"]
        assert team.enrollment.enrolled() == {"istio-system"}
        rv = rig.sim.store.resource_version
        q = f"/api/v1/pods?watch=1&resourceVersion={rv}"
        async with aiohttp.ClientSession() as s:
            scoped, t1 = await open_watch(s, f"{rig.url}/scopes/team{q}", JSON)
            default, t2 = await open_watch(s, rig.url + q, JSON)
            rig.pod("x1", "batch")  # both streams drop it
            await rig.until(lambda: all(st.dropped_ns for st in rig.proxy.registry.streams()))

            rr.write(SCOPE_GETS_BATCH)
            result = await rr.reloader.reload("test")
            assert result.ok and result.added == () and result.removed == ()
            assert result.streams_ended == 1 and result.stamp > int(rv)
            await scoped.until(lambda ev: scoped.done)
            assert scoped.error_code() == 410
            rig.pod("p1", "mesh-a")
            await default.until(lambda ev: ("ADDED", "mesh-a", "p1") in default.objects())
            assert default.error_code() is None
            for t in (t1, t2):
                t.cancel()
            await asyncio.gather(t1, t2, return_exceptions=True)
        assert team.enrollment.enrolled() == {"istio-system", "batch"}
        assert team.stale_resume(rv)

        rr.write(SCOPE_RENAMED)
        result = await rr.reloader.reload("test")
        assert result.ok and "scopes" in result.ignored
        assert set(rig.proxy.scopes) == {"team"}
    finally:
        await rr.reloader.stop()
        await stop_rig(rig)
