"""A scope's own ``meshConfigFrom``, through ``discofilter serve`` in front of the emulator: the
scope follows its istiod's mesh ConfigMap live, both ways, and a malformed value keeps the
scope's running selectors; the default scope and its own ConfigMap are untouched."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest

from discofilter.sim.server import Simulator
from tests.component.reload.test_reload_cli import _enrolled, _fill, _serve, _stop, _until

pytestmark = pytest.mark.timeout(90)

CONFIG = """\
discoverySelectors: [{matchLabels: {istio-injection: enabled}}]
scopes:
  - name: team-b
    meshConfigFrom: configmap:istio-b/istio
    discoverySelectors: [{matchLabels: {nothing: here}}]
"""
BATCH = "discoverySelectors:\n- matchLabels: {tier: batch}\n"
MESH_A = "discoverySelectors:\n- matchLabels: {istio-injection: enabled}\n"


def _cm(mesh: str) -> dict[str, Any]:
    return {"metadata": {"name": "istio", "namespace": "istio-b"}, "data": {"mesh": mesh}}


async def _pods(url: str) -> set[str]:
    async with aiohttp.ClientSession() as s, s.get(url + "/api/v1/pods") as r:
        assert r.status == 200
        return {i["metadata"]["namespace"] for i in (await r.json())["items"]}


async def test_a_scope_follows_its_own_mesh_configmap(tmp_path: Path) -> None:
    config = tmp_path / "discofilter.yaml"
    config.write_text(CONFIG)
    async with Simulator() as sim:
        _fill(sim)
        sim.store.create("namespaces", {"metadata": {"name": "istio-b"}})
        sim.store.create("configmaps", _cm(BATCH), "istio-b")
        proc, url, admin = await _serve(sim, config, "--no-safety-list")
        try:
            b = f"{admin}/debug/enrollment?scope=team-b"
            doc = await _until(b, lambda d: d["synced"] and "batch" in _enrolled(d))
            assert _enrolled(doc) == {"istio-system", "batch"}
            src = doc["selectorsSource"]
            assert src["source"] == "configmap:istio-b/istio" and src["healthy"]
            assert await _pods(url + "/scopes/team-b") == {"istio-system", "batch"}
            assert await _pods(url) == {"istio-system", "mesh-a"}

            sim.store.update("configmaps", _cm(MESH_A))  # the scope moves, no restart
            doc = await _until(b, lambda d: "batch" not in _enrolled(d))
            assert _enrolled(doc) == {"istio-system", "mesh-a"}
            assert await _pods(url + "/scopes/team-b") == {"istio-system", "mesh-a"}

            sim.store.update("configmaps", _cm("discoverySelectors: 7\n"))  # malformed: kept
            doc = await _until(b, lambda d: not d["selectorsSource"]["healthy"])
            assert _enrolled(doc) == {"istio-system", "mesh-a"}
            top = await _until(f"{admin}/debug/enrollment", lambda d: True)
            assert (
                top["selectorsSource"]["source"] == "config" and top["selectorsSource"]["healthy"]
            )
            assert _enrolled(top) == {"istio-system", "mesh-a"}
        finally:
            assert await _stop(proc) == 0, (await proc.stderr.read()).decode()[-2000:]
