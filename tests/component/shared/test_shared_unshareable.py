"""A key the cache cannot serve byte for byte stops being shared, and nobody hangs.

An upstream whose watch frames are not in Go's canonical form (here: JSON with spaces) cannot
be passed on exactly from the cache (``Framer.split`` refuses rebuilding them). The reflector
then stops; the cached streams it fed end cleanly (the clients rewatch), and the key's requests
take the direct path, which forwards the upstream's own bytes, for the next 60 s.
"""

from __future__ import annotations

import asyncio

import aiohttp
import orjson
import pytest
from aiohttp import web

from discofilter.config import Config, with_overrides
from tests.component.shared.fake_pods import common_answer
from tests.reliability.fakes import JSON, FakeUpstream, pod, start_proxy, stop_proxy

pytestmark = pytest.mark.timeout(60)


async def test_non_canonical_frames_stop_sharing_and_cached_streams_end() -> None:
    release = asyncio.Event()

    async def script(request: web.Request) -> web.StreamResponse:
        answer = common_answer(request, "10")
        if answer is not None:
            return answer
        resp = web.StreamResponse(headers={"Content-Type": JSON})
        await resp.prepare(request)
        await release.wait()
        line = orjson.dumps({"type": "ADDED", "object": pod("a", "mesh-a", 11)})
        await resp.write(line.replace(b'"type":"ADDED"', b'"type": "ADDED"') + b"\n")
        await resp.write_eof()
        return resp

    up = FakeUpstream(script)
    url = await up.start()
    cfg = with_overrides(
        Config(),
        enrollment={"selectors": ("istio-injection=enabled",)},
        shared_watches={"enabled": True},
    )
    proxy, runner, purl = await start_proxy(url, cfg)
    try:
        await proxy.namespaces.ready.wait()
        async with aiohttp.ClientSession() as s:
            cached = await s.get(f"{purl}/api/v1/pods?watch=1&resourceVersion=10")
            assert cached.status == 200
            release.set()
            # The cached stream ends (cleanly, no ERROR): its client would watch again.
            assert await asyncio.wait_for(cached.read(), 10) == b""
            assert proxy.shared is not None
            key = next(iter(proxy.shared._unshareable))
            assert not proxy.shared.may_share(key)
            # The next watch is direct: the upstream's own (non-canonical) bytes, filtered.
            async with s.get(f"{purl}/api/v1/pods?watch=1&resourceVersion=10") as r:
                body = await asyncio.wait_for(r.read(), 10)
            assert b'"type": "ADDED"' in body
    finally:
        await stop_proxy(proxy, runner)
        await up.stop()


async def test_a_crashed_reflector_sends_its_clients_direct_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A bug in a reflector (here: its LIST raises) must not leave clients waiting for a cache
    that will never be ready: the key is remembered as unshareable and served directly."""
    from discofilter.server.shared.reflector import KeyReflector
    from discofilter.sim.server import Simulator
    from tests.component.proxy.conftest import MESH, start_rig, stop_rig

    async def broken(self: KeyReflector) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(KeyReflector, "_list", broken)
    cfg = with_overrides(
        Config(),
        enrollment={"selectors": ("istio-injection=enabled",)},
        shared_watches={"enabled": True},
    )
    rig = await start_rig(cfg, sim=Simulator())
    try:
        rig.ns("mesh-a", MESH)
        rig.pod("a0", "mesh-a")
        await rig.proxy.namespaces.ready.wait()
        async with aiohttp.ClientSession() as s:
            async with asyncio.timeout(3):  # not server.notReadyWaitSeconds (5 s)
                async with s.get(f"{rig.url}/api/v1/pods") as r:
                    doc = orjson.loads(await r.read())
            assert r.status == 200 and [i["metadata"]["name"] for i in doc["items"]] == ["a0"]
        assert rig.proxy.shared is not None and rig.proxy.shared.snapshot() != []
        key = next(iter(rig.proxy.shared._unshareable))
        assert not rig.proxy.shared.may_share(key)
    finally:
        await stop_rig(rig)
