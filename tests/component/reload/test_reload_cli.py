"""``discofilter serve`` as a process: SIGHUP and file changes reload it, a bad file does not
stop it, and with ``--workers`` the parent reloads every worker. Progress is observed on the
admin port (``/debug/enrollment``, ``/metrics``) with deadlines, never by sleeping."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from discofilter.harness.processes import free_port as _free_port
from discofilter.sim.server import Simulator
from tests.component.reload.conftest import BATCH, MESH, MESH_ONLY

pytestmark = pytest.mark.timeout(60)
MESH_OR_BATCH = MESH_ONLY + "  - matchLabels: {tier: batch}\n"


def _fill(sim: Simulator) -> None:
    for ns, labels in (("istio-system", {}), ("mesh-a", MESH), ("batch", BATCH)):
        sim.store.create("namespaces", {"metadata": {"name": ns, "labels": labels}})
        sim.store.create("pods", {"metadata": {"name": "p", "namespace": ns}, "spec": {}}, ns)


async def _serve(sim: Simulator, config: Path, *flags: str) -> tuple[Any, str, str]:
    port, admin = _free_port(), _free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "discofilter.server", "--listen", f"127.0.0.1:{port}",
        "--upstream", sim.url, "--config", str(config), "--admin-listen", f"127.0.0.1:{admin}",
        *flags, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    return proc, f"http://127.0.0.1:{port}", f"http://127.0.0.1:{admin}"


async def _until(url: str, cond: Callable[[Any], bool], within: float = 30.0) -> Any:
    """GET ``url`` until ``cond(body)`` holds (JSON, else text); connection errors retry."""
    async with asyncio.timeout(within), aiohttp.ClientSession() as s:
        while True:
            try:
                async with s.get(url) as r:
                    body: Any = await (r.json() if "json" in r.content_type else r.text())
                    if r.status == 200 and cond(body):
                        return body
            except aiohttp.ClientConnectorError:
                pass
            await asyncio.sleep(0.05)


def _enrolled(doc: dict[str, Any]) -> set[str]:
    return {n["name"] for n in doc["namespaces"] if n["enrolled"]}


def _reloads(text: str, result: str) -> float:
    for fam in text_string_to_metric_families(text):
        for sample in fam.samples:
            name = sample.name
            if name == "discofilter_config_reloads_total" and sample.labels["result"] == result:
                return sample.value
    return 0.0


async def _stop(proc: Any) -> int:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
    return int(await asyncio.wait_for(proc.wait(), 15))


async def test_sighup_reloads_and_a_bad_file_keeps_serving(tmp_path: Path) -> None:
    config = tmp_path / "discofilter.yaml"
    config.write_text(MESH_ONLY)
    async with Simulator() as sim:
        _fill(sim)
        proc, _, admin = await _serve(sim, config, "--config-poll-seconds", "0")
        try:
            doc = await _until(f"{admin}/debug/enrollment", lambda d: d["synced"])
            assert _enrolled(doc) == {"istio-system", "mesh-a"}
            config.write_text(MESH_OR_BATCH)
            proc.send_signal(signal.SIGHUP)
            doc = await _until(f"{admin}/debug/enrollment", lambda d: "batch" in _enrolled(d))
            assert len(doc["selectors"]) == 2
            config.write_text("discoverySelectors:\n  - matchLabel: {a: b}\n")
            proc.send_signal(signal.SIGHUP)
            text = await _until(f"{admin}/metrics", lambda t: _reloads(t, "rejected") == 1)
            assert _reloads(text, "ok") == 1
            doc = await _until(f"{admin}/debug/enrollment", lambda d: True)
            assert _enrolled(doc) == {"istio-system", "mesh-a", "batch"}
            assert proc.returncode is None
        finally:
            assert await _stop(proc) == 0
        err = (await proc.stderr.read()).decode()
        assert "config reloaded" in err and "config reload rejected" in err
        assert "discofilter.yaml:2" in err  # the bad key's line


async def test_workers_reload_on_file_change_and_on_sighup_to_the_parent(tmp_path: Path) -> None:
    config = tmp_path / "discofilter.yaml"
    config.write_text(MESH_ONLY)
    async with Simulator() as sim:
        _fill(sim)
        flags = ("--workers", "2", "--config-poll-seconds", "0.2")
        proc, url, admin = await _serve(sim, config, *flags)

        async def pods_everywhere(want: set[str]) -> None:
            """Every worker answers with ``want``: fresh connections spread over both
            (SO_REUSEPORT hashes each connection; 16 all on one worker: p = 2**-15)."""
            async with asyncio.timeout(30):
                while True:
                    seen = []
                    for _ in range(16):
                        conn = aiohttp.TCPConnector(force_close=True)
                        async with aiohttp.ClientSession(connector=conn) as s:
                            try:
                                async with s.get(f"{url}/api/v1/pods") as r:
                                    items = (await r.json())["items"] if r.status == 200 else []
                            except aiohttp.ClientConnectorError:
                                items = []
                        seen.append({i["metadata"]["namespace"] for i in items})
                    if all(s == want for s in seen):
                        return
                    await asyncio.sleep(0.05)

        try:
            await _until(f"{admin}/debug/enrollment", lambda d: d["synced"])
            await pods_everywhere({"istio-system", "mesh-a"})
            config.write_text(MESH_OR_BATCH)  # the parent notices and SIGHUPs both workers
            await pods_everywhere({"istio-system", "mesh-a", "batch"})
            # SIGHUP to the parent is forwarded to the workers (seen on worker 0's metrics).
            text = await _until(f"{admin}/metrics", lambda t: _reloads(t, "ok") >= 1)
            before = _reloads(text, "ok")
            proc.send_signal(signal.SIGHUP)
            await _until(f"{admin}/metrics", lambda t: _reloads(t, "ok") >= before + 1)
        finally:
            assert await _stop(proc) == 0
