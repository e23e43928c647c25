"""The shared reflector under upstream faults: a truncated stream relists (clients get 410),
429/5xx on the watch retry with backoff from the cache's RV (no relist, clients unaffected).

The upstream is a scripted fake (tests/reliability/fakes.py) whose pods LIST is consistent and
whose pods WATCH misbehaves as each test says; every misbehaviour ends with a well-behaved
watch from then on, so the proxy's recovery is observable.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import aiohttp
import pytest
from aiohttp import web

from discofilter.clock import SystemClock
from discofilter.config import Config, with_overrides
from discofilter.server.proxy import ProxyServer
from tests.component.proxy.helpers import open_watch
from tests.component.shared.fake_pods import common_answer
from tests.reliability.fakes import JSON, FakeUpstream, frame, pod, start_proxy, stop_proxy, until

pytestmark = pytest.mark.timeout(60)

Watch = Callable[[web.Request, int], Awaitable[web.StreamResponse]]


class _FastClock(SystemClock):
    """Real time, but the reflector's backoff sleeps are short (the test needs no waiting)."""

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(min(seconds, 0.01))


def _upstream(watch: Watch, lists: list[int]) -> FakeUpstream:
    """``lists`` gets one entry per pods LIST; the LIST is at RV 10 first, at 20 after that (as
    a real API server's LIST is never behind what its watches sent)."""
    calls = 0

    async def script(request: web.Request) -> web.StreamResponse:
        nonlocal calls
        if not request.query.get("watch") and request.path == "/api/v1/pods":
            lists.append(1)
        answer = common_answer(request, "10" if len(lists) <= 1 else "20")
        if answer is not None:
            return answer
        calls += 1
        return await watch(request, calls)

    return FakeUpstream(script)


async def _stream(request: web.Request, lines: list[bytes], end: bool = True) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": JSON})
    await resp.prepare(request)
    for line in lines:
        await resp.write(line)
    if end:
        await resp.write_eof()
    else:
        await asyncio.sleep(30)
    return resp


async def _proxy(up: FakeUpstream) -> tuple[ProxyServer, web.AppRunner, str]:
    url = await up.start()
    cfg = with_overrides(
        Config(),
        enrollment={"selectors": ("istio-injection=enabled",)},
        shared_watches={"enabled": True},
    )
    return await start_proxy(url, cfg)


async def test_truncated_upstream_stream_relists_and_clients_get_410(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def watch(request: web.Request, n: int) -> web.StreamResponse:
        if n == 1:  # one event, then half a frame and a clean end: a truncated stream
            half = frame(JSON, "ADDED", pod("b", "mesh-a", 12))
            return await _stream(request, [frame(JSON, "ADDED", pod("a", "mesh-a", 11)),
                                           half[: len(half) // 2]])  # fmt: skip
        return await _stream(request, [], end=False)

    lists: list[int] = []
    up = _upstream(watch, lists)
    proxy, runner, purl = await _proxy(up)
    assert proxy.shared is not None
    proxy.shared._clock = _FastClock()
    try:
        await proxy.namespaces.ready.wait()
        async with aiohttp.ClientSession() as s:
            reader, t = await open_watch(s, f"{purl}/api/v1/pods?watch=1&resourceVersion=10", JSON)
            await reader.until(lambda _e: reader.done or reader.error_code() == 410, within=10)
            # "a" was delivered, then the stream ended with 410: never half of "b".
            assert [e.name for e in reader.events if e.type == "ADDED"] == ["a"]
            assert reader.error_code() == 410
            await until(lambda: len(lists) >= 2, within=10)  # the reflector relisted
            t.cancel()
    finally:
        await stop_proxy(proxy, runner)
        await up.stop()


@pytest.mark.parametrize("code", [429, 500, 503])
async def test_watch_429_and_5xx_retry_from_the_cache_rv_without_relist(code: int) -> None:
    seen_rvs: list[str] = []

    async def watch(request: web.Request, n: int) -> web.StreamResponse:
        seen_rvs.append(request.query.get("resourceVersion", ""))
        if n == 1:
            return await _stream(request, [frame(JSON, "ADDED", pod("a", "mesh-a", 11))])
        if n in (2, 3):
            return web.Response(status=code, headers={"Retry-After": "1"})
        return await _stream(request, [frame(JSON, "ADDED", pod("b", "mesh-a", 12))], end=False)

    lists: list[int] = []
    up = _upstream(watch, lists)
    proxy, runner, purl = await _proxy(up)
    try:
        await proxy.namespaces.ready.wait()
        async with aiohttp.ClientSession() as s:
            reader, t = await open_watch(s, f"{purl}/api/v1/pods?watch=1&resourceVersion=10", JSON)
            await reader.until(lambda evs: any(e.name == "b" for e in evs), within=15)
            assert [e.name for e in reader.events if e.type == "ADDED"] == ["a", "b"]
            assert reader.error_code() is None  # the client saw no fault at all
            t.cancel()
        assert lists == [1]  # one LIST: every retry resumed from the cache's RV
        assert seen_rvs == ["10", "11", "11", "11"]
    finally:
        await stop_proxy(proxy, runner)
        await up.stop()
