"""``discofilter serve --mesh-config-from`` as a process in front of the emulator: istiod's mesh
ConfigMap drives the selectors live, both ways; a malformed value, a missing key and a deleted
ConfigMap keep the running selectors and say so (log, metric, ``/debug/enrollment``, gRPC
Status). Progress is observed on the admin port with deadlines, never by sleeping."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from discofilter.sim.server import Simulator
from tests.component.reload.test_reload_cli import _enrolled, _fill, _serve, _stop, _until

pytestmark = pytest.mark.timeout(90)

REF = "configmap:istio-system/istio"
MESH_ONLY = "discoverySelectors:\n- matchLabels: {istio-injection: enabled}\n"
BATCH_TOO = MESH_ONLY + "- matchExpressions: [{key: tier, operator: In, values: [batch]}]\n"


def _cm(mesh: str | None) -> dict[str, Any]:
    data = {} if mesh is None else {"mesh": mesh}
    return {"metadata": {"name": "istio", "namespace": "istio-system"}, "data": data}


def _metric(text: str, name: str, **labels: str) -> float:
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return 0.0


async def _explain(sim: Simulator, admin: str) -> dict[str, Any]:
    """``selectors explain --proxy-admin``: the live selectors and their source, as JSON."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "discofilter", "selectors", "explain", "--upstream", sim.url,
        "--proxy-admin", admin, "--sample", "0", "-o", "json",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    doc: dict[str, Any] = json.loads(out)
    return doc


async def _pods(url: str) -> set[str]:
    async with aiohttp.ClientSession() as s, s.get(f"{url}/api/v1/pods") as r:
        assert r.status == 200
        return {i["metadata"]["namespace"] for i in (await r.json())["items"]}


def _edit(sim: Simulator, mesh: str | None) -> None:
    sim.store.update("configmaps", _cm(mesh))


async def test_the_mesh_configmap_drives_the_selectors_both_ways(tmp_path: Path) -> None:
    config = tmp_path / "discofilter.yaml"
    # The file's own selectors are only the fallback: the mesh value wins from the start.
    config.write_text("discoverySelectors:\n- matchLabels: {tier: batch}\n")
    async with Simulator() as sim:
        _fill(sim)
        sim.store.create("configmaps", _cm(MESH_ONLY), "istio-system")
        proc, url, admin = await _serve(sim, config, "--mesh-config-from", REF)
        try:
            doc = await _until(f"{admin}/debug/enrollment", lambda d: d["synced"])
            assert _enrolled(doc) == {"istio-system", "mesh-a"}
            src = doc["selectorsSource"]
            assert src["source"] == REF and src["healthy"] and src["error"] == ""
            assert src["resourceVersion"] == src["seenResourceVersion"] != ""
            assert await _pods(url) == {"istio-system", "mesh-a"}

            _edit(sim, BATCH_TOO)  # widen: batch joins, no restart
            doc = await _until(f"{admin}/debug/enrollment", lambda d: "batch" in _enrolled(d))
            assert len(doc["selectors"]) == 2
            assert await _pods(url) == {"istio-system", "mesh-a", "batch"}
            ex = await _explain(sim, admin)
            rv = doc["selectorsSource"]["resourceVersion"]
            assert ex["selectors"]["source"] == f"discofilter at {admin}: {REF}@{rv}"
            assert ex["selectors"]["terms"] == ["istio-injection=enabled", "tier in (batch)"]
            assert {n["name"] for n in ex["namespaces"] if n["enrolled"]} == _enrolled(doc)
            assert not [n for n in ex["notes"] if "refuses its source" in n]
            # the safety list's warning: istio-system is kept only by discofilter's safety list
            assert any("leave out istio-system" in n for n in ex["notes"])

            _edit(sim, "discoverySelectors:\n- matchLabels: {istio-injection: true}\n")
            doc = await _until(
                f"{admin}/debug/enrollment", lambda d: not d["selectorsSource"]["healthy"]
            )
            assert "a boolean (true)" in doc["selectorsSource"]["error"]
            assert _enrolled(doc) == {"istio-system", "mesh-a", "batch"}  # kept
            assert (
                doc["selectorsSource"]["resourceVersion"]
                != doc["selectorsSource"]["seenResourceVersion"]
            )

            _edit(sim, None)  # the mesh key removed: kept as well
            await _until(
                f"{admin}/debug/enrollment",
                lambda d: "no 'mesh' key" in d["selectorsSource"]["error"],
            )
            sim.store.delete("configmaps", "istio", "istio-system")
            doc = await _until(
                f"{admin}/debug/enrollment", lambda d: "not found" in d["selectorsSource"]["error"]
            )
            assert _enrolled(doc) == {"istio-system", "mesh-a", "batch"}
            assert await _pods(url) == {"istio-system", "mesh-a", "batch"}

            sim.store.create("configmaps", _cm(MESH_ONLY), "istio-system")  # narrow again
            doc = await _until(f"{admin}/debug/enrollment", lambda d: "batch" not in _enrolled(d))
            assert doc["selectorsSource"]["healthy"]
            assert await _pods(url) == {"istio-system", "mesh-a"}

            text = await _until(f"{admin}/metrics", lambda t: True)
            reads = "discofilter_mesh_config_reads_total"
            assert _metric(text, reads, result="applied") >= 3
            assert _metric(text, reads, result="rejected") >= 1
            assert _metric(text, reads, result="missing") >= 2
            assert _metric(text, "discofilter_enrollment_source_healthy", source=REF) == 1
            assert _metric(text, "discofilter_config_reloads_total", result="ok") >= 2
            assert proc.returncode is None
        finally:
            assert await _stop(proc) == 0
        err = (await proc.stderr.read()).decode()
        assert err.count("meshConfigFrom: value refused; the running selectors stay") >= 3
        assert "a boolean (true)" in err


