"""Not-enrolled namespaces left out upstream (``filter/exclusion.py``): the API server (the
emulator here, which evaluates field selectors as kube-apiserver does) never sends their events,
the client gets the same events as before, an excluded namespace that joins ends the stream with
410, and an upstream that refuses the selector gets the watch as the client sent it."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from discofilter.config import Config, with_overrides
from discofilter.metrics import Metrics
from tests.component.proxy.conftest import (
    CONTENT_TYPES,
    MESH,
    Rig,
    start_populated_rig,
    stop_rig,
)
from tests.component.proxy.helpers import WatchReader, open_watch

pytestmark = [pytest.mark.parametrize("ctype", CONTENT_TYPES), pytest.mark.timeout(30)]

EXCLUDED = "metadata.namespace%21%3D"


def _record_paths(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    paths: list[str] = []
    upstream = rig.proxy.upstream
    forward = upstream.request

    async def request(method: str, path: str, *args: Any, **kw: Any) -> Any:
        paths.append(path)
        return await forward(method, path, *args, **kw)

    monkeypatch.setattr(upstream, "request", request)
    return paths


async def test_not_enrolled_events_never_reach_the_proxy(
    rig: Rig, ctype: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = _record_paths(rig, monkeypatch)
    rig.proxy.metrics = metrics = Metrics()
    async with aiohttp.ClientSession() as s:
        pods, t = await open_watch(s, f"{rig.url}/api/v1/pods?watch=1", ctype)
        await rig.until(lambda: len(rig.proxy.registry) == 1)
        for i in range(5):
            rig.pod(f"b{i}", "batch")
        rig.pod("a0", "mesh-a")
        await pods.until(lambda ev: ("ADDED", "mesh-a", "a0") in pods.objects())
        stream = rig.proxy.registry.streams()[0]
        # Only mesh-a's pod crossed the wire: batch was left out by the upstream itself.
        assert stream.events_in == 1 and stream.dropped == 0
        assert "batch" in stream.dropped_ns  # so its joining ends the stream (contract 3)
        gauge = "discofilter_upstream_excluded_namespaces"
        assert metrics.registry.get_sample_value(gauge) == stream.excluded_upstream == 1
        t.cancel()
    watch = [p for p in paths if "watch=1" in p and "/pods" in p]
    assert len(watch) == 1 and f"{EXCLUDED}batch" in watch[0]
    assert "mesh-a" not in watch[0].partition("fieldSelector=")[2]
    assert pods.objects() == [("ADDED", "mesh-a", "a0")]


async def test_an_excluded_namespace_that_joins_ends_even_a_full_state_stream(
    rig: Rig, ctype: str
) -> None:
    # A watch from "" carries the whole state itself; the upstream left batch's pods out of it,
    # so when batch joins, the client lacks them: the stream must end for a relist.
    rig.pod("b0", "batch")
    async with aiohttp.ClientSession() as s:
        pods, t = await open_watch(s, f"{rig.url}/api/v1/pods?watch=1", ctype)
        await rig.until(lambda: len(rig.proxy.registry) == 1)
        rig.sim.store.set_namespace_labels("batch", MESH)
        await pods.until(lambda ev: pods.error_code() is not None)
        assert pods.error_code() in (410, -1)
        assert ("ADDED", "batch", "b0") not in pods.objects()
        async with s.get(f"{rig.url}/api/v1/pods") as r:
            names = {i["metadata"]["name"] for i in (await r.json())["items"]}
        assert "b0" in names
        t.cancel()


async def test_an_upstream_that_refuses_the_selector_gets_the_clients_watch(
    rig: Rig, ctype: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    upstream = rig.proxy.upstream
    forward = upstream.request
    sent: list[str] = []

    async def request(method: str, path: str, *args: Any, **kw: Any) -> Any:
        sent.append(path)
        if EXCLUDED in path:  # as an aggregated API without the field would: 400
            path = path.replace("fieldSelector=", "fieldSelector=%21%21")
        return await forward(method, path, *args, **kw)

    monkeypatch.setattr(upstream, "request", request)
    async with aiohttp.ClientSession() as s:
        for _ in range(2):
            pods, t = await open_watch(s, f"{rig.url}/api/v1/pods?watch=1", ctype)
            rig.pod(f"a{len(sent)}", "mesh-a")
            await pods.until(lambda ev: any(o[1] == "mesh-a" for o in pods.objects()))  # noqa: B023
            t.cancel()
    watches = [p for p in sent if "watch=1" in p]
    # First watch: refused, then retried as sent; the second is not asked again.
    assert [EXCLUDED in p for p in watches] == [True, False, False]
    assert rig.proxy.exclusions.refused == {"pods"}


async def test_a_400_for_the_clients_own_selector_keeps_the_exclusions(
    rig: Rig, ctype: str
) -> None:
    async with aiohttp.ClientSession() as s:
        url = f"{rig.url}/api/v1/pods?watch=1&fieldSelector=spec.bogus%3Dx"
        async with s.get(url, headers={"Accept": ctype}) as r:
            assert r.status == 400  # the API server's answer to the client's selector
    assert rig.proxy.exclusions.refused == set()


async def test_zero_turns_the_exclusions_off(ctype: str, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = with_overrides(
        Config(),
        enrollment={"selectors": ("istio-injection=enabled",)},
        streams={"upstream_excluded_namespaces": 0},
    )
    rig = await start_populated_rig(cfg)
    try:
        paths = _record_paths(rig, monkeypatch)
        async with aiohttp.ClientSession() as s:
            resp = await s.get(
                f"{rig.url}/api/v1/pods?watch=1&timeoutSeconds=1", headers={"Accept": ctype}
            )
            rig.pod("b0", "batch")
            reader = WatchReader(resp)
            await asyncio.wait_for(reader.run(), 10)
        assert all(EXCLUDED not in p for p in paths)
        assert reader.objects() == []
    finally:
        await stop_rig(rig)


@pytest.mark.parametrize("status", [414, 431])
async def test_a_front_that_limits_urls_gets_the_clients_watch(
    rig: Rig, ctype: str, monkeypatch: pytest.MonkeyPatch, status: int
) -> None:
    # A load balancer in front of the API server may refuse a long URL before the server
    # sees it: the watch is retried as the client sent it.
    upstream = rig.proxy.upstream
    forward = upstream.request

    class Refused:
        def __init__(self) -> None:
            self.status, self.released = status, False

        def release(self) -> None:
            self.released = True

    answers: list[Any] = []

    async def request(method: str, path: str, *args: Any, **kw: Any) -> Any:
        if EXCLUDED in path:
            answers.append(Refused())
            return answers[-1]
        return await forward(method, path, *args, **kw)

    monkeypatch.setattr(upstream, "request", request)
    async with aiohttp.ClientSession() as s:
        pods, t = await open_watch(s, f"{rig.url}/api/v1/pods?watch=1", ctype)
        rig.pod("a0", "mesh-a")
        await pods.until(lambda ev: ("ADDED", "mesh-a", "a0") in pods.objects())
        t.cancel()
    assert len(answers) == 1 and answers[0].released
    assert rig.proxy.exclusions.refused == {"pods"}
