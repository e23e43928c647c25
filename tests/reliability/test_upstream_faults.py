"""Upstream faults: resets and truncation mid-frame, 5xx/429, restarts, connect/DNS failures, leaks.

What a client must see (docs/reliability.md has the table):

* reset mid-stream → the events completed before the reset, then a clean end of the response
  (client-go rewatches from its last resourceVersion on EOF);
* a stream that ends cleanly in the middle of a frame → a ``500`` ERROR event, then the end;
* ``429``/``5xx`` → passed through as they came, ``Retry-After`` included (client-go's rest
  client honours it and retries); never turned into a relist;
* an unreachable upstream → ``503`` Status with ``Retry-After: 1``, readiness false, no hang.
"""

from __future__ import annotations

import asyncio
import logging
import socket

import aiohttp
import orjson
import pytest
from aiohttp import web

from discofilter.codec import decoder_for
from discofilter.config import Config, with_overrides
from discofilter.model import ERROR
from tests.component.proxy.conftest import MESH as SIM_MESH
from tests.component.proxy.conftest import start_rig, stop_rig
from tests.reliability.conftest import SHARED
from tests.reliability.fakes import (
    JSON,
    PROTOBUF,
    FakeUpstream,
    frame,
    open_fds,
    pod,
    start_proxy,
    stop_proxy,
    task_count,
    until,
    watch_ctype,
)

pytestmark = pytest.mark.timeout(60)
CTYPES = [pytest.param(JSON, id="json"), pytest.param(PROTOBUF, id="protobuf")]


async def _read_all(resp: aiohttp.ClientResponse) -> tuple[list[tuple[str, str, str]], bool]:
    """(type, namespace, name) of every event, and whether the response ended cleanly."""
    dec = decoder_for(resp.headers["Content-Type"])
    out = []
    clean = True
    try:
        async for chunk in resp.content.iter_any():
            out += [(e.type, e.namespace, e.name) for e in dec.feed(chunk)]
        dec.flush()
    except aiohttp.ClientPayloadError:
        clean = False
    return out, clean


