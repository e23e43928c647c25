"""Fixtures for churn control in the proxy: the emulator, an in-process proxy with a coalescing
policy, and its admin HTTP app (``/metrics``) on ephemeral ports.

Unlike ``tests/component/proxy``'s rig this one wires ``Metrics`` exactly as ``serve`` does
(``ProxyServer(metrics=...)`` + ``make_admin_app``), because the metrics are what is under test.
Every listener binds port 0: several engineers run tests on one machine.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from discofilter.admin.http import make_admin_app
from discofilter.config import Config, with_overrides
from discofilter.metrics import Metrics
from discofilter.server.admin_state import ProxyAdminState
from discofilter.server.proxy import ProxyServer
from discofilter.sim.server import Simulator
from discofilter.upstream.client import Upstream
from discofilter.upstream.target import UpstreamTarget

MESH = {"istio-injection": "enabled"}

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def pod(name: str, namespace: str, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
    }


@dataclass
class ChurnRig:
    sim: Simulator
    proxy: ProxyServer
    metrics: Metrics
    url: str
    admin_url: str
    runners: list[web.AppRunner]

    def ns(self, name: str, labels: dict[str, str] | None = None) -> None:
        self.sim.store.create(
            "namespaces",
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name,
                                                                   "labels": labels or {}}},
        )  # fmt: skip

    def pod(self, name: str, namespace: str, **labels: str) -> dict[str, Any]:
        return self.sim.store.create("pods", pod(name, namespace, **labels), namespace)

    async def scrape(self) -> Samples:
        """``/metrics`` parsed by prometheus-client's own text parser: (name, labels) → value."""
        async with aiohttp.ClientSession() as s, s.get(self.admin_url + "/metrics") as r:
            assert r.status == 200
            text = await r.text()
        out: Samples = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
        return out

    async def until(self, cond: Callable[[], bool], within: float = 5.0) -> None:
        """Wait (bounded) for state owned by the emulator/proxy, which offer no event to await."""
        async with asyncio.timeout(within):
            while not cond():  # noqa: ASYNC110 - no event exists for these conditions
                await asyncio.sleep(0.01)


def kind_labels(kind: str, **extra: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted({"kind": kind, **extra}.items()))


async def start_churn_rig(
    churn_control: dict[str, Any] | None, *, bookmark_interval: float = 60.0
) -> ChurnRig:
    sim = Simulator(bookmark_interval=bookmark_interval)
    await sim.start()
    config = with_overrides(
        Config(churn_control=churn_control),
        enrollment={"selectors": ("istio-injection=enabled",)},
        upstream={"url": sim.url},
    )
    metrics = Metrics()
    proxy = ProxyServer(config, Upstream(UpstreamTarget(sim.url)), metrics=metrics)
    await proxy.start_background()
    runners = []
    urls = []
    for app in (proxy.make_app(), make_admin_app(ProxyAdminState(proxy), metrics)):
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        host, port = runner.addresses[0][:2]
        runners.append(runner)
        urls.append(f"http://{host}:{port}")
    return ChurnRig(sim, proxy, metrics, urls[0], urls[1], runners)


async def stop_churn_rig(rig: ChurnRig) -> None:
    await rig.proxy.stop()
    for r in rig.runners:
        await r.cleanup()
    await rig.sim.stop()


# A window long enough that nothing is released by the timer while a test looks at held events.
HOLD_LONG = {"rules": [{"resource": "pods", "windowSeconds": 30.0, "maxHoldSeconds": 60.0}]}


@pytest.fixture
async def holding_rig() -> AsyncIterator[ChurnRig]:
    rig = await start_churn_rig(HOLD_LONG)
    rig.ns("istio-system")
    rig.ns("mesh-a", MESH)
    rig.ns("batch")
    await rig.proxy.namespaces.ready.wait()
    yield rig
    await stop_churn_rig(rig)
