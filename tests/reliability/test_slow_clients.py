"""Slow and stuck clients (contract 6): bounded buffers, cut-off with a metric and a log line,
other streams unaffected, and 200 concurrent watches without memory growth.

tests/component/proxy/test_slow_client.py already proves the cut-off itself against the emulator;
these add what an operator sees (metric, log line), the memory bound while a client is stuck, and
the many-watches case.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import logging
import sys
import tracemalloc
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from discofilter.config import Config, with_overrides
from discofilter.harness.processes import free_port as _free_port
from discofilter.metrics import Metrics
from tests.component.proxy.conftest import MESH as SIM_MESH
from tests.reliability.conftest import SHARED
from tests.reliability.fakes import JSON, FakeUpstream, frame, pod, start_proxy, stop_proxy, until

pytestmark = pytest.mark.timeout(90)

EVENTS = 1500
MIB = 1024 * 1024
PAD = 16_000  # ~16 KB per event: 1,500 events = ~24 MB, far more than any socket buffer holds


def _firehose(written: dict[int, int]) -> FakeUpstream:
    """Every pods watch streams EVENTS big mesh events as fast as the proxy takes them; a pods
    LIST (the shared cache's first load, a consistent read's probe) is empty at RV 1."""

    async def script(request: web.Request) -> web.StreamResponse:
        if "watch" not in request.query:
            meta = b'"metadata":{"resourceVersion":"1"}'
            body = b'{"kind":"PodList","apiVersion":"v1",' + meta + b',"items":[]}'
            return web.Response(body=body, content_type=JSON)
        key = id(request)
        written[key] = 0
        resp = web.StreamResponse(headers={"Content-Type": JSON})
        await resp.prepare(request)
        try:
            for i in range(EVENTS):
                data = frame(JSON, "ADDED", pod(f"p{i}", "mesh-a", 100 + i, pad=PAD))
                await resp.write(data)  # waits while the proxy does not read (backpressure)
                written[key] += len(data)
            await resp.write_eof()
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        return resp

    return FakeUpstream(script)


async def test_stuck_client_cut_off_with_metric_and_log_memory_bounded(
    caplog: pytest.LogCaptureFixture, sharing: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from discofilter.server.streams import pump as watch_stream

    # A cached stream outlives the upstream's; the healthy client's hang-up is noticed at the
    # idle check (15 s in production).
    monkeypatch.setattr(watch_stream, "IDLE_CHECK_SECONDS", 0.05)
    written: dict[int, int] = {}
    up = _firehose(written)
    url = await up.start()
    buffer = 256 * 1024
    cfg = with_overrides(
        Config(),
        enrollment={"selectors": ("istio-injection=enabled",)},
        streams={"client_buffer_bytes": buffer, "slow_client_seconds": 0.5},
    )
    shared_limits = {"window_bytes": 2 * MIB, "watcher_bytes": MIB}
    cfg = dataclasses.replace(
        cfg,
        churn_control={"enabled": False},
        shared_watches=dataclasses.replace(cfg.shared_watches, **shared_limits),
    )
    proxy, runner, purl = await start_proxy(url, cfg)
    proxy.metrics = Metrics()
    caplog.set_level(logging.INFO, logger="discofilter")
    host, port = purl[7:].split(":")
    shared = sharing == SHARED
    try:
        await proxy.namespaces.ready.wait()
        gc.collect()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        # The stuck client: sends its request and never reads a byte.
        _r, stuck = await asyncio.open_connection(host, int(port))
        stuck.write(b"GET /api/v1/pods?watch=1 HTTP/1.1\r\nHost: x\r\n\r\n")
        await stuck.drain()
        async with aiohttp.ClientSession() as s:
            healthy = await s.get(f"{purl}/api/v1/pods?watch=1")
            got = 0
            async with asyncio.timeout(60):
                while got < EVENTS:
                    line = await healthy.content.readline()
                    if not line:
                        break
                    got += line.startswith(b'{"type":"ADDED"')
            assert got == EVENTS  # the healthy stream got everything, unaffected
            if shared:
                # The upstream stream carries on for the cache; the stuck client's stream ends.
                await until(lambda: len(proxy.registry) == 1, within=10)
                healthy.close()
            await until(lambda: len(proxy.registry) == 0, within=10)
        peak = tracemalloc.get_traced_memory()[1] - base
        tracemalloc.stop()
        stuck.close()
        total = EVENTS * (PAD + 200)
        if shared:
            # Shared: one upstream stream feeds the cache, which holds every (enrolled) object
            # by design; the rest stays bounded: the window (2 MiB), the stuck client's cache
            # buffer (1 MiB) and its transport buffer, socket-sized reads, in-flight chunks.
            snap = proxy.shared.snapshot() if proxy.shared is not None else []
            store = sum(k.object_bytes for k in snap)
            assert 0 < store < 2 * total
            assert peak < store + 3 * MIB + 12 * MIB, (peak, store)
        else:
            stuck_written = min(written.values())
            # The stuck stream was cut off before the upstream could send it everything (the
            # proxy stops reading while the client's buffer is full; what did cross sits in
            # kernel socket buffers, up to ~6 MB each way on loopback), and this process's
            # memory stayed bounded: the buffer, socket-sized reads and the healthy stream's
            # in-flight chunks, not 24 MB.
            assert stuck_written < total, (stuck_written, total)
            assert peak < 12 * MIB, peak
        kinds = proxy.metrics.kind_counters()
        assert [k.slow_client_closures for k in kinds if k.kind == "pods"] == [1]
        closed = "cached watch closed" if shared else "upstream watch closed"
        reasons = [str(r.__dict__.get("reason")) for r in caplog.records
                   if r.getMessage() == closed]  # fmt: skip
        # Shared: the healthy client hung up (noticed at the idle check); direct: its upstream
        # ended.
        healthy_end = "client went away" if shared else "upstream closed"
        assert sorted(reasons) == sorted(["client too slow", healthy_end])
    finally:
        if tracemalloc.is_tracing():
            tracemalloc.stop()
        await stop_proxy(proxy, runner)
        await up.stop()


async def _sim_process() -> tuple[asyncio.subprocess.Process, str]:
    """The emulator in its own process, so tracemalloc here sees the proxy, not the upstream."""
    port = _free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "discofilter", "sim", "--listen", f"127.0.0.1:{port}",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as s, asyncio.timeout(20):
        while True:
            try:
                async with s.get(url + "/version") as r:
                    if r.status == 200:
                        return proc, url
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.05)  # the process is starting; nothing to await


async def _delete(s: aiohttp.ClientSession, url: str, path: str) -> None:
    async with s.delete(url + path) as r:
        assert r.status == 200, await r.text()


async def _create(s: aiohttp.ClientSession, url: str, path: str, obj: dict[str, Any]) -> None:
    async with s.post(url + path, json=obj) as r:
        assert r.status == 201, await r.text()


@pytest.mark.slow
async def test_200_concurrent_watches_without_memory_growth(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from discofilter.server.streams import pump as watch_stream

    # Departed clients on a quiet stream are noticed at the idle check (15 s in production).
    monkeypatch.setattr(watch_stream, "IDLE_CHECK_SECONDS", 0.05)
    proc, sim_url = await _sim_process()
    # Shared runs: a small window, so the cache's by-design memory (its window of recent
    # events, its store of objects) stops growing after the warm-up round; each round deletes
    # what it created, so the store returns to where it was.
    cfg = with_overrides(
        Config(),
        enrollment={"selectors": ("istio-injection=enabled",)},
        shared_watches={"window_events": 64},
    )
    proxy, runner, purl = await start_proxy(sim_url, cfg)
    n_watches, n_events = 200, 20
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as s:
            for ns, labels in (("mesh-a", SIM_MESH), ("batch", {})):
                meta = {"name": ns, "labels": labels}
                await _create(
                    s, sim_url, "/api/v1/namespaces", {"kind": "Namespace", "metadata": meta}
                )
            await until(lambda: proxy.enrollment.is_enrolled("mesh-a"))

            async def one_round(r: int) -> None:
                url = f"{purl}/api/v1/pods?watch=1&resourceVersion=0"
                resps = await asyncio.gather(*(s.get(url) for _ in range(n_watches)))
                await until(lambda: len(proxy.registry) == n_watches, within=20)
                for i in range(n_events):
                    for ns in ("mesh-a", "batch"):
                        await _create(s, sim_url, f"/api/v1/namespaces/{ns}/pods",
                                      pod_manifest(f"r{r}-{i}", ns))  # fmt: skip

                async def drain(resp: aiohttp.ClientResponse) -> int:
                    got = 0
                    while got < n_events:
                        got += (await resp.content.readline()).count(b'"ADDED"')
                    return got

                async with asyncio.timeout(30):
                    counts = await asyncio.gather(*(drain(x) for x in resps))
                assert counts == [n_events] * n_watches
                for x in resps:
                    x.close()
                await until(lambda: len(proxy.registry) == 0, within=20)
                for i in range(n_events):
                    for ns in ("mesh-a", "batch"):
                        await _delete(s, sim_url, f"/api/v1/namespaces/{ns}/pods/r{r}-{i}")

            await one_round(0)  # warm-up: pools, caches, lazily built state
            gc.collect()
            tracemalloc.start()
            for r in (1, 2, 3):
                await one_round(r)
            await asyncio.sleep(0.2)  # closed transports finish their callbacks (no event)
            gc.collect()
            grown = tracemalloc.get_traced_memory()[0]
            tracemalloc.stop()
        # 600 streams in 3 rounds, 12,000 events delivered: the proxy keeps nothing per stream
        # (kind totals are a few ints per kind), so what is left is noise, not O(streams);
        # shared, the cache's window is full since the warm-up and its store is back to empty.
        assert grown < 512 * 1024, grown
    finally:
        if tracemalloc.is_tracing():
            tracemalloc.stop()
        await stop_proxy(proxy, runner)
        proc.terminate()
        await proc.wait()


def pod_manifest(name: str, namespace: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}}  # fmt: skip