def _broken_watch(ctype: str, mode: str) -> FakeUpstream:
    """A pods watch that sends two events and half a third, then resets or ends cleanly."""

    async def script(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": watch_ctype(ctype)})
        await resp.prepare(request)
        third = frame(ctype, "ADDED", pod("c", "mesh-a", 13))
        await resp.write(
            frame(ctype, "ADDED", pod("a", "mesh-a", 11))
            + frame(ctype, "ADDED", pod("b", "batch", 12))
            + third[: len(third) // 2]
        )
        if mode == "reset":
            assert request.transport is not None
            request.transport.abort()  # RST mid-frame, no chunked terminator
            return resp
        await resp.write_eof()  # a clean end of a stream cut in the middle of a frame
        return resp

    return FakeUpstream(script)


@pytest.mark.parametrize("ctype", CTYPES)
async def test_reset_mid_frame_ends_client_stream_cleanly(
    ctype: str, caplog: pytest.LogCaptureFixture
) -> None:
    up = _broken_watch(ctype, "reset")
    url = await up.start()
    proxy, runner, purl = await start_proxy(url)
    caplog.set_level(logging.INFO, logger="discofilter")
    try:
        await proxy.namespaces.ready.wait()
        async with aiohttp.ClientSession() as s:
            resp = await s.get(f"{purl}/api/v1/pods?watch=1", headers={"Accept": ctype})
            assert resp.status == 200
            events, clean = await asyncio.wait_for(_read_all(resp), 10)
        # Only the enrolled, complete event; no ERROR; a clean EOF the reflector rewatches after.
        assert events == [("ADDED", "mesh-a", "a")]
        assert clean
        closed = [r for r in caplog.records if r.getMessage() == "upstream watch closed"]
        assert [r.__dict__["reason"] for r in closed] == ["upstream broke: ClientPayloadError"]
        await until(lambda: len(proxy.registry) == 0)
    finally:
        await stop_proxy(proxy, runner)
        await up.stop()


@pytest.mark.parametrize("ctype", CTYPES)
async def test_truncated_frame_at_clean_eof_gives_500_error_event(ctype: str) -> None:
    up = _broken_watch(ctype, "truncate")
    url = await up.start()
    proxy, runner, purl = await start_proxy(url)
    try:
        await proxy.namespaces.ready.wait()
        async with aiohttp.ClientSession() as s:
            resp = await s.get(f"{purl}/api/v1/pods?watch=1", headers={"Accept": ctype})
            body = await asyncio.wait_for(resp.read(), 10)
        dec = decoder_for(resp.headers["Content-Type"])
        events = dec.feed(body)
        assert [(e.type, e.name) for e in events] == [("ADDED", "a"), (ERROR, "")]
        if ctype == JSON:
            status = orjson.loads(events[1].raw)["object"]
            assert status["kind"] == "Status" and status["code"] == 500
            assert "decode" in status["message"]
    finally:
        await stop_proxy(proxy, runner)
        await up.stop()


_STATUS_429 = (
    b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
    b'"message":"too many requests, please try again later","reason":"TooManyRequests",'
    b'"details":{"retryAfterSeconds":3},"code":429}'
)


@pytest.mark.parametrize("code", [429, 500, 503, 504])
@pytest.mark.parametrize(
    "target",
    ["/api/v1/pods?watch=1", "/api/v1/pods", "/api/v1/namespaces/batch/pods"],
    ids=["watch", "list", "passthrough"],
)
async def test_429_and_5xx_pass_through_with_retry_after(code: int, target: str) -> None:
    body = _STATUS_429.replace(b"429", str(code).encode())

    async def script(request: web.Request) -> web.StreamResponse:
        return web.Response(status=code, body=body, content_type=JSON, headers={"Retry-After": "3"})

    up = FakeUpstream(script)
    url = await up.start()
    proxy, runner, purl = await start_proxy(url)
    try:
        await proxy.namespaces.ready.wait()
        async with aiohttp.ClientSession() as s, s.get(purl + target) as r:
            assert r.status == code
            assert r.headers["Retry-After"] == "3"  # client-go's rest client waits and retries
            assert await r.read() == body
        assert len(proxy.registry) == 0  # no stream opened, nothing relisted
    finally:
        await stop_proxy(proxy, runner)
        await up.stop()


@pytest.mark.parametrize("ctype", CTYPES)
async def test_upstream_restart_keeps_resource_version_continuity(ctype: str, sharing: str) -> None:
    """Events committed while the upstream was down arrive on the client's resumed watch; with
    shared watches the client's stream does not even end: the cache's reflector resumes."""
    shared = sharing == SHARED
    rig = await start_rig()
    try:
        rig.ns("mesh-a", SIM_MESH)
        rig.ns("batch")
        await rig.until(lambda: rig.proxy.enrollment.is_enrolled("mesh-a"))
        async with aiohttp.ClientSession() as s:
            if shared:
                # Start the key first: a cache's window begins at its first LIST (a watch from
                # before it is 410, as from kube-apiserver's freshly started cacher).
                async with s.get(f"{rig.url}/api/v1/pods", headers={"Accept": ctype}) as r0:
                    assert r0.status == 200
            rig.pod("before", "mesh-a")
            start_rv = rig.sim.store.resource_version - 1
            port = int(rig.sim.url.rsplit(":", 1)[1])
            url = f"{rig.url}/api/v1/pods?watch=1&resourceVersion={start_rv}"
            r1 = await s.get(url, headers={"Accept": ctype})
            dec = decoder_for(r1.headers["Content-Type"])
            seen = dec.feed(await r1.content.readany())
            assert [e.name for e in seen] == ["before"]
            last_rv = seen[-1].resource_version
            await rig.sim.stop()
            if not shared:
                assert await asyncio.wait_for(r1.read(), 10) == b""  # clean EOF, nothing more
            for i in range(3):  # committed while the upstream's HTTP side is down
                rig.pod(f"down-{i}", "mesh-a")
                rig.pod(f"other-{i}", "batch")
            await rig.sim.start("127.0.0.1", port)  # same store, same resourceVersions
            rig.pod("after", "mesh-a")
            if shared:
                r2 = r1
            else:
                url = f"{rig.url}/api/v1/pods?watch=1&resourceVersion={last_rv}"
                r2 = await s.get(url, headers={"Accept": ctype})
                assert r2.status == 200, await r2.text()
                dec = decoder_for(r2.headers["Content-Type"])
            got: list = []
            async with asyncio.timeout(15):
                while len([e for e in got if e.type != "BOOKMARK"]) < 4:
                    got += dec.feed(await r2.content.readany())
            r2.close()
        objs = [e for e in got if e.type != "BOOKMARK"]
        assert [e.name for e in objs] == ["down-0", "down-1", "down-2", "after"]
        rvs = [int(e.resource_version) for e in objs]
        assert rvs == sorted(rvs) and rvs[0] > int(last_rv)
    finally:
        await stop_rig(rig)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    ("upstream", "needle"),
    [
        (f"http://127.0.0.1:{_closed_port()}", "Cannot connect"),
        ("http://no-such-host.invalid:6443", "no-such-host.invalid"),
    ],
    ids=["connect-refused", "dns"],
)
async def test_unreachable_upstream_at_startup(upstream: str, needle: str) -> None:
    cfg = with_overrides(
        Config(),
        enrollment={"selectors": ("istio-injection=enabled",)},
        server={"not_ready_wait_seconds": 0.1},
    )
    proxy, runner, purl = await start_proxy(upstream, cfg)
    try:
        await until(lambda: proxy.namespaces.last_error is not None)
        assert needle in (proxy.namespaces.last_error or "")  # a clear error, naming the cause
        assert not proxy.ready
        async with aiohttp.ClientSession() as s:
            for target in ("/api/v1/pods", "/api/v1/pods?watch=1"):
                async with s.get(purl + target) as r:
                    assert r.status == 503 and r.headers["Retry-After"] == "1"
                    doc = await r.json()
                    assert doc["kind"] == "Status" and "not synced" in doc["message"]
            async with s.get(purl + "/api/v1/namespaces/x/pods") as r:
                assert r.status == 503 and r.headers["Retry-After"] == "1"
                doc = await r.json()
                assert doc["kind"] == "Status" and needle in doc["message"]
    finally:
        async with asyncio.timeout(5):  # nothing wedged: stop returns promptly
            await stop_proxy(proxy, runner)


async def test_no_task_or_fd_leak_across_faults(monkeypatch: pytest.MonkeyPatch) -> None:
    """Resets, truncations, 503s and client aborts: tasks and fds return to their baseline."""
    from discofilter.server.streams import pump as watch_stream

    # A client that leaves a quiet stream is noticed at the next idle check (15 s in production).
    monkeypatch.setattr(watch_stream, "IDLE_CHECK_SECONDS", 0.05)
    calls = 0

    async def script(request: web.Request) -> web.StreamResponse:
        nonlocal calls
        calls += 1
        mode = calls % 4
        if mode == 0:
            return web.Response(status=503, headers={"Retry-After": "1"})
        resp = web.StreamResponse(headers={"Content-Type": JSON})
        await resp.prepare(request)
        await resp.write(frame(JSON, "ADDED", pod(f"p{calls}", "mesh-a", 20 + calls)) + b'{"ty')
        if mode == 1:
            assert request.transport is not None
            request.transport.abort()
        elif mode == 2:
            await resp.write_eof()
        else:
            await asyncio.sleep(30)  # the client gives up first
        return resp

    up = FakeUpstream(script)
    url = await up.start()
    proxy, runner, purl = await start_proxy(url)
    try:
        await proxy.namespaces.ready.wait()

        async def round_(s: aiohttp.ClientSession, n: int) -> None:
            for _ in range(n):
                r = await s.get(f"{purl}/api/v1/pods?watch=1")
                if r.status == 200:
                    async with asyncio.timeout(5):
                        await r.content.readline()
                r.close()
            await until(lambda: len(proxy.registry) == 0)

        async with aiohttp.ClientSession() as s:
            await round_(s, 8)  # warm up pools and lazily created state
            await asyncio.sleep(0.1)  # let closed transports finish (not an event wait)
            tasks, fds = task_count(), open_fds()
            await round_(s, 40)
            # Slack: the idle keep-alive connections (client→proxy, proxy→upstream) of the last
            # round, each a server task and two fds in this process; nothing grows with the 40.
            await until(lambda: task_count() <= tasks + 2, within=5)
            await asyncio.sleep(0.1)
            assert open_fds() <= fds + 4
    finally:
        await stop_proxy(proxy, runner)
        await up.stop()
