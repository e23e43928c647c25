"""Fixtures: the emulator as upstream and an in-process discofilter in front of it.

``Rig`` bundles both plus helpers to build cluster state. The proxy runs in the test's event
loop (aiohttp runner on an ephemeral port) so tests can reach its internals for assertions;
the real-binary path (``discofilter serve``) is exercised by test_serve_cli.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web

from discofilter.clock import Clock
from discofilter.config import Config, with_overrides
from discofilter.server.proxy import ProxyServer
from discofilter.sim.server import Simulator
from discofilter.upstream.client import Upstream
from discofilter.upstream.target import UpstreamTarget

JSON = "application/json"
PROTOBUF = "application/vnd.kubernetes.protobuf"


def _protobuf_available() -> bool:
    try:
        from discofilter.sim.encoding import protobuf_encoding

        return protobuf_encoding() is not None
    except ImportError:
        return False


# Every stream test runs once per wire format. Protobuf joins automatically once the emulator
# serves it (discofilter/sim/protobuf_encoding.py); until then it is skipped with the reason.
CONTENT_TYPES = [
    pytest.param(JSON, id="json"),
    pytest.param(
        PROTOBUF,
        id="protobuf",
        marks=pytest.mark.skipif(
            not _protobuf_available(), reason="emulator does not serve protobuf yet"
        ),
    ),
]

MESH = {"istio-injection": "enabled"}


def pod(name: str, namespace: str, pad: int = 0, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
        "spec": {"containers": [{"name": "c", "image": "busybox" + "x" * pad}]},
    }


@dataclass
class Rig:
    sim: Simulator
    proxy: ProxyServer
    url: str
    runner: web.AppRunner

    def ns(self, name: str, labels: dict[str, str] | None = None) -> None:
        self.sim.store.create(
            "namespaces", {"apiVersion": "v1", "kind": "Namespace",
                           "metadata": {"name": name, "labels": labels or {}}}
        )  # fmt: skip

    def pod(self, name: str, namespace: str, **kw: Any) -> dict[str, Any]:
        return self.sim.store.create("pods", pod(name, namespace, **kw), namespace)

    def expected(self, resource: str = "pods") -> set[tuple[str, str]]:
        """(namespace, name) of every object in an enrolled namespace, per the emulator."""
        labels = {
            o["metadata"]["name"]: o["metadata"].get("labels") or {}
            for o in self.sim.store.iter_objects("namespaces")
        }
        sels, _ = self.proxy.config.enrollment.selector_set()
        always = set(self.proxy.config.enrollment.always_enrolled)
        out = set()
        for o in self.sim.store.iter_objects(resource):
            ns = o["metadata"]["namespace"]
            if ns in always or (ns in labels and (sels is None or sels.matches(labels[ns]))):
                out.add((ns, o["metadata"]["name"]))
        return out

    async def until(self, cond: Callable[[], bool], within: float = 5.0) -> None:
        """Poll ``cond`` (state owned by the emulator/proxy, which offer no event to await)."""
        async with asyncio.timeout(within):
            while not cond():  # noqa: ASYNC110 - no event exists for these conditions
                await asyncio.sleep(0.01)


async def start_rig(
    config: Config | None = None, sim: Simulator | None = None, clock: Clock | None = None
) -> Rig:
    """``clock``: the proxy's (coalescing windows); give the emulator the same one to move time
    for both by hand."""
    sim = sim or Simulator(bookmark_interval=0.5)
    await sim.start()
    config = config or with_overrides(
        Config(), enrollment={"selectors": ("istio-injection=enabled",)}
    )
    config = with_overrides(config, upstream={"url": sim.url})
    proxy = ProxyServer(config, Upstream(UpstreamTarget(sim.url)), clock=clock)
    await proxy.start_background()
    runner = web.AppRunner(proxy.make_app(), access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    return Rig(sim, proxy, f"http://{host}:{port}", runner)


async def stop_rig(rig: Rig) -> None:
    await rig.proxy.stop()
    await rig.runner.cleanup()
    await rig.sim.stop()


async def start_populated_rig(config: Config | None = None, sim: Simulator | None = None) -> Rig:
    """``start_rig`` with the usual namespaces (istio-system, mesh-a, mesh-b enrolled; batch
    not), once the proxy has listed them."""
    r = await start_rig(config, sim)
    r.ns("istio-system")
    r.ns("mesh-a", MESH)
    r.ns("mesh-b", MESH)
    r.ns("batch")
    await r.proxy.namespaces.ready.wait()
    return r


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    r = await start_populated_rig()
    yield r
    await stop_rig(r)
