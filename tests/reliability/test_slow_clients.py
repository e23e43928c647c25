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
import tracemalloc

import aiohttp
import pytest
from aiohttp import web

from discofilter.config import Config, with_overrides
from discofilter.metrics import Metrics
from tests.component.proxy.conftest import MESH as SIM_MESH
from tests.component.proxy.conftest import start_rig, stop_rig
from tests.reliability.fakes import JSON, FakeUpstream, frame, pod, start_proxy, stop_proxy, until

pytestmark = pytest.mark.timeout(90)

EVENTS = 1500
PAD = 16_000  # ~16 KB per event: 1,500 events = ~24 MB, far more than any socket buffer holds


def _firehose(written: dict[int, int]) -> FakeUpstream:
    """Every pods watch streams EVENTS big mesh events as fast as the proxy takes them."""

    async def script(request: web.Request) -> web.StreamResponse:
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
    caplog: pytest.LogCaptureFixture,
) -> None:
    written: dict[int, int] = {}
    up = _firehose(written)
    url = await up.start()
    buffer = 256 * 1024
    cfg = with_overrides(
        Config(),
        enrollment={"selectors": ("istio-injection=enabled",)},
        streams={"client_buffer_bytes": buffer, "slow_client_seconds": 0.5},
    )
    cfg = dataclasses.replace(cfg, churn_control={"enabled": False})
    proxy, runner, purl = await start_proxy(url, cfg)
    proxy.metrics = Metrics()
    caplog.set_level(logging.INFO, logger="discofilter")
    host, port = purl[7:].split(":")
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
                while True:
                    line = await healthy.content.readline()
                    if not line:
                        break
                    got += 1
            assert got == EVENTS  # the healthy stream got everything, unaffected
            await until(lambda: len(proxy.registry) == 0, within=10)
        peak = tracemalloc.get_traced_memory()[1] - base
        tracemalloc.stop()
        stuck.close()
        total = EVENTS * (PAD + 200)
        stuck_written = min(written.values())
        # The stuck stream was cut off long before the upstream could send it everything (the
        # proxy stops reading while the client's buffer is full), and memory stayed bounded:
        # the buffer, socket-sized reads and the healthy stream's in-flight chunks, not 24 MB.
        assert stuck_written < total / 2, (stuck_written, total)
        assert peak < 12 * 1024 * 1024, peak
        kinds = proxy.metrics.kind_counters()
        assert [k.slow_client_closures for k in kinds if k.kind == "pods"] == [1]
        reasons = [r.__dict__.get("reason") for r in caplog.records
                   if r.getMessage() == "upstream watch closed"]  # fmt: skip
        assert sorted(reasons) == ["client too slow", "upstream closed"]
    finally:
        if tracemalloc.is_tracing():
            tracemalloc.stop()
        await stop_proxy(proxy, runner)
        await up.stop()


async def test_200_concurrent_watches_without_memory_growth(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from discofilter.server import watch_stream

    # Departed clients on a quiet stream are noticed at the idle check (15 s in production).
    monkeypatch.setattr(watch_stream, "IDLE_CHECK_SECONDS", 0.05)
    rig = await start_rig()
    try:
        rig.ns("mesh-a", SIM_MESH)
        rig.ns("batch")
        await rig.until(lambda: rig.proxy.enrollment.is_enrolled("mesh-a"))
        n_watches, n_events = 200, 20

        async def one_round(s: aiohttp.ClientSession, r: int) -> None:
            rv = rig.sim.store.resource_version
            url = f"{rig.url}/api/v1/pods?watch=1&resourceVersion={rv}"
            resps = await asyncio.gather(*(s.get(url) for _ in range(n_watches)))
            await rig.until(lambda: len(rig.proxy.registry) == n_watches, within=20)
            for i in range(n_events):
                rig.pod(f"r{r}-{i}", "mesh-a")
                rig.pod(f"r{r}-{i}", "batch")

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
            await rig.until(lambda: len(rig.proxy.registry) == 0, within=20)

        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as s:
            await one_round(s, 0)  # warm-up: pools, caches, lazily built state
            gc.collect()
            tracemalloc.start()
            before = tracemalloc.get_traced_memory()[0]
            for r in (1, 2, 3):
                await one_round(s, r)
            gc.collect()
            after = tracemalloc.get_traced_memory()[0]
            snap = tracemalloc.take_snapshot()
            for st in snap.statistics("traceback")[:8]:
                print("DBG", st.size, st.count, "\n".join(st.traceback.format()[-8:]))
            tracemalloc.stop()
        # The emulator keeps every pod and its history (120 pods x ~1 KB, x2 with history);
        # the proxy must add nothing per closed stream: 600 streams in 3 rounds, < 1 MB growth.
        assert after - before < 1024 * 1024, after - before
    finally:
        if tracemalloc.is_tracing():
            tracemalloc.stop()
        await stop_rig(rig)
