"""Real clients through the proxy: kubectl 1.27/1.33, kubernetes (sync) and kubernetes_asyncio.

Each client's view must equal the emulator's state restricted to enrolled namespaces.
The emulator and the proxy run in this test's event loop, so blocking clients run in a thread
and kubectl runs as an asyncio subprocess.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path

import pytest
import yaml

from tests.component.proxy.conftest import MESH, Rig

pytestmark = pytest.mark.timeout(60)


def _kubectl(version: str) -> str | None:
    base = shutil.which("kubectl")
    if not base:
        return None
    path = Path(os.path.realpath(base)).parent / f"kubectl.{version}"
    return str(path) if path.exists() else None


def _kubeconfig(tmp_path: Path, url: str) -> str:
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "proxy",
        "clusters": [{"name": "proxy", "cluster": {"server": url}}],
        "users": [{"name": "u", "user": {"token": "caller-token"}}],
        "contexts": [{"name": "proxy", "context": {"cluster": "proxy", "user": "u"}}],
    }
    p = tmp_path / "kubeconfig"
    p.write_text(yaml.safe_dump(doc))
    return str(p)


async def _run(*argv: str, within: float = 20) -> str:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), within)
    assert proc.returncode == 0, err.decode()
    return out.decode()


def _populate(rig: Rig) -> None:
    for i in range(3):
        rig.pod(f"mesh-pod-{i}", "mesh-a")
        rig.pod(f"batch-pod-{i}", "batch")
    rig.pod("cp", "istio-system")


@pytest.mark.kubectl
@pytest.mark.parametrize("version", ["1.27", "1.33"])
async def test_kubectl_get_watch_label(rig: Rig, tmp_path: Path, version: str) -> None:
    kubectl = _kubectl(version)
    if kubectl is None:
        pytest.skip(f"kubectl.{version} not installed beside kubectl")
    kc = _kubeconfig(tmp_path, rig.url)
    _populate(rig)
    # get -A uses as=Table: the proxy filters Table rows.
    out = await _run(kubectl, "--kubeconfig", kc, "get", "pods", "-A", "--no-headers")
    rows = {tuple(line.split()[:2]) for line in out.splitlines() if line.strip()}
    assert rows == rig.expected()
    # -o json list
    doc = json.loads(await _run(kubectl, "--kubeconfig", kc, "get", "pods", "-A", "-o", "json"))
    assert {(i["metadata"]["namespace"], i["metadata"]["name"]) for i in doc["items"]} == (
        rig.expected()
    )
    # watch with events: start, churn, relabel batch into the mesh.
    proc = await asyncio.create_subprocess_exec(
        kubectl, "--kubeconfig", kc, "get", "pods", "-A", "-w", "--output-watch-events",
        "-o", "json", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    decoder = json.JSONDecoder()
    buf = ""
    seen: set[tuple[str, str]] = set()

    async def read_until(want: set[tuple[str, str]]) -> None:
        nonlocal buf
        async with asyncio.timeout(20):
            while not want <= seen:
                assert proc.stdout is not None
                chunk = await proc.stdout.read(65536)
                assert chunk, "kubectl watch ended"
                buf += chunk.decode()
                while True:
                    buf = buf.lstrip()
                    try:
                        ev, end = decoder.raw_decode(buf)
                    except ValueError:
                        break
                    buf = buf[end:]
                    meta = ev["object"]["metadata"]
                    seen.add((meta["namespace"], meta["name"]))
                    assert meta["namespace"] != "batch" or rig.proxy.enrollment.is_enrolled("batch")

    try:
        await read_until(rig.expected())
        rig.pod("late", "mesh-b")
        rig.pod("late", "batch")
        await read_until({("mesh-b", "late")})
        # kubectl label goes through the proxy as a pass-through PATCH.
        await _run(kubectl, "--kubeconfig", kc, "label", "ns", "batch", "istio-injection=enabled")
        await rig.until(lambda: rig.proxy.enrollment.is_enrolled("batch"))
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
    out = await _run(kubectl, "--kubeconfig", kc, "get", "pods", "-A", "--no-headers")
    rows = {tuple(line.split()[:2]) for line in out.splitlines() if line.strip()}
    assert ("batch", "late") in rows and rows == rig.expected()


async def test_kubernetes_python_client_list_and_watch(rig: Rig) -> None:
    from kubernetes import client, watch

    _populate(rig)
    cfg = client.Configuration()
    cfg.host = rig.url
    api = client.CoreV1Api(client.ApiClient(cfg))

    def list_and_watch() -> tuple[set[tuple[str, str]], list[tuple[str, str, str]], str]:
        pods = api.list_pod_for_all_namespaces()
        listed = {(p.metadata.namespace, p.metadata.name) for p in pods.items}
        events = []
        w = watch.Watch()
        for ev in w.stream(
            api.list_pod_for_all_namespaces,
            resource_version=pods.metadata.resource_version,
            timeout_seconds=1,
        ):
            o = ev["object"]
            events.append((ev["type"], o.metadata.namespace, o.metadata.name))
        return listed, events, pods.metadata.resource_version

    task = asyncio.create_task(asyncio.to_thread(list_and_watch))
    await rig.until(lambda: rig.sim.watchers > 1)  # the proxy's namespace watch + this one
    rig.pod("w1", "mesh-b")
    rig.pod("w2", "batch")
    listed, events, _ = await task
    assert listed == rig.expected() - {("mesh-b", "w1")}
    assert events == [("ADDED", "mesh-b", "w1")]


async def test_kubernetes_asyncio_watch(rig: Rig) -> None:
    from kubernetes_asyncio import client, watch

    _populate(rig)
    cfg = client.Configuration()
    cfg.host = rig.url
    async with client.ApiClient(cfg) as api_client:
        api = client.CoreV1Api(api_client)
        pods = await api.list_pod_for_all_namespaces()
        listed = {(p.metadata.namespace, p.metadata.name) for p in pods.items}
        assert listed == rig.expected()
        got: list[tuple[str, str, str]] = []
        w = watch.Watch()

        async def consume() -> None:
            async for ev in w.stream(
                api.list_pod_for_all_namespaces,
                resource_version=pods.metadata.resource_version,
                timeout_seconds=2,
            ):
                o = ev["object"]
                got.append((ev["type"], o.metadata.namespace, o.metadata.name))
                if len(got) == 2:
                    w.stop()

        t = asyncio.create_task(consume())
        await rig.until(lambda: len(rig.proxy.registry) == 1)
        rig.pod("a1", "batch")
        rig.pod("a2", "mesh-a")
        rig.sim.store.delete("pods", "mesh-pod-0", "mesh-a")
        await asyncio.wait_for(t, 10)
        assert got == [("ADDED", "mesh-a", "a2"), ("DELETED", "mesh-a", "mesh-pod-0")]


async def test_label_through_proxy_changes_enrollment(rig: Rig) -> None:
    import aiohttp

    async with (
        aiohttp.ClientSession() as s,
        s.patch(
            rig.url + "/api/v1/namespaces/batch",
            data=json.dumps({"metadata": {"labels": MESH}}),
            headers={"Content-Type": "application/merge-patch+json"},
        ) as r,
    ):
        assert r.status == 200
    await rig.until(lambda: rig.proxy.enrollment.is_enrolled("batch"))


@pytest.mark.kubectl
async def test_kubectl_table_watch_shows_only_mesh_rows(rig: Rig, tmp_path: Path) -> None:
    kubectl = _kubectl("1.33")
    if kubectl is None:
        pytest.skip("kubectl.1.33 not installed beside kubectl")
    kc = _kubeconfig(tmp_path, rig.url)
    rig.pod("old", "batch")  # the first Table event (with column headers) may be a dropped one
    rig.pod("old", "mesh-a")
    proc = await asyncio.create_subprocess_exec(
        kubectl, "--kubeconfig", kc, "get", "pods", "-A", "-w",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    lines: list[list[str]] = []
    try:
        await rig.until(lambda: len(rig.proxy.registry) == 1, within=20)
        rig.pod("new", "batch")
        rig.pod("new", "mesh-b")
        async with asyncio.timeout(20):
            while not any(r[:2] == ["mesh-b", "new"] for r in lines):
                line = await proc.stdout.readline()
                assert line, "kubectl ended"
                lines.append(line.decode().split())
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
    assert lines[0][:2] == ["NAMESPACE", "NAME"]  # headers survived the filter
    rows = {tuple(r[:2]) for r in lines[1:]}
    assert ("mesh-a", "old") in rows and not any(ns == "batch" for ns, _ in rows)
