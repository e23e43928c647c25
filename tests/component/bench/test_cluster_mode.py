"""The real-cluster paths, lightly: the emulator stands in for a cluster behind a kubeconfig.

``discofilter record`` against it, and ``ClusterChurn`` driving pods through the API.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from discofilter.bench.cluster_churn import ClusterChurn
from discofilter.bench.kubeapi import api_client
from discofilter.bench.processes import write_kubeconfig
from discofilter.bench.record import record
from discofilter.bench.scenario_meta import ScenarioMeta
from discofilter.bench.trace import read_trace
from discofilter.sim.server import Simulator

pytestmark = pytest.mark.timeout(60)


def _meta() -> ScenarioMeta:
    return ScenarioMeta(
        name="t",
        selectors=[{"matchLabels": {"istio-injection": "enabled"}}],
        kinds=["pods"],
        duration_s=1.0,
        cluster_profile={"createsPerSecond": 40, "deletesPerSecond": 10, "nonMeshShare": 0.5},
    )


async def test_cluster_churn_through_a_kubeconfig(tmp_path: Path) -> None:
    async with Simulator() as sim:
        kc = write_kubeconfig(tmp_path / "kubeconfig", sim.url)
        api = await api_client(str(kc))
        try:
            churn = ClusterChurn(api, _meta(), namespaces=2)
            await churn.setup()
            ns = sim.store.get("namespaces", "df-bench-mesh-0")
            assert ns["metadata"]["labels"]["istio-injection"] == "enabled"
            counts = await churn.run(0.5)
            assert counts["create"] >= 15 and counts["create_errors"] == 0
            assert sim.store.count("pods") == counts["create"] - counts["delete"]
            assert await churn.current_resource_version() == sim.store.resource_version
            await churn.cleanup()
            assert sim.store.count("pods") == 0
        finally:
            await api.close()


async def test_record_writes_list_and_watch_events(tmp_path: Path) -> None:
    async with Simulator() as sim:
        store = sim.store
        store.create("namespaces", {"metadata": {"name": "a"}})
        store.create("pods", {"metadata": {"name": "before", "namespace": "a"}, "spec": {}})
        kc = write_kubeconfig(tmp_path / "kubeconfig", sim.url)
        out = tmp_path / "t.jsonl.gz"
        task = asyncio.create_task(record(str(kc), None, ["pods", "namespaces"], 1.5, out))

        async def both_watching() -> None:
            # The emulator exposes a count of open watches, not an event: poll it (bounded below).
            while sim.watchers < 2:  # noqa: ASYNC110 - later changes must be watch events
                await asyncio.sleep(0.02)

        await asyncio.wait_for(both_watching(), 10)
        store.create("pods", {"metadata": {"name": "during", "namespace": "a"}, "spec": {}})
        store.delete("pods", "before", "a")
        counts = await asyncio.wait_for(task, 10)
    evs = [(e.kind, e.type, e.object["metadata"]["name"]) for e in read_trace(out)]
    assert ("pods", "ADDED", "before") in evs  # from the LIST
    assert ("namespaces", "ADDED", "a") in evs
    assert ("pods", "ADDED", "during") in evs
    assert ("pods", "DELETED", "before") in evs
    assert counts["pods/DELETED"] == 1
