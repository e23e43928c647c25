"""A watch client that stops reading is cut off; other streams are unaffected (contract 6)."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from discofilter.config import Config, with_overrides
from tests.component.proxy.conftest import MESH, start_rig, stop_rig

pytestmark = pytest.mark.timeout(60)


async def test_stuck_client_is_cut_off_and_others_continue() -> None:
    cfg = with_overrides(
        Config(),
        enrollment={"selectors": ("istio-injection=enabled",)},
        streams={"client_buffer_bytes": 64 * 1024, "slow_client_seconds": 0.3},
    )
    rig = await start_rig(cfg)
    try:
        rig.ns("mesh-a", MESH)
        await rig.until(lambda: rig.proxy.enrollment.is_enrolled("mesh-a"))
        rv = rig.sim.store.resource_version
        host, port = rig.url[7:].split(":")
        # The stuck client: sends the request and never reads a byte.
        _reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(
            f"GET /api/v1/pods?watch=1&resourceVersion={rv} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
        )
        await writer.drain()
        async with aiohttp.ClientSession() as s:
            healthy = await s.get(f"{rig.url}/api/v1/pods?watch=1&resourceVersion={rv}")
            await rig.until(lambda: len(rig.proxy.registry) == 2)
            got = 0
            for i in range(600):  # ~10 MB: more than any loopback socket buffer holds
                rig.pod(f"p{i}", "mesh-a", pad=16_000)
                if i % 50 == 0:
                    await asyncio.sleep(0.01)
            async with asyncio.timeout(30):
                while got < 600:
                    line = await healthy.content.readline()
                    got += line.count(b'"ADDED"')
            await rig.until(lambda: len(rig.proxy.registry) == 1, within=10)
            assert rig.proxy.kind_totals["pods"].get("slow_client_closures") == 1
            healthy.close()
        writer.close()
    finally:
        await stop_rig(rig)


async def test_client_that_went_away_is_noticed_on_a_quiet_stream(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from discofilter.server.streams import pump as watch_stream

    monkeypatch.setattr(watch_stream, "IDLE_CHECK_SECONDS", 0.05)
    rig = await start_rig()
    try:
        rig.ns("mesh-a", MESH)
        await rig.proxy.namespaces.ready.wait()
        host, port = rig.url[7:].split(":")
        _reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"GET /api/v1/pods?watch=1 HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        await rig.until(lambda: len(rig.proxy.registry) == 1)
        writer.close()
        await rig.until(lambda: len(rig.proxy.registry) == 0, within=5)
    finally:
        await stop_rig(rig)
