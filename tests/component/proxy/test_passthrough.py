"""Pass-through, hostile targets, upgrades, readiness and credentials."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from aiohttp import web
from multidict import CIMultiDictProxy

from discofilter.config import Config, with_overrides
from discofilter.server.proxy import ProxyServer
from discofilter.sim.server import Simulator
from discofilter.upstream.client import Upstream
from discofilter.upstream.target import OwnCredentials, UpstreamTarget
from tests.component.proxy.conftest import Rig, start_rig, stop_rig

pytestmark = pytest.mark.timeout(30)


async def test_single_object_and_namespaced_reads_are_byte_identical(rig: Rig) -> None:
    rig.pod("x", "batch")
    async with aiohttp.ClientSession() as s:
        for path in ("/api/v1/namespaces/batch/pods/x", "/api/v1/namespaces/batch/pods",
                     "/api/v1/namespaces", "/api/v1", "/apis", "/version"):  # fmt: skip
            async with s.get(rig.url + path) as r1, s.get(rig.sim.url + path) as r2:
                assert r1.status == r2.status, path
                b1, b2 = await r1.read(), await r2.read()
                if path != "/api/v1/namespaces/batch/pods":
                    assert b1 == b2, path


async def test_writes_pass_through(rig: Rig) -> None:
    body = b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"k":"v"}}'
    async with aiohttp.ClientSession() as s, s.post(
        rig.url + "/api/v1/namespaces/batch/configmaps",
        data=body, headers={"Content-Type": "application/json"},
    ) as r:  # fmt: skip
        assert r.status == 201
    assert rig.sim.store.get("configmaps", "c", "batch")["data"] == {"k": "v"}


@pytest.mark.parametrize(
    ("target", "code"),
    [("/api/v1/%2e%2e/pods", 400), ("/api//v1/pods", 400), ("/api/v1/namespaces%2Fx", 400)],
)
async def test_odd_targets_rejected_with_status(rig: Rig, target: str, code: int) -> None:
    reader, writer = await asyncio.open_connection(*rig.url[7:].split(":"))
    writer.write(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    data = await reader.read()
    writer.close()
    assert data.startswith(f"HTTP/1.1 {code}".encode()), data[:100]
    assert b'"kind":"Status"' in data


async def test_absolute_url_and_connect_rejected(rig: Rig) -> None:
    host, port = rig.url[7:].split(":")
    for line in (
        "GET http://evil.example/api/v1/pods HTTP/1.1",
        "CONNECT evil.example:443 HTTP/1.1",
    ):
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(f"{line}\r\nHost: evil.example\r\nConnection: close\r\n\r\n".encode())
        data = await reader.read()
        writer.close()
        assert data.split(b" ")[1] in (b"400", b"405"), data[:120]


async def test_exec_gets_501_status(rig: Rig) -> None:
    async with (
        aiohttp.ClientSession() as s,
        s.post(rig.url + "/api/v1/namespaces/d/pods/p/exec?command=sh") as r,
    ):
        assert r.status == 501
        doc = await r.json()
        assert doc["kind"] == "Status" and doc["reason"] == "NotImplemented"


async def test_headers_forwarded_hop_by_hop_dropped() -> None:
    seen: list[aiohttp.typedefs.LooseHeaders] = []

    async def echo(request: web.Request) -> web.Response:
        seen.append(request.headers.copy())
        return web.Response(body=b"{}", content_type="application/json")

    app = web.Application()
    app.router.add_route("*", "/{t:.*}", echo)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    up = f"http://127.0.0.1:{runner.addresses[0][1]}"
    rig = await start_rig(with_overrides(Config(), enrollment={"selectors": ("a=b",)}),
                          sim=Simulator())  # fmt: skip
    rig.proxy.upstream.base = rig.proxy.upstream.base.with_port(runner.addresses[0][1])
    try:
        async with aiohttp.ClientSession() as s, s.get(
            rig.url + "/api/v1/namespaces/x/pods",
            headers=[("Authorization", "Bearer caller"), ("Impersonate-Group", "g1"),
                     ("Impersonate-Group", "g2"), ("Connection", "keep-alive, X-Hop"),
                     ("X-Hop", "1"), ("Keep-Alive", "5"), ("X-Keep", "k")],
        ) as r:  # fmt: skip
            assert r.status == 200
        [h] = [x for x in seen if x.get("Authorization") == "Bearer caller"]
        assert h["Authorization"] == "Bearer caller"
        assert h.getall("Impersonate-Group") == ["g1", "g2"]
        assert "X-Hop" not in h and "Keep-Alive" not in h and h["X-Keep"] == "k"
        assert up.endswith(str(runner.addresses[0][1]))
    finally:
        await stop_rig(rig)
        await runner.cleanup()


async def test_not_ready_gives_503_with_retry_after() -> None:
    sim = Simulator()
    rig = await start_rig(
        with_overrides(Config(), server={"not_ready_wait_seconds": 0.05}), sim=sim
    )
    try:
        # Stop the namespace watch and forget its sync: the proxy is "starting" again.
        rig.proxy.background_task("namespace-watch").cancel()
        rig.proxy.namespaces.ready.clear()
        async with aiohttp.ClientSession() as s, s.get(rig.url + "/api/v1/pods") as r:
            assert r.status == 503
            assert r.headers["Retry-After"] == "1"
            assert (await r.json())["reason"] == "ServiceUnavailable"
            async with s.get(rig.url + "/api/v1/namespaces/x/pods") as r:
                assert r.status != 503  # pass-through never waits for enrollment
    finally:
        await stop_rig(rig)


async def _echo_upstream() -> tuple[web.AppRunner, list[tuple[str, CIMultiDictProxy[str]]]]:
    seen: list[tuple[str, CIMultiDictProxy[str]]] = []

    async def echo(request: web.Request) -> web.Response:
        seen.append((request.path, request.headers))
        if request.path == "/api/v1/namespaces" and "watch" not in request.query:
            body = b'{"kind":"NamespaceList","metadata":{"resourceVersion":"1"},"items":[]}'
            return web.Response(body=body, content_type="application/json")
        if "watch" in request.query:
            await asyncio.sleep(30)
        return web.Response(body=b"{}", content_type="application/json")

    app = web.Application()
    app.router.add_route("*", "/{t:.*}", echo)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, seen


@pytest.mark.parametrize("sidecar", [False, True])
async def test_proxy_identity_only_in_sidecar_mode(sidecar: bool) -> None:
    runner, seen = await _echo_upstream()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    cfg = with_overrides(Config(), server={"sidecar": sidecar}, upstream={"url": url})
    proxy = ProxyServer(cfg, Upstream(UpstreamTarget(url, own=OwnCredentials(token="proxy-sa"))))
    await proxy.start_background()
    prunner = web.AppRunner(proxy.make_app(), shutdown_timeout=0.1)
    await prunner.setup()
    await web.TCPSite(prunner, "127.0.0.1", 0).start()
    purl = f"http://127.0.0.1:{prunner.addresses[0][1]}"
    try:
        async with aiohttp.ClientSession() as s:
            for hdrs in ({}, {"Authorization": "Bearer caller"}):
                h = {**hdrs, "Impersonate-User": "someone"}
                async with s.get(purl + "/api/v1/namespaces/x/configmaps", headers=h) as r:
                    assert r.status == 200
        anon, caller = [h for p, h in seen if p.endswith("/configmaps")]
        assert caller["Authorization"] == "Bearer caller"  # never replaced
        assert caller["Impersonate-User"] == "someone"  # the API server judges it
        if sidecar:
            assert anon["Authorization"] == "Bearer proxy-sa"
            assert "Impersonate-User" not in anon  # never impersonate with the proxy's rights
        else:
            assert "Authorization" not in anon  # anonymous stays anonymous
        # The proxy's own namespace LIST carried its own identity in both modes.
        own = [h for p, h in seen if p == "/api/v1/namespaces"]
        assert own and all(h.get("Authorization") == "Bearer proxy-sa" for h in own)
    finally:
        await proxy.stop()
        await prunner.cleanup()
        await runner.cleanup()


async def test_unknown_resource_waits_for_first_discovery() -> None:
    rig = await start_rig(with_overrides(Config(), server={"not_ready_wait_seconds": 0.1}))
    try:
        await rig.proxy.namespaces.ready.wait()
        rig.proxy.background_task("discovery").cancel()  # pretend it has not answered yet
        rig.proxy.discovery_attempted.clear()
        url = rig.url + "/apis/example.com/v1/widgets"
        async with aiohttp.ClientSession() as s:
            async with s.get(url) as r:
                assert r.status == 503  # fail closed: it might be a namespaced CRD
            rig.proxy.discovery_attempted.set()
            async with s.get(url) as r:
                assert r.status == 404  # now known not to be filtered: the upstream answers
    finally:
        await stop_rig(rig)
