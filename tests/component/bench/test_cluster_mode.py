"""The real-cluster paths, lightly: the emulator stands in for a cluster behind a kubeconfig.

``discofilter record`` against it, and ``ClusterChurn`` driving pods through the API.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from discofilter.harness.cluster_churn import ClusterChurn
from discofilter.harness.kubeapi import api_client
from discofilter.harness.processes import write_kubeconfig
from discofilter.harness.record import record
from discofilter.harness.scenario_meta import ScenarioMeta
from discofilter.harness.trace import read_trace
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


def test_bench_against_a_cluster_via_kubeconfig(tmp_path: Path) -> None:
    """The whole ``--kubeconfig`` path: churn through the API, proxies given the kubeconfig."""

    import orjson

    from discofilter.cli import main
    from discofilter.harness.processes import child_env, free_port

    port = free_port()
    sim = subprocess.Popen(
        [sys.executable, "-m", "discofilter", "sim", "--listen", f"127.0.0.1:{port}",
         "--bookmark-interval", "1", "--duration", "60"],
        env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait_listening(port, sim)
        kc = write_kubeconfig(tmp_path / "kubeconfig", f"http://127.0.0.1:{port}")
        smoke = Path(__file__).resolve().parents[3] / "bench" / "scenarios" / "smoke.yaml"
        out = tmp_path / "out"
        rc = main(["bench", "--kubeconfig", str(kc), "--scenario", str(smoke), "--modes",
                   "discofilter-nocc", "--duration", "2", "--out", str(out)])  # fmt: skip
        doc = orjson.loads((out / "results.json").read_bytes())
        assert rc == 0, doc
        assert doc["upstream"]["kind"] == "cluster"
        assert doc["upstream"]["churn_counts"]["create"] > 0
        assert doc["modes"]["discofilter-nocc"]["final_state_matches"] is True
    finally:
        sim.terminate()
        sim.wait(10)


def _wait_listening(port: int, proc: subprocess.Popen[bytes], timeout_s: float = 30.0) -> None:
    """Block until the emulator child accepts connections (a child process has no event)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the emulator exited"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"emulator not listening on {port} after {timeout_s} s")