async def test_a_bad_value_at_start_leaves_the_file_selectors(tmp_path: Path) -> None:
    config = tmp_path / "discofilter.yaml"
    config.write_text("discoverySelectors:\n- matchLabels: {tier: batch}\n")
    async with Simulator() as sim:
        _fill(sim)
        sim.store.create("configmaps", _cm("discoverySelectors: {a: b}\n"), "istio-system")
        proc, _, admin = await _serve(sim, config, "--mesh-config-from", REF)
        try:
            doc = await _until(f"{admin}/debug/enrollment", lambda d: d["synced"])
            assert _enrolled(doc) == {"istio-system", "batch"}  # the file's fallback
            src = doc["selectorsSource"]
            assert not src["healthy"] and "expected a list" in src["error"]
            assert src["resourceVersion"] == ""
            _edit(sim, MESH_ONLY)  # fixed: applied live
            await _until(
                f"{admin}/debug/enrollment", lambda d: _enrolled(d) == {"istio-system", "mesh-a"}
            )
        finally:
            assert await _stop(proc) == 0


async def test_selector_flags_and_mesh_config_from_exclude_each_other(tmp_path: Path) -> None:
    (tmp_path / "empty.yaml").write_text("")
    async with Simulator() as sim:
        proc, _, _ = await _serve(
            sim, tmp_path / "empty.yaml", "--mesh-config-from", REF, "--selector", "a=b"
        )
        assert await asyncio.wait_for(proc.wait(), 30) == 2
        assert b"mutually exclusive" in await proc.stderr.read()


async def test_a_mesh_edit_with_a_broken_config_file_is_not_applied_and_says_so(
    tmp_path: Path,
) -> None:
    config = tmp_path / "discofilter.yaml"
    config.write_text("")
    async with Simulator() as sim:
        _fill(sim)
        sim.store.create("configmaps", _cm(MESH_ONLY), "istio-system")
        proc, _, admin = await _serve(
            sim, config, "--mesh-config-from", REF, "--config-poll-seconds", "0"
        )
        try:
            await _until(f"{admin}/debug/enrollment", lambda d: d["synced"])
            config.write_text("server: {listne: x}\n")  # broken, not reloaded yet
            _edit(sim, BATCH_TOO)  # the reload it triggers re-reads the file: all or nothing
            doc = await _until(
                f"{admin}/debug/enrollment", lambda d: not d["selectorsSource"]["healthy"]
            )
            assert "config reload applying it was rejected" in doc["selectorsSource"]["error"]
            assert _enrolled(doc) == {"istio-system", "mesh-a"}
            config.write_text("")
            proc.send_signal(signal.SIGHUP)  # the file fixed: the mesh value applies with it
            await _until(f"{admin}/debug/enrollment", lambda d: "batch" in _enrolled(d))
        finally:
            assert await _stop(proc) == 0
