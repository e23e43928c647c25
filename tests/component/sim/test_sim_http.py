"""The emulator on the wire, with a plain HTTP client: discovery, errors, LIST/WATCH semantics."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import orjson
import pytest

from discofilter.clock import FakeClock
from discofilter.model import INITIAL_EVENTS_END
from discofilter.sim import Simulator

# What kubectl get sends.
TABLE_ACCEPT = (
    "application/json;as=Table;v=v1;g=meta.k8s.io,"
    "application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
)
WAIT = 5.0


async def _json(session: aiohttp.ClientSession, url: str, **kw: Any) -> tuple[int, Any]:
    async with session.get(url, **kw) as r:
        return r.status, await r.json(content_type=None)


async def _lines(resp: aiohttp.ClientResponse, n: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for _ in range(n):
        line = await asyncio.wait_for(resp.content.readline(), WAIT)
        assert line, f"stream ended after {len(out)} events: {out}"
        out.append(orjson.loads(line))
    return out


async def _until_waiting(sim: Simulator, clock: FakeClock, n: int = 1) -> None:
    """Wait until the watch handlers are parked on the fake clock (timeout + ticker tasks)."""

    async def cond() -> None:
        # FakeClock has no "someone is sleeping" event; poll it, bounded by WAIT below.
        while clock.pending_sleepers < n:  # noqa: ASYNC110
            await asyncio.sleep(0.005)

    await asyncio.wait_for(cond(), WAIT)


async def test_discovery_documents(sim: Simulator) -> None:
    async with aiohttp.ClientSession(sim.url) as s:
        st, api = await _json(s, "/api")
        assert st == 200 and api["kind"] == "APIVersions" and api["versions"] == ["v1"]
        st, v1 = await _json(s, "/api/v1")
        names = {r["name"] for r in v1["resources"]}
        assert {
            "pods",
            "namespaces",
            "nodes",
            "services",
            "endpoints",
            "configmaps",
            "secrets",
        } <= names
        st, apis = await _json(s, "/apis")
        assert [g["name"] for g in apis["groups"]] == ["discovery.k8s.io"]
        st, gv = await _json(s, "/apis/discovery.k8s.io/v1")
        assert gv["resources"][0]["name"] == "endpointslices"
        st, ver = await _json(s, "/version")
        assert st == 200 and ver["major"] == "1"


async def test_aggregated_discovery_falls_back_to_legacy(sim: Simulator) -> None:
    # kubectl 1.27 asks for v2beta1, 1.33 for v2; both fall back on plain application/json.
    accept = (
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
        "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
    )
    async with aiohttp.ClientSession(sim.url) as s, s.get("/apis", headers={"Accept": accept}) as r:
        assert r.headers["Content-Type"] == "application/json"
        assert (await r.json())["kind"] == "APIGroupList"


async def test_unknown_path_and_resource_are_404_status(sim: Simulator) -> None:
    async with aiohttp.ClientSession(sim.url) as s:
        for path in (
            "/nope",
            "/api/v1/widgets",
            "/apis/apps/v1/deployments",
            "/api/v1/namespaces/x/pods/y/exec",
        ):
            st, body = await _json(s, path)
            assert st == 404 and body["kind"] == "Status" and body["reason"] == "NotFound", path
        st, body = await _json(s, "/api/v1/namespaces/mesh-a/pods/missing")
        assert st == 404 and body["details"] == {"name": "missing", "kind": "pods"}


async def test_crud_over_http(sim: Simulator) -> None:
    async with aiohttp.ClientSession(sim.url) as s:
        cm = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "c1"},
            "data": {"a": "1"},
        }
        async with s.post("/api/v1/namespaces/mesh-a/configmaps", json=cm) as r:
            assert r.status == 201
            created = await r.json()
        async with s.post("/api/v1/namespaces/mesh-a/configmaps", json=cm) as r:
            assert r.status == 409 and (await r.json())["reason"] == "AlreadyExists"
        created["data"]["a"] = "2"
        async with s.put("/api/v1/namespaces/mesh-a/configmaps/c1", json=created) as r:
            assert r.status == 200
        async with s.put("/api/v1/namespaces/mesh-a/configmaps/c1", json=created) as r:
            assert r.status == 409 and (await r.json())["reason"] == "Conflict"
        hdr = {"Content-Type": "application/strategic-merge-patch+json"}
        async with s.patch(
            "/api/v1/namespaces/mesh-a/configmaps/c1",
            data=b'{"metadata":{"labels":{"x":"y"}}}',
            headers=hdr,
        ) as r:
            assert r.status == 200 and (await r.json())["metadata"]["labels"] == {"x": "y"}
        ssa = {"Content-Type": "application/apply-patch+yaml"}
        async with s.patch("/api/v1/namespaces/mesh-a/configmaps/c1", data=b"{}", headers=ssa) as r:
            body = await r.json()
            assert r.status == 415 and "server-side apply" in body["message"]
        async with s.delete("/api/v1/namespaces/mesh-a/configmaps/c1") as r:
            assert r.status == 200
        async with s.get("/api/v1/pods", headers={"Accept": "application/yaml"}) as r:
            assert r.status == 406


async def test_table_and_partial_metadata(sim: Simulator) -> None:
    async with aiohttp.ClientSession(sim.url) as s:
        st, t = await _json(s, "/api/v1/pods", headers={"Accept": TABLE_ACCEPT})
        assert st == 200
        assert t["kind"] == "Table" and t["apiVersion"] == "meta.k8s.io/v1"
        assert [c["name"] for c in t["columnDefinitions"][:5]] == [
            "Name",
            "Ready",
            "Status",
            "Restarts",
            "Age",
        ]
        row = t["rows"][0]
        assert row["cells"][:4] == ["pod-0", "0/1", "Running", "0"]
        assert (
            row["object"]["kind"] == "PartialObjectMetadata"
            and row["object"]["metadata"]["namespace"] == "batch-b"
        )
        _, t = await _json(
            s, "/api/v1/namespaces?includeObject=Object", headers={"Accept": TABLE_ACCEPT}
        )
        assert [c["name"] for c in t["columnDefinitions"]] == [
            "Name",
            "Status",
            "Age",
        ]  # as kube-apiserver
        assert t["rows"][0]["object"]["kind"] == "Namespace"
        pom = "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io"
        _, pl = await _json(s, "/api/v1/pods?limit=2", headers={"Accept": pom})
        assert pl["kind"] == "PartialObjectMetadataList" and len(pl["items"]) == 2
        assert "continue" in pl["metadata"] and "spec" not in pl["items"][0]


async def test_watch_from_resource_version_streams_later_events_in_order(sim: Simulator) -> None:
    store = sim.store
    rv = store.resource_version
    store.create("pods", {"metadata": {"name": "early"}}, "mesh-a")
    async with (
        aiohttp.ClientSession(sim.url) as s,
        s.get(f"/api/v1/pods?watch=true&resourceVersion={rv}") as r,
    ):
        assert r.headers["Content-Type"] == "application/json"
        store.patch("pods", "early", "mesh-a", {"metadata": {"labels": {"a": "b"}}}, "merge")
        store.delete("pods", "early", "mesh-a")
        evs = await _lines(r, 3)
        assert [e["type"] for e in evs] == ["ADDED", "MODIFIED", "DELETED"]
        rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in evs]
        assert rvs == sorted(rvs) and rvs[0] == rv + 1


async def test_watch_unset_rv_sends_synthetic_added_then_live(sim: Simulator) -> None:
    async with (
        aiohttp.ClientSession(sim.url) as s,
        s.get("/api/v1/namespaces/mesh-a/pods?watch=1&labelSelector=app%3Dweb") as r,
    ):
        evs = await _lines(r, 2)
        assert [(e["type"], e["object"]["metadata"]["name"]) for e in evs] == [
            ("ADDED", "pod-1"),
            ("ADDED", "pod-2"),
        ]
        sim.store.create(
            "pods", {"metadata": {"name": "other", "labels": {"app": "web"}}}, "batch-b"
        )
        sim.store.create("pods", {"metadata": {"name": "new", "labels": {"app": "web"}}}, "mesh-a")
        (ev,) = await _lines(r, 1)
        assert ev["object"]["metadata"]["name"] == "new"


async def test_watch_selector_transitions(sim: Simulator) -> None:
    rv = sim.store.resource_version
    url = f"/api/v1/pods?watch=true&resourceVersion={rv}&labelSelector=app%3Dweb"
    async with aiohttp.ClientSession(sim.url) as s, s.get(url) as r:
        sim.store.patch("pods", "pod-1", "mesh-a", {"metadata": {"labels": {"app": "db"}}}, "merge")
        sim.store.patch(
            "pods", "pod-0", "mesh-a", {"metadata": {"labels": {"app": "web"}}}, "merge"
        )
        evs = await _lines(r, 2)
        assert [(e["type"], e["object"]["metadata"]["name"]) for e in evs] == [
            ("DELETED", "pod-1"),
            ("ADDED", "pod-0"),
        ]
        assert evs[0]["object"]["metadata"]["labels"]["app"] == "web"


async def test_send_initial_events_ends_with_annotated_bookmark(sim: Simulator) -> None:
    url = (
        "/api/v1/namespaces?watch=true&sendInitialEvents=true"
        "&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true"
    )
    async with aiohttp.ClientSession(sim.url) as s, s.get(url) as r:
        evs = await _lines(r, 3)
        assert [e["type"] for e in evs] == ["ADDED", "ADDED", "BOOKMARK"]
        bm = evs[2]["object"]
        assert bm["kind"] == "Namespace" and bm["metadata"]["annotations"] == {
            INITIAL_EVENTS_END: "true"
        }
        assert bm["metadata"]["resourceVersion"] == str(sim.store.resource_version)


async def test_bookmarks_follow_the_injected_clock(sim: Simulator, clock: FakeClock) -> None:
    async with (
        aiohttp.ClientSession(sim.url) as s,
        s.get(
            f"/api/v1/pods?watch=true&allowWatchBookmarks=true&resourceVersion={sim.store.resource_version}"
        ) as r,
    ):
        await _until_waiting(sim, clock, 2)
        sim.store.create(
            "configmaps", {"metadata": {"name": "bump"}}, "mesh-a"
        )  # moves the global RV
        clock.advance(5.0)
        (ev,) = await _lines(r, 1)
        assert ev["type"] == "BOOKMARK" and ev["object"]["metadata"]["resourceVersion"] == str(
            sim.store.resource_version
        )


async def test_timeout_seconds_ends_the_stream(sim: Simulator, clock: FakeClock) -> None:
    async with (
        aiohttp.ClientSession(sim.url) as s,
        s.get(
            f"/api/v1/pods?watch=true&timeoutSeconds=30&resourceVersion={sim.store.resource_version}"
        ) as r,
    ):
        await _until_waiting(sim, clock, 1)
        clock.advance(31)
        assert await asyncio.wait_for(r.content.read(), WAIT) == b""


async def test_compacted_resource_version_gives_410_error_event(sim: Simulator) -> None:
    old = sim.store.resource_version
    for i in range(80):  # history_size is 50
        sim.store.create("configmaps", {"metadata": {"name": f"c{i}"}}, "mesh-a")
    async with (
        aiohttp.ClientSession(sim.url) as s,
        s.get(f"/api/v1/configmaps?watch=true&resourceVersion={old}") as r,
    ):
        assert r.status == 200
        (ev,) = await _lines(r, 1)
        assert (
            ev["type"] == "ERROR"
            and ev["object"]["code"] == 410
            and ev["object"]["reason"] == "Expired"
        )
        assert await asyncio.wait_for(r.content.read(), WAIT) == b""


async def test_table_watch_has_headers_only_first(sim: Simulator) -> None:
    async with (
        aiohttp.ClientSession(sim.url) as s,
        s.get("/api/v1/namespaces/mesh-a/pods?watch=true", headers={"Accept": TABLE_ACCEPT}) as r,
    ):
        evs = await _lines(r, 3)
        assert all(e["object"]["kind"] == "Table" and len(e["object"]["rows"]) == 1 for e in evs)
        assert (
            "columnDefinitions" in evs[0]["object"] and "columnDefinitions" not in evs[1]["object"]
        )


@pytest.mark.parametrize("accept", ["application/vnd.kubernetes.protobuf, application/json", None])
async def test_negotiation_falls_back_to_json(sim: Simulator, accept: str | None) -> None:
    from discofilter.sim.encoding import protobuf_encoding

    headers = {"Accept": accept} if accept else {}
    async with (
        aiohttp.ClientSession(sim.url) as s,
        s.get("/api/v1/namespaces", headers=headers) as r,
    ):
        want = "application/json"
        if accept and protobuf_encoding() is not None:
            want = "application/vnd.kubernetes.protobuf"
        assert r.headers["Content-Type"].startswith(want)


async def test_large_lists_are_gzipped_when_accepted(sim: Simulator) -> None:
    for i in range(60):
        sim.store.create(
            "configmaps", {"metadata": {"name": f"big{i}"}, "data": {"k": "x" * 4000}}, "mesh-a"
        )
    async with aiohttp.ClientSession(sim.url, auto_decompress=False) as s:
        async with s.get("/api/v1/configmaps", headers={"Accept-Encoding": "gzip"}) as r:
            raw = await r.read()
            assert r.headers.get("Content-Encoding") == "gzip" and raw[:2] == b"\x1f\x8b"
        async with s.get("/api/v1/configmaps", headers={"Accept-Encoding": "identity"}) as r:
            assert "Content-Encoding" not in r.headers and len(await r.read()) > 128 * 1024
        async with s.get("/api/v1/pods", headers={"Accept-Encoding": "gzip"}) as r:
            assert "Content-Encoding" not in r.headers  # small bodies are not compressed


async def test_close_watches_and_compact(sim: Simulator) -> None:
    rv = sim.store.resource_version
    async with aiohttp.ClientSession(sim.url) as s:
        async with s.get(f"/api/v1/pods?watch=true&resourceVersion={rv}") as r:
            sim.store.create("pods", {"metadata": {"name": "x"}}, "mesh-a")
            await _lines(r, 1)
            assert sim.close_watches() == 1
            assert await asyncio.wait_for(r.content.read(), WAIT) == b""
        sim.store.compact()
        async with s.get(f"/api/v1/pods?watch=true&resourceVersion={rv}") as r:
            (ev,) = await _lines(r, 1)
            assert ev["type"] == "ERROR" and ev["object"]["code"] == 410
        async with s.get(
            f"/api/v1/pods?watch=true&resourceVersion={sim.store.resource_version}&timeoutSeconds=1"
        ) as r:
            sim.store.create("pods", {"metadata": {"name": "y"}}, "mesh-a")
            (ev,) = await _lines(r, 1)
            assert ev["type"] == "ADDED"
