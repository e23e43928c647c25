"""Scopes against the emulator: ``/scopes/<name>`` serves that scope's namespaces only.

Two scopes (team-a: ``mesh=a``, team-b: ``mesh=b``) and the default scope
(``istio-injection=enabled``) through one in-process discofilter; real clients (kubectl, the
``kubernetes`` client) take ``<url>/scopes/<name>`` as their kubeconfig server.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from discofilter.config import load_config_text
from tests.component.proxy.conftest import JSON, MESH, Rig, start_rig, stop_rig
from tests.component.proxy.helpers import open_watch
from tests.component.proxy.test_real_clients import _kubeconfig, _kubectl, _run

pytestmark = pytest.mark.timeout(60)

CONFIG = """\
selectors: [istio-injection=enabled]
safetyList: false
scopes:
  - name: team-a
    discoverySelectors: [{matchLabels: {mesh: a}}]
  - name: team-b
    selectors: [mesh=b]
"""


@pytest.fixture
async def srig() -> AsyncIterator[Rig]:
    r = await start_rig(load_config_text(CONFIG, "scopes.yaml"))
    r.ns("istio-system")
    r.ns("a1", {"mesh": "a"})
    r.ns("b1", {"mesh": "b"})
    r.ns("mesh-x", MESH)
    r.ns("batch")
    for ns in ("istio-system", "a1", "b1", "mesh-x", "batch"):
        r.pod(f"p-{ns}", ns)
    await r.proxy.namespaces.ready.wait()
    yield r
    await stop_rig(r)


def _pods(doc: dict) -> set[str]:
    return {i["metadata"]["namespace"] for i in doc["items"]}


async def test_each_scope_lists_only_its_namespaces_and_default_keeps_its_urls(srig: Rig) -> None:
    async with aiohttp.ClientSession() as s:

        async def get(path: str) -> tuple[int, dict]:
            async with s.get(srig.url + path, headers={"Accept": JSON}) as r:
                return r.status, await r.json(content_type=None)

        assert _pods((await get("/scopes/team-a/api/v1/pods"))[1]) == {"istio-system", "a1"}
        assert _pods((await get("/scopes/team-b/api/v1/pods"))[1]) == {"istio-system", "b1"}
        assert _pods((await get("/api/v1/pods"))[1]) == {"istio-system", "mesh-x"}
        # The query (percent-encoded as the client sent it) survives the prefix strip.
        srig.pod("labelled", "a1", app="web")
        status, doc = await get("/scopes/team-a/api/v1/pods?labelSelector=app%3Dweb")
        assert status == 200 and [i["metadata"]["name"] for i in doc["items"]] == ["labelled"]
        # A request naming one namespace passes through in a scope exactly as in the default
        # one (classify.py: the API server authorizes it; a scope is a view, not access control).
        status, doc = await get("/scopes/team-a/api/v1/namespaces/b1/pods")
        assert status == 200 and _pods(doc) == {"b1"}
        status, doc = await get("/scopes/team-b/api/v1/namespaces/b1")
        assert status == 200 and doc["metadata"]["name"] == "b1"
        # An unknown scope is a 404 Status, never the default scope's view.
        for path in ("/scopes/team-c/api/v1/pods", "/scopes/", "/scopes/team-c"):
            status, doc = await get(path)
            assert status == 404 and doc["kind"] == "Status" and doc["code"] == 404, path
    a = srig.proxy.scopes["team-a"]
    assert a.enrollment.enrolled() == {"istio-system", "a1"}


async def test_relabel_flips_only_the_scope_it_changes(srig: Rig) -> None:
    rv = srig.sim.store.resource_version
    q = f"/api/v1/pods?watch=1&resourceVersion={rv}&allowWatchBookmarks=true"
    async with aiohttp.ClientSession() as s:
        wa, ta = await open_watch(s, f"{srig.url}/scopes/team-a{q}", JSON)
        wb, tb = await open_watch(s, f"{srig.url}/scopes/team-b{q}", JSON)
        wd, td = await open_watch(s, srig.url + q, JSON)
        srig.pod("before", "batch")  # dropped by all three: each may now be inexact for batch
        await srig.until(lambda: all(st.dropped_ns for st in srig.proxy.registry.streams()))
        assert {st.scope for st in srig.proxy.registry.streams()} == {"", "team-a", "team-b"}
        srig.sim.store.set_namespace_labels("batch", {"mesh": "a"})
        await wa.until(lambda ev: wa.error_code() == 410)
        # team-b and the default scope did not flip: their streams carry on.
        srig.pod("after", "b1")
        await wb.until(lambda ev: ("ADDED", "b1", "after") in wb.objects())
        assert wb.error_code() is None and not wb.done
        srig.pod("after", "mesh-x")
        await wd.until(lambda ev: ("ADDED", "mesh-x", "after") in wd.objects())
        assert wd.error_code() is None
        for t in (ta, tb, td):
            t.cancel()
        await asyncio.gather(ta, tb, td, return_exceptions=True)
    # Contract 3 per scope: resuming from before the flip relists in team-a only.
    a, b = srig.proxy.scopes["team-a"], srig.proxy.scopes["team-b"]
    assert a.stale_resume(str(rv)) and not b.stale_resume(str(rv))
    assert not srig.proxy.stale_resume(str(rv))
    assert a.enrollment.enrolled() == {"istio-system", "a1", "batch"}
    assert b.enrollment.enrolled() == {"istio-system", "b1"}


async def test_stale_resume_in_a_scope_gets_410(srig: Rig) -> None:
    rv = srig.sim.store.resource_version
    srig.sim.store.set_namespace_labels("batch", {"mesh": "b"})
    await srig.until(lambda: "batch" in srig.proxy.scopes["team-b"].enrollment.enrolled())
    q = f"/api/v1/pods?watch=1&resourceVersion={rv}"
    async with aiohttp.ClientSession() as s:
        wb, tb = await open_watch(s, f"{srig.url}/scopes/team-b{q}", JSON)
        await wb.until(lambda ev: wb.error_code() == 410)
        wa, ta = await open_watch(s, f"{srig.url}/scopes/team-a{q}&allowWatchBookmarks=true", JSON)
        srig.pod("later", "a1")
        await wa.until(lambda ev: ("ADDED", "a1", "later") in wa.objects())
        assert wa.error_code() is None and all(e.type != "ERROR" for e in wa.events)
        for t in (ta, tb):
            t.cancel()
        await asyncio.gather(ta, tb, return_exceptions=True)


@pytest.mark.kubectl
async def test_kubectl_with_a_scope_as_kubeconfig_server(srig: Rig, tmp_path: Path) -> None:
    kubectl = _kubectl("1.33") or _kubectl("1.27")
    if kubectl is None:
        pytest.skip("kubectl.1.33/1.27 not installed beside kubectl")
    kc = _kubeconfig(tmp_path, srig.url + "/scopes/team-b")
    doc = json.loads(await _run(kubectl, "--kubeconfig", kc, "get", "pods", "-A", "-o", "json"))
    assert _pods(doc) == {"istio-system", "b1"}
    out = await _run(kubectl, "--kubeconfig", kc, "get", "pods", "-A", "--no-headers")
    assert {line.split()[0] for line in out.splitlines() if line.strip()} == {"istio-system", "b1"}


async def test_kubernetes_client_with_a_scope_as_host(srig: Rig) -> None:
    from kubernetes import client

    cfg = client.Configuration()
    cfg.host = srig.url + "/scopes/team-a"
    api = client.CoreV1Api(client.ApiClient(cfg))

    def listed() -> set[str]:
        return {p.metadata.namespace for p in api.list_pod_for_all_namespaces().items}

    assert await asyncio.to_thread(listed) == {"istio-system", "a1"}


async def test_debug_enrollment_per_scope(srig: Rig) -> None:
    from aiohttp.test_utils import TestClient, TestServer
    from prometheus_client import CollectorRegistry

    from discofilter.admin.http import make_admin_app
    from discofilter.metrics import Metrics
    from discofilter.server.admin_state import ProxyAdminState

    app = make_admin_app(ProxyAdminState(srig.proxy), Metrics(CollectorRegistry()))
    async with TestClient(TestServer(app)) as c:
        docs = {}
        for scope in ("", "team-a", "team-b"):
            r = await c.get("/debug/enrollment", params={"scope": scope, "enrolled": "true"})
            assert r.status == 200
            docs[scope] = await r.json()
        r = await c.get("/debug/enrollment", params={"scope": "team-c"})
        assert r.status == 404 and "team-c" in await r.text()
    names = {k: {n["name"] for n in d["namespaces"]} for k, d in docs.items()}
    assert names == {
        "": {"istio-system", "mesh-x"},
        "team-a": {"istio-system", "a1"},
        "team-b": {"istio-system", "b1"},
    }
    assert docs["team-a"]["scope"] == "team-a" and docs["team-a"]["selectors"] == ["mesh=a"]
    assert docs["team-b"]["selectors"] == ["mesh=b"] and docs[""]["scope"] == ""


async def test_grpc_status_per_scope(srig: Rig) -> None:
    import grpc

    from discofilter._generated.discofilter.v1 import admin_pb2 as pb
    from discofilter._generated.discofilter.v1 import admin_pb2_grpc as pb_grpc
    from discofilter.admin.grpc_server import start_admin_grpc
    from discofilter.server.admin_state import ProxyAdminState

    server, port = await start_admin_grpc(ProxyAdminState(srig.proxy), "127.0.0.1", 0)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
            stub = pb_grpc.AdminStub(ch)
            b = await stub.Status(pb.StatusRequest(scope="team-b"), timeout=5)
            assert b.scope == "team-b" and list(b.selectors) == ["mesh=b"]
            assert {n.name for n in b.namespaces} == {"istio-system", "b1"}
            d = await stub.Status(pb.StatusRequest(), timeout=5)
            assert d.scope == "" and {n.name for n in d.namespaces} == {"istio-system", "mesh-x"}
            with pytest.raises(grpc.aio.AioRpcError) as e:
                await stub.Status(pb.StatusRequest(scope="team-c"), timeout=5)
            assert e.value.code() == grpc.StatusCode.NOT_FOUND
    finally:
        await server.stop(None)
