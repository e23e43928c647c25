"""``serve`` with shared watches against the emulator: one upstream LIST+WATCH per kind, every
client served from the cache with kube-apiserver's semantics (docs/shared-watches.md).

The proxy authorizes each client with a real ``ReviewAuthorizer`` (SelfSubjectAccessReview
against the emulator's policy). The emulator's own counters (``Simulator.metrics``) say what
the upstream paid: open watches, LIST requests.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest

from discofilter.codec import decoder_for
from discofilter.codec.mediatype import JSON, PROTOBUF
from discofilter.config import Config, with_overrides
from discofilter.model import ADDED, BOOKMARK, DELETED, ERROR, INITIAL_EVENTS_END
from discofilter.sim.server import Simulator
from tests.component.proxy.conftest import MESH, Rig, start_populated_rig, start_rig, stop_rig
from tests.component.proxy.helpers import WatchReader, open_watch

pytestmark = pytest.mark.timeout(60)

CTYPES = [JSON, PROTOBUF]


def shared_config(**shared: Any) -> Config:
    cfg = with_overrides(Config(), enrollment={"selectors": ("istio-injection=enabled",)})
    return with_overrides(cfg, shared_watches={"enabled": True, **shared})


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    r = await start_populated_rig(shared_config(), Simulator(bookmark_interval=0.5))
    yield r
    await stop_rig(r)


def cluster_watches(rig: Rig, resource: str = "pods") -> int:
    return rig.sim.metrics.open[(resource, "cluster")]


def reflector(rig: Rig) -> Any:
    shared = rig.proxy.shared
    assert shared is not None
    (entry,) = shared._keys.values()
    return entry.reflector


async def get_list(s: aiohttp.ClientSession, url: str, ctype: str = JSON) -> tuple[int, Any]:
    async with s.get(url, headers={"Accept": ctype}) as r:
        body = await r.read()
        if ctype == JSON or r.status != 200:
            return r.status, orjson.loads(body)
        return r.status, body


def _expired_or_done(reader: WatchReader, _events: object) -> bool:
    return reader.error_code() == 410 or reader.done


def names(doc: Any) -> set[tuple[str, str]]:
    return {(i["metadata"]["namespace"], i["metadata"]["name"]) for i in doc["items"]}


@pytest.mark.parametrize("ctype", CTYPES)
async def test_many_clients_one_upstream_watch_each_sees_the_filtered_truth(
    rig: Rig, ctype: str
) -> None:
    for i in range(3):
        rig.pod(f"a{i}", "mesh-a")
        rig.pod(f"x{i}", "batch")
    async with aiohttp.ClientSession() as s:
        watches = [
            await open_watch(s, f"{rig.url}/api/v1/pods?watch=1&resourceVersion=0", ctype)
            for _ in range(5)
        ]
        for reader, _t in watches:
            await reader.until(lambda evs: len(evs) >= 3)
        rig.pod("a3", "mesh-a")
        rig.pod("x3", "batch")
        for reader, _t in watches:
            await reader.until(lambda evs: any(e.name == "a3" for e in evs))
            assert {(e.namespace, e.name) for e in reader.events if e.type == ADDED} == (
                rig.expected()
            )
        # The API server paid for one watch, not five.
        assert cluster_watches(rig) == 1
        assert reflector(rig).lists == 1
        for _reader, t in watches:
            t.cancel()


async def test_list_from_cache_rv0_consistent_and_paged(rig: Rig) -> None:
    for i in range(5):
        rig.pod(f"a{i}", "mesh-a")
        rig.pod(f"x{i}", "batch")
    async with aiohttp.ClientSession() as s:
        st, doc = await get_list(s, f"{rig.url}/api/v1/pods?resourceVersion=0")
        assert st == 200 and names(doc) == rig.expected()
        assert doc["kind"] == "PodList" and doc["items"][0]["kind"] == "Pod"
        # Consistent read: a write just made is in the answer (the cache waited for it).
        rig.pod("fresh", "mesh-b")
        st, doc = await get_list(s, f"{rig.url}/api/v1/pods")
        assert st == 200 and ("mesh-b", "fresh") in names(doc)
        assert names(doc) == rig.expected()
        # Pages of one snapshot, in key order, with continue tokens the cache issued.
        got: list[tuple[str, str]] = []
        url = f"{rig.url}/api/v1/pods?limit=2"
        while True:
            st, page = await get_list(s, url)
            assert st == 200
            got += [(i["metadata"]["namespace"], i["metadata"]["name"]) for i in page["items"]]
            token = page["metadata"].get("continue")
            if not token:
                break
            url = f"{rig.url}/api/v1/pods?limit=2&continue={token}"
        assert got == sorted(rig.expected())
        # One upstream LIST of pods for the cache (plus the consistent read's limit=1 probe).
        stats = reflector(rig)
        assert stats.lists == 1
        assert rig.proxy.shared.snapshot()[0].lists_from_cache >= 5  # type: ignore[union-attr]


async def test_expired_continue_token_is_410_and_a_foreign_token_goes_upstream(rig: Rig) -> None:
    for i in range(3):
        rig.pod(f"a{i}", "mesh-a")
    async with aiohttp.ClientSession() as s:
        st, first = await get_list(s, f"{rig.url}/api/v1/pods?limit=1")
        token = first["metadata"]["continue"]
        # More pinned snapshots than the cache keeps: the first is evicted (oldest first).
        for _ in range(16):
            await get_list(s, f"{rig.url}/api/v1/pods?limit=1")
        st, doc = await get_list(s, f"{rig.url}/api/v1/pods?limit=1&continue={token}")
        assert st == 410 and doc["reason"] == "Expired" and doc["kind"] == "Status"
        # A token the cache did not issue is the API server's business (here: it refuses it).
        st, doc = await get_list(s, f"{rig.url}/api/v1/pods?limit=1&continue=bm90LW91cnM")
        assert st != 200 or doc["kind"] == "PodList"


@pytest.mark.parametrize("ctype", CTYPES)
async def test_resume_inside_the_window_replays_and_too_old_is_410(rig: Rig, ctype: str) -> None:
    async with aiohttp.ClientSession() as s:
        # Starts the key (JSON and protobuf are two keys: a cache keeps wire bytes).
        await get_list(s, f"{rig.url}/api/v1/pods?resourceVersion=0", ctype)
        r = reflector(rig)
        start = r.cache.resource_version
        rig.pod("a0", "mesh-a")
        rig.pod("x0", "batch")
        rig.pod("a1", "mesh-a")
        reader, t = await open_watch(
            s, f"{rig.url}/api/v1/pods?watch=1&resourceVersion={start}", ctype
        )
        await reader.until(lambda evs: len([e for e in evs if e.type == ADDED]) >= 2)
        assert [e.name for e in reader.events if e.type == ADDED] == ["a0", "a1"]
        t.cancel()
        old, _t2 = await open_watch(s, f"{rig.url}/api/v1/pods?watch=1&resourceVersion=1", ctype)
        await old.until(lambda evs: old.done or bool(evs))
        assert [e.type for e in old.events] == [ERROR]
        if ctype == JSON:
            assert old.error_code() == 410


@pytest.mark.parametrize("ctype", CTYPES)
async def test_watchlist_initial_events_then_bookmark(rig: Rig, ctype: str) -> None:
    rig.pod("a0", "mesh-a")
    rig.pod("b0", "mesh-b")
    rig.pod("x0", "batch")
    url = (
        f"{rig.url}/api/v1/pods?watch=1&sendInitialEvents=true&allowWatchBookmarks=true"
        "&resourceVersionMatch=NotOlderThan"
    )
    async with aiohttp.ClientSession() as s:
        reader, t = await open_watch(s, url, ctype)
        await reader.until(lambda evs: any(e.initial_events_end for e in evs), within=10)
        end = next(i for i, e in enumerate(reader.events) if e.initial_events_end)
        assert {(e.namespace, e.name) for e in reader.events[:end]} == rig.expected()
        assert all(e.type == ADDED for e in reader.events[:end])
        assert reader.events[end].type == BOOKMARK
        t.cancel()
    assert INITIAL_EVENTS_END  # the annotation the decoder read


async def test_flips_410_the_streams_and_the_namespace_is_listed_once(rig: Rig) -> None:
    rig.pod("a0", "mesh-a")
    rig.pod("x0", "batch")
    async with aiohttp.ClientSession() as s:
        readers = [
            await open_watch(s, f"{rig.url}/api/v1/pods?watch=1&resourceVersion=0", JSON)
            for _ in range(3)
        ]
        for reader, _t in readers:
            await reader.until(lambda evs: len(evs) >= 1)
        rig.sim.store.set_namespace_labels("batch", MESH)  # joins
        for reader, _t in readers:
            ended = functools.partial(_expired_or_done, reader)
            await reader.until(ended, within=10)
        assert all(r.error_code() == 410 for r, _t in readers)
        st, doc = await get_list(s, f"{rig.url}/api/v1/pods")
        assert st == 200 and names(doc) == rig.expected() and ("batch", "x0") in names(doc)
        # Three clients, one namespace LIST upstream (not three cluster-wide relists).
        r = reflector(rig)
        assert r.namespace_lists == 1 and r.lists == 1
        rig.sim.store.set_namespace_labels("mesh-a", {})  # leaves
        await rig.until(lambda: not rig.proxy.enrollment.is_enrolled("mesh-a"))
        st, doc = await get_list(s, f"{rig.url}/api/v1/pods?resourceVersion=0")
        assert names(doc) == rig.expected() and ("mesh-a", "a0") not in names(doc)
        for _r, t in readers:
            t.cancel()


async def test_callers_are_authorized_as_themselves(rig: Rig) -> None:
    def policy(token: str | None, attrs: Any) -> bool:
        if token == "limited":
            return attrs.get("namespace") == "mesh-a"
        return token == "admin"

    rig.sim.access_policy = policy
    rig.sim.access_tokens = frozenset({"admin", "limited"})
    rig.pod("a0", "mesh-a")
    admin = {"Authorization": "Bearer admin"}
    limited = {"Authorization": "Bearer limited"}
    async with aiohttp.ClientSession() as s:
        stream = await s.get(f"{rig.url}/api/v1/pods?watch=1&resourceVersion=0", headers=admin)
        assert stream.status == 200
        for url in ("/api/v1/pods", "/api/v1/pods?watch=1"):
            async with s.get(rig.url + url, headers=limited) as r:
                body = orjson.loads(await r.read())
                assert r.status == 403 and body["kind"] == "Status" and body["code"] == 403
                assert b"limited" not in orjson.dumps(body)
            async with s.get(rig.url + url, headers={"Authorization": "Bearer nobody"}) as r:
                assert r.status == 401
        # Its namespace-scoped reads are the API server's to judge (passed through as today).
        async with s.get(f"{rig.url}/api/v1/namespaces/mesh-a/pods", headers=limited) as r:
            assert r.status == 200
        # Meanwhile the admin's stream from the same key carries on.
        rig.pod("a1", "mesh-a")
        dec = decoder_for(stream.headers["Content-Type"])
        seen: list[str] = []
        async with asyncio.timeout(10):
            while "a1" not in seen:
                seen += [e.name for e in dec.feed(await stream.content.readany())]
        stream.close()
    snap = rig.proxy.shared.snapshot()  # type: ignore[union-attr]
    assert sum(k.denied for k in snap) == 4


async def test_table_requests_and_unknown_parameters_take_the_direct_path(rig: Rig) -> None:
    rig.pod("a0", "mesh-a")
    rig.pod("x0", "batch")
    async with aiohttp.ClientSession() as s, s.get(f"{rig.url}/api/v1/pods?pretty=true") as r:
        doc = orjson.loads(await r.read())
        assert r.status == 200 and names(doc) == rig.expected()
    assert rig.proxy.shared is not None and rig.proxy.shared.snapshot() == []


async def test_timeout_seconds_ends_a_cached_watch_cleanly(rig: Rig) -> None:
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{rig.url}/api/v1/pods?watch=1&timeoutSeconds=1") as r:
            assert r.status == 200
            body = await asyncio.wait_for(r.read(), 10)
        assert ERROR.encode() not in body
    await rig.until(lambda: len(rig.proxy.registry) == 0)


async def test_upstream_watch_reset_resumes_without_gap_or_duplicate(rig: Rig) -> None:
    async with aiohttp.ClientSession() as s:
        reader, t = await open_watch(s, f"{rig.url}/api/v1/pods?watch=1&resourceVersion=0", JSON)
        rig.pod("a0", "mesh-a")
        await reader.until(lambda evs: any(e.name == "a0" for e in evs))
        assert rig.sim.close_watches() >= 1  # the reflector's upstream watch is cut
        rig.pod("a1", "mesh-a")
        rig.sim.store.delete("pods", "a0", "mesh-a")
        await reader.until(lambda evs: any(e.type == DELETED for e in evs), within=10)
        objs = [(e.type, e.name) for e in reader.events if e.type in (ADDED, DELETED)]
        assert objs == [(ADDED, "a0"), (ADDED, "a1"), (DELETED, "a0")]
        assert reflector(rig).lists == 1  # resumed from its RV: no relist
        t.cancel()


async def test_upstream_410_relists_and_clients_get_410(rig: Rig) -> None:
    async with aiohttp.ClientSession() as s:
        reader, t = await open_watch(s, f"{rig.url}/api/v1/pods?watch=1&resourceVersion=0", JSON)
        rig.pod("a0", "mesh-a")
        await reader.until(lambda evs: any(e.name == "a0" for e in evs))
        # The reflector's watch is cut, and before it can resume (no await in between) the
        # upstream moves on and compacts: its resume is answered 410, it relists.
        rig.sim.close_watches()
        for i in range(3):
            rig.pod(f"a{i + 1}", "mesh-a")
        rig.sim.store.compact("pods")
        await reader.until(lambda evs: reader.error_code() == 410 or reader.done, within=10)
        t.cancel()
        r = reflector(rig)
        await rig.until(lambda: r.lists >= 2, within=10)
        _st, doc = await get_list(s, f"{rig.url}/api/v1/pods")
        assert names(doc) == rig.expected()


async def test_metrics_describe_the_keys(rig: Rig) -> None:
    from discofilter.metrics import Metrics
    from discofilter.server.shared.metrics import SharedWatchCollector

    m = Metrics()
    assert rig.proxy.shared is not None
    m.watch_collector("shared", SharedWatchCollector(rig.proxy.shared.snapshot))
    rig.pod("a0", "mesh-a")
    async with aiohttp.ClientSession() as s:
        reader, t = await open_watch(s, f"{rig.url}/api/v1/pods?watch=1", JSON)
        await reader.until(lambda evs: bool(evs))
        text = m.exposition().decode()
        labels = '{content_type="application/json",resource="/v1/pods",selectors=""}'
        assert f"discofilter_shared_upstream_watches{labels} 1.0" in text
        assert f"discofilter_shared_clients{labels} 1.0" in text
        assert "discofilter_shared_cache_objects" in text
        t.cancel()


async def test_consistent_read_of_a_quiet_kind_is_served_from_the_cache_after_a_probe() -> None:
    # Bookmarks once a minute, as kube-apiserver's: only the probe can tell the cache that
    # nothing happened to pods while other kinds moved the upstream's resourceVersion on.
    r = await start_rig(shared_config(), sim=Simulator(bookmark_interval=60.0))
    try:
        r.ns("mesh-a", MESH)
        r.pod("a0", "mesh-a")
        await r.proxy.namespaces.ready.wait()
        async with aiohttp.ClientSession() as s:
            st, doc = await get_list(s, f"{r.url}/api/v1/pods?resourceVersion=0")
            assert st == 200
            for i in range(3):
                r.ns(f"other-{i}")  # the upstream's RV moves; no pod event
            st, doc = await get_list(s, f"{r.url}/api/v1/pods")
            assert st == 200 and names(doc) == r.expected()
            assert int(doc["metadata"]["resourceVersion"]) >= r.sim.store.resource_version
        ref = reflector(r)
        assert ref.probes >= 1 and ref.progressed_by_probe >= 1
        snap = r.proxy.shared.snapshot()  # type: ignore[union-attr]
        assert snap[0].lists_from_upstream == 0
    finally:
        await stop_rig(r)
