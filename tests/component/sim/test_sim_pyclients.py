"""The official Python clients against the emulator: list, watch, and 410 handling."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import kubernetes
import kubernetes_asyncio
import pytest

from discofilter.sim import Simulator


def _core(kubeconfig: Path) -> Any:  # Any: the client's optional-typed models

    api = kubernetes.config.new_client_from_config(config_file=str(kubeconfig))
    return kubernetes.client.CoreV1Api(api)


async def test_official_client_list_and_watch(sim: Simulator, kubeconfig: Path) -> None:
    core = _core(kubeconfig)
    pods: Any = await asyncio.to_thread(core.list_pod_for_all_namespaces, label_selector="app=web")
    assert sorted((p.metadata.namespace, p.metadata.name) for p in pods.items) == [
        ("batch-b", "pod-1"),
        ("batch-b", "pod-2"),
        ("mesh-a", "pod-1"),
        ("mesh-a", "pod-2"),
    ]
    rv = pods.metadata.resource_version
    got: list[tuple[str, str]] = []
    done = threading.Event()

    def watch() -> None:
        w = kubernetes.watch.Watch()
        for ev in w.stream(
            core.list_namespaced_pod, "mesh-a", resource_version=rv, timeout_seconds=10
        ):
            got.append((ev["type"], ev["object"].metadata.name))
            if len(got) == 2:
                w.stop()
        done.set()

    t = asyncio.ensure_future(asyncio.to_thread(watch))
    # No need to wait for the connection: the watch starts at rv, so it replays these.
    sim.store.create("pods", {"metadata": {"name": "w1"}, "spec": {"containers": []}}, "mesh-a")
    sim.store.delete("pods", "w1", "mesh-a")
    await asyncio.wait_for(t, 10)
    assert got == [("ADDED", "w1"), ("DELETED", "w1")]


async def test_official_client_raises_410_on_expired_watch(
    sim: Simulator, kubeconfig: Path
) -> None:
    core = _core(kubeconfig)
    old = sim.store.resource_version
    for i in range(80):  # history_size is 50
        sim.store.create("configmaps", {"metadata": {"name": f"c{i}"}}, "mesh-a")

    def watch() -> int:
        w = kubernetes.watch.Watch()
        try:
            for _ in w.stream(
                core.list_config_map_for_all_namespaces,
                resource_version=str(old),
                timeout_seconds=5,
            ):
                pass
        except kubernetes.client.exceptions.ApiException as e:
            return int(e.status)
        return 0

    assert await asyncio.wait_for(asyncio.to_thread(watch), 10) == 410


async def test_kubernetes_asyncio_watch(sim: Simulator, kubeconfig: Path) -> None:
    api_client = await kubernetes_asyncio.config.new_client_from_config(config_file=str(kubeconfig))
    async with api_client:
        core = kubernetes_asyncio.client.CoreV1Api(api_client)
        nss = await core.list_namespace()
        assert [n.metadata.name for n in nss.items] == ["batch-b", "mesh-a"]
        w = kubernetes_asyncio.watch.Watch()
        seen: list[tuple[str, str]] = []
        stream = w.stream(
            core.list_namespace, resource_version=nss.metadata.resource_version, timeout_seconds=10
        )
        sim.store.set_namespace_labels("batch-b", {"istio-injection": "enabled"})
        async with asyncio.timeout(10):
            async for ev in stream:
                seen.append((ev["type"], ev["object"].metadata.name))
                labels = ev["object"].metadata.labels
                w.stop()
        assert seen == [("MODIFIED", "batch-b")] and labels["istio-injection"] == "enabled"


@pytest.mark.parametrize("limit", [1, 4])
async def test_official_client_paginates(sim: Simulator, kubeconfig: Path, limit: int) -> None:
    core = _core(kubeconfig)
    names: list[str] = []
    token = None
    while True:
        page: Any = await asyncio.to_thread(
            core.list_pod_for_all_namespaces, limit=limit, _continue=token
        )
        names += [f"{p.metadata.namespace}/{p.metadata.name}" for p in page.items]
        token = page.metadata._continue
        if not token:
            break
    assert names == sorted(names) and len(names) == 6
