"""Filtered WATCH through the proxy: filtering, bookmarks, WatchList, 410 on enrollment change."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from discofilter.filter.enrollment import EnrollmentChange
from discofilter.model import BOOKMARK
from tests.component.proxy.conftest import CONTENT_TYPES, MESH, Rig
from tests.component.proxy.helpers import WatchReader, open_watch

pytestmark = [pytest.mark.parametrize("ctype", CONTENT_TYPES), pytest.mark.timeout(30)]


async def test_watch_forwards_only_enrolled(rig: Rig, ctype: str) -> None:
    rv = rig.sim.store.resource_version
    async with aiohttp.ClientSession() as s:
        r, task = await open_watch(
            s, f"{rig.url}/api/v1/pods?watch=1&resourceVersion={rv}&allowWatchBookmarks=true",
            ctype,
        )  # fmt: skip
        rig.pod("p1", "mesh-a")
        rig.pod("x1", "batch")
        rig.pod("p2", "istio-system")
        rig.pod("p3", "mesh-b")
        await r.until(lambda ev: len([e for e in ev if e.type != BOOKMARK]) >= 3)
        await r.until(lambda ev: any(e.type == BOOKMARK for e in ev), within=5)
        assert r.objects() == [
            ("ADDED", "mesh-a", "p1"), ("ADDED", "istio-system", "p2"), ("ADDED", "mesh-b", "p3")
        ]  # fmt: skip
        [stream] = rig.proxy.registry.streams()
        assert stream.dropped_ns == {"batch"}
        assert stream.delivered_ns == {"mesh-a", "mesh-b", "istio-system"}
        task.cancel()


async def test_enrollment_join_ends_only_affected_streams(rig: Rig, ctype: str) -> None:
    rv = rig.sim.store.resource_version
    async with aiohttp.ClientSession() as s:
        pods, t1 = await open_watch(s, f"{rig.url}/api/v1/pods?watch=1&resourceVersion={rv}", ctype)
        svcs, t2 = await open_watch(
            s, f"{rig.url}/api/v1/services?watch=1&resourceVersion={rv}", ctype
        )
        # "late" is created after both streams' starting version: all of its objects cross
        # these streams, so only a stream that dropped one of them is inexact when it joins.
        rig.ns("late", {})
        rig.pod("x1", "late")
        rig.pod("p1", "mesh-a")
        await pods.until(lambda ev: len(ev) >= 1)
        await rig.until(lambda: "late" in rig.proxy.enrollment.namespaces(), within=5)
        rig.sim.store.set_namespace_labels("late", MESH)
        await pods.until(lambda ev: pods.error_code() is not None)
        assert pods.error_code() in (410, -1)
        assert pods.objects()[-1][0] == "ERROR"
        await asyncio.sleep(0.05)
        assert not svcs.done  # it never dropped anything from late: still exact
        await pods.until(lambda ev: pods.done)
        t1.cancel()
        t2.cancel()


async def test_enrollment_join_of_an_older_namespace_ends_resumed_streams(
    rig: Rig, ctype: str
) -> None:
    # batch existed before the client's LIST, which filtered out its quiet Service. No event of
    # that Service ever crosses the stream, so only the namespace's age tells the proxy that
    # the client is missing it (found by the bench's relabel-quiet-kinds scenario).
    rig.sim.store.create(
        "services",
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "quiet"},
         "spec": {"ports": [{"port": 80}]}},
        "batch",
    )  # fmt: skip
    rv = rig.sim.store.resource_version
    async with aiohttp.ClientSession() as s:
        svcs, t = await open_watch(
            s, f"{rig.url}/api/v1/services?watch=1&resourceVersion={rv}", ctype
        )
        rig.sim.store.set_namespace_labels("batch", MESH)
        await svcs.until(lambda ev: svcs.error_code() is not None)
        assert svcs.error_code() in (410, -1)
        t.cancel()


async def test_enrollment_leave_ends_streams_that_delivered(rig: Rig, ctype: str) -> None:
    rv = rig.sim.store.resource_version
    async with aiohttp.ClientSession() as s:
        pods, t1 = await open_watch(s, f"{rig.url}/api/v1/pods?watch=1&resourceVersion={rv}", ctype)
        rig.pod("p1", "mesh-a")
        await pods.until(lambda ev: len(ev) >= 1)
        rig.sim.store.set_namespace_labels("mesh-a", {})
        await pods.until(lambda ev: pods.error_code() is not None)
        t1.cancel()
    assert rig.proxy.registry.expired_total >= 1


async def test_watchlist_initial_events_filtered_with_end_bookmark(rig: Rig, ctype: str) -> None:
    rig.pod("p1", "mesh-a")
    rig.pod("x1", "batch")
    rig.pod("p2", "mesh-b")
    q = "watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true"
    async with aiohttp.ClientSession() as s:
        r, t = await open_watch(s, f"{rig.url}/api/v1/pods?{q}", ctype)
        await r.until(lambda ev: any(e.initial_events_end for e in ev))
        before_end = []
        for e in r.events:
            if e.initial_events_end:
                break
            before_end.append((e.type, e.namespace, e.name))
        assert sorted(x for x in before_end if x[0] != BOOKMARK) == [
            ("ADDED", "mesh-a", "p1"), ("ADDED", "mesh-b", "p2")
        ]  # fmt: skip
        t.cancel()


async def test_too_old_resource_version_propagates_410(rig: Rig, ctype: str) -> None:
    for i in range(3):
        rig.pod(f"p{i}", "mesh-a")
    rig.sim.store.resize_history(1)  # compact: resourceVersion 1 is now too old
    rig.pod("p9", "mesh-a")
    async with aiohttp.ClientSession() as s:
        resp = await s.get(
            f"{rig.url}/api/v1/pods?watch=1&resourceVersion=1", headers={"Accept": ctype}
        )
        if resp.status == 200:  # kube-apiserver's way: an ERROR event in a 200 stream
            r = WatchReader(resp)
            await asyncio.wait_for(r.run(), 5)
            assert r.error_code() in (410, -1)
        else:
            assert resp.status == 410
            resp.close()


async def test_upstream_eof_ends_client_stream_cleanly(rig: Rig, ctype: str) -> None:
    rv = rig.sim.store.resource_version
    async with aiohttp.ClientSession() as s:
        r, t = await open_watch(
            s, f"{rig.url}/api/v1/pods?watch=1&resourceVersion={rv}&timeoutSeconds=1", ctype
        )
        rig.pod("p1", "mesh-a")
        await r.until(lambda ev: r.done, within=5)
        assert ("ADDED", "mesh-a", "p1") in r.objects()
        await t
    await rig.until(lambda: len(rig.proxy.registry) == 0)


async def test_watch_resuming_from_before_a_flip_must_relist(rig: Rig, ctype: str) -> None:
    """The gap between a LIST (or an ended stream) and the next WATCH: the client's state was
    filtered under the old enrollment, so the resumed watch ends at once with 410."""
    rig.pod("x1", "batch")
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{rig.url}/api/v1/pods") as r:
            listed_rv = (await r.json())["metadata"]["resourceVersion"]
        rig.sim.store.set_namespace_labels("batch", MESH)  # joins while no watch is open
        await rig.until(lambda: rig.proxy.enrollment.is_enrolled("batch"))
        resp = await s.get(
            f"{rig.url}/api/v1/pods?watch=1&resourceVersion={listed_rv}", headers={"Accept": ctype}
        )
        r = WatchReader(resp)
        await asyncio.wait_for(r.run(), 5)
        assert r.error_code() in (410, -1) and r.objects()[0][0] == "ERROR"
        # A relist gives a resourceVersion after the flip: its watch is served normally.
        async with s.get(f"{rig.url}/api/v1/pods") as r2:
            doc = await r2.json()
        assert ("batch", "x1") in {
            (i["metadata"]["namespace"], i["metadata"]["name"]) for i in doc["items"]
        }
        new_rv = doc["metadata"]["resourceVersion"]
        fresh, t = await open_watch(
            s, f"{rig.url}/api/v1/pods?watch=1&resourceVersion={new_rv}", ctype
        )
        rig.pod("x2", "batch")
        await fresh.until(lambda ev: ("ADDED", "batch", "x2") in fresh.objects())
        t.cancel()


async def test_leave_ends_a_resumed_stream_that_never_delivered_the_namespace(
    rig: Rig, ctype: str
) -> None:
    # The client's LIST showed mesh-a's pod; no event of it ever crosses the watch. When mesh-a
    # leaves, only the stream's base version can tell that the client holds a stale object.
    rig.pod("p1", "mesh-a")
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{rig.url}/api/v1/pods") as r:
            listed = await r.json()
        assert [i["metadata"]["name"] for i in listed["items"]] == ["p1"]
        rv = listed["metadata"]["resourceVersion"]
        pods, t = await open_watch(s, f"{rig.url}/api/v1/pods?watch=1&resourceVersion={rv}", ctype)
        rig.sim.store.set_namespace_labels("mesh-a", {})
        await pods.until(lambda ev: pods.error_code() is not None)
        assert pods.error_code() in (410, -1)
        t.cancel()


@pytest.mark.parametrize(
    ("namespace", "labels"), [("mesh-a", {}), ("batch", MESH)], ids=["leave", "join"]
)
async def test_a_flip_while_the_upstream_watch_opens_ends_the_resumed_stream(
    rig: Rig, ctype: str, monkeypatch: pytest.MonkeyPatch, namespace: str,
    labels: dict[str, str],
) -> None:  # fmt: skip
    # The resume is checked before the upstream request, the stream registered after its
    # headers: a flip applied in between reached no stream. The client's LIST holds mesh-a's
    # pod (leave) or lacks batch's (join), and no event of it will ever cross the watch.
    rig.pod("p1", namespace)
    upstream = rig.proxy.upstream
    forward = upstream.request

    async def flip_in_flight(method: str, path: str, *args: object, **kw: object) -> object:
        if "watch=1" in path:
            rig.sim.store.set_namespace_labels(namespace, labels)
            await rig.until(lambda: rig.proxy.enrollment.is_enrolled(namespace) == bool(labels))
        return await forward(method, path, *args, **kw)  # type: ignore[arg-type]

    async with aiohttp.ClientSession() as s:
        async with s.get(f"{rig.url}/api/v1/pods") as r:
            rv = (await r.json())["metadata"]["resourceVersion"]
        monkeypatch.setattr(upstream, "request", flip_in_flight)
        resp = await s.get(
            f"{rig.url}/api/v1/pods?watch=1&resourceVersion={rv}", headers={"Accept": ctype}
        )
        reader = WatchReader(resp)
        await asyncio.wait_for(reader.run(), 5)
        assert reader.error_code() in (410, -1)  # -1: a protobuf ERROR frame
        assert [o[0] for o in reader.objects()] == ["ERROR"]


async def test_a_flip_applied_after_a_list_was_served_expires_its_version(
    rig: Rig, ctype: str
) -> None:
    # The namespace watch can lag a LIST: the LIST at version X is filtered under the old
    # enrollment while the flip's own version is <= X, so "X older than the newest flip" misses
    # it. The proxy remembers the enrollment generation each served version was filtered under.
    rig.pod("p1", "mesh-a")
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{rig.url}/api/v1/pods") as r:
            rv = (await r.json())["metadata"]["resourceVersion"]
        assert rig.proxy.served.generation_of(rv) == rig.proxy.enrollment_generation
        # A lagging flip lands now; its resourceVersion is older than the LIST's.
        rig.proxy.enrollment.apply_namespace("mesh-a", {})
        rig.proxy.apply_enrollment_changes([EnrollmentChange("mesh-a", False, None)])
        assert rig.proxy.namespaces.last_flip_rv <= int(rv)
        resp = await s.get(
            f"{rig.url}/api/v1/pods?watch=1&resourceVersion={rv}", headers={"Accept": ctype}
        )
        reader = WatchReader(resp)
        await asyncio.wait_for(reader.run(), 5)
        assert reader.error_code() in (410, -1)  # -1: a protobuf ERROR frame
        assert reader.objects()[-1][0] == "ERROR"
