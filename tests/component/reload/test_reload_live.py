"""Live reload against an in-process proxy and the emulator: selectors converge like namespace
relabels (contract 3), unaffected streams stay open, bad files change nothing, the file poll
runs on an injected clock."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from discofilter.classify import ResourceRef
from discofilter.server.reload import SETTLE_SECONDS, ConfigFileWatch
from tests.component.proxy.conftest import CONTENT_TYPES
from tests.component.proxy.helpers import WatchReader, open_watch
from tests.component.reload.conftest import MESH_ONLY, ReloadRig, start_reload_rig, stop_rig

pytestmark = pytest.mark.timeout(30)

MESH_OR_BATCH = MESH_ONLY + "  - matchLabels: {tier: batch}\n"
BATCH_ONLY = "discoverySelectors:\n  - matchLabels: {tier: batch}\n"
NOBODY = "discoverySelectors:\n  - matchLabels: {nobody: here}\n"


def service(name: str, namespace: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": namespace}, "spec": {}}  # fmt: skip


def reloads(rr: ReloadRig, result: str) -> float:
    value = rr.metrics.registry.get_sample_value(
        "discofilter_config_reloads_total", {"result": result}
    )
    return value or 0.0


NO_EXCLUSIONS = "streams: {upstreamExcludedNamespaces: 0}\n"


@pytest.fixture
async def rr_all_events(tmp_path: Path) -> AsyncIterator[ReloadRig]:
    """A reload rig whose watches get every namespace's events (no exclusions upstream)."""
    r = await start_reload_rig(tmp_path, text=MESH_ONLY + NO_EXCLUSIONS)
    yield r
    await r.reloader.stop()
    await stop_rig(r.rig)


@pytest.mark.parametrize("ctype", CONTENT_TYPES)
async def test_new_selectors_end_only_affected_streams(
    rr_all_events: ReloadRig, ctype: str
) -> None:
    """A stream resumed from a LIST (pods) ends when a namespace joins: it dropped batch's pod,
    and its LIST filtered out what batch held. A stream that carries the whole state itself
    (a watch without resourceVersion: synthetic ADDED events first) and never saw batch stays
    open and keeps receiving. (That needs every namespace's events: with batch left out
    upstream, the full-state stream cannot know batch holds no services and ends too; see
    tests/component/proxy/test_exclusions.py.)"""
    rr = rr_all_events
    rig = rr.rig
    rig.sim.store.create("services", service("s1", "mesh-a"), "mesh-a")
    rv = rig.sim.store.resource_version
    async with aiohttp.ClientSession() as s:
        pods, t1 = await open_watch(s, f"{rig.url}/api/v1/pods?watch=1&resourceVersion={rv}", ctype)
        svcs, t2 = await open_watch(s, f"{rig.url}/api/v1/services?watch=1", ctype)
        rig.pod("x1", "batch")  # dropped by the pods stream
        rig.pod("p1", "mesh-a")
        await pods.until(lambda ev: ("ADDED", "mesh-a", "p1") in pods.objects())
        await svcs.until(lambda ev: ("ADDED", "mesh-a", "s1") in svcs.objects())

        rr.write(MESH_OR_BATCH + NO_EXCLUSIONS)
        result = await rr.reloader.reload("test")

        assert result.ok and result.added == ("batch",) and result.removed == ()
        assert result.streams_ended == 1
        await pods.until(lambda ev: pods.done)
        assert pods.error_code() in (410, -1) and pods.objects()[-1][0] == "ERROR"
        # The services stream never dropped anything of batch and holds no LIST: still exact.
        rig.sim.store.create("services", service("s2", "mesh-a"), "mesh-a")
        await svcs.until(lambda ev: ("ADDED", "mesh-a", "s2") in svcs.objects())
        assert not svcs.done and svcs.error_code() is None
        # A new stream filters with the new selectors.
        fresh, t3 = await open_watch(
            s, f"{rig.url}/api/v1/pods?watch=1&resourceVersion={rig.sim.store.resource_version}",
            ctype,
        )  # fmt: skip
        rig.pod("x2", "batch")
        await fresh.until(lambda ev: ("ADDED", "batch", "x2") in fresh.objects())
        for t in (t1, t2, t3):
            t.cancel()
    assert rig.proxy.enrollment.matching_term("batch") == "discoverySelectors[1]"
    assert reloads(rr, "ok") == 1


async def test_a_namespace_leaving_ends_streams_that_delivered_it(rr: ReloadRig) -> None:
    rig = rr.rig
    rv = rig.sim.store.resource_version
    async with aiohttp.ClientSession() as s:
        pods, t1 = await open_watch(s, f"{rig.url}/api/v1/pods?watch=1&resourceVersion={rv}", "")
        # Watched from "" the configmaps stream carries its client's whole state itself, and it
        # never delivers anything from mesh-a/mesh-b: exact after they leave. (A stream resumed
        # from a LIST would end: that LIST may have shown their ConfigMaps;
        # server/streams/registry.py.)
        cms, t2 = await open_watch(s, f"{rig.url}/api/v1/configmaps?watch=1", "")
        rig.pod("p1", "mesh-b")
        cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
        rig.sim.store.create("configmaps", {**cm, "metadata": {"name": "c1"}}, "istio-system")
        await pods.until(lambda ev: len(pods.objects()) == 1)
        await cms.until(lambda ev: len(cms.objects()) == 1)

        rr.write(NOBODY)  # only leaves: mesh-a and mesh-b (istio-system is always enrolled)
        result = await rr.reloader.reload("test")

        assert result.removed == ("mesh-a", "mesh-b") and result.added == ()
        assert result.streams_ended == 1
        await pods.until(lambda ev: pods.done)
        assert pods.error_code() == 410
        rig.sim.store.create("configmaps", {**cm, "metadata": {"name": "c2"}}, "istio-system")
        await cms.until(lambda ev: ("ADDED", "istio-system", "c2") in cms.objects())
        assert not cms.done
        t1.cancel()
        t2.cancel()


async def test_a_watch_resuming_from_before_the_reload_relists(rr: ReloadRig) -> None:
    """Between streams: state LISTed under the old selectors must not be resumed."""
    rig = rr.rig
    rig.pod("x1", "batch")
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{rig.url}/api/v1/pods") as r:
            listed_rv = (await r.json())["metadata"]["resourceVersion"]
        rr.write(MESH_OR_BATCH)
        result = await rr.reloader.reload("test")
        assert result.stamp == int(listed_rv) + 1  # nothing was written since the LIST
        resp = await s.get(f"{rig.url}/api/v1/pods?watch=1&resourceVersion={listed_rv}")
        old = WatchReader(resp)
        await asyncio.wait_for(old.run(), 5)
        assert old.error_code() == 410
        rig.pod("p9", "mesh-a")  # the cluster moves on (leases do that every few seconds)
        async with s.get(f"{rig.url}/api/v1/pods") as r:
            doc = await r.json()
        assert ("batch", "x1") in {
            (i["metadata"]["namespace"], i["metadata"]["name"]) for i in doc["items"]
        }
        new_rv = doc["metadata"]["resourceVersion"]
        fresh, t = await open_watch(
            s, f"{rig.url}/api/v1/pods?watch=1&resourceVersion={new_rv}", ""
        )
        rig.pod("x2", "batch")
        await fresh.until(lambda ev: ("ADDED", "batch", "x2") in fresh.objects())
        t.cancel()


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("discoverySelectors:\n  - matchLabel: {a: b}\n", ":2: discoverySelectors[0]"),
        ("server:\n  listne: 1\n", ":2: server.listne: unknown key"),
        ("discoverySelectors: [\n", "not valid YAML"),
        ("churnControl:\n  rules:\n    - {resource: pods, windowSeconds: -1}\n", "churnControl"),
        ("server: {listen: '0.0.0.0:8443'}\n", "without TLS"),
    ],
)
async def test_a_bad_file_is_rejected_and_the_running_config_stays(
    rr: ReloadRig, text: str, where: str, caplog: pytest.LogCaptureFixture
) -> None:
    rig = rr.rig
    before, stamp_before = rig.proxy.config, rig.proxy.namespaces.last_flip_rv
    rr.write(text)
    with caplog.at_level(logging.ERROR, logger="discofilter.server.reload"):
        result = await rr.reloader.reload("test")
    assert not result.ok and where in result.error
    assert rig.proxy.config is before
    assert rig.proxy.enrollment.enrolled() == {"istio-system", "mesh-a", "mesh-b"}
    assert rig.proxy.namespaces.last_flip_rv == stamp_before
    assert reloads(rr, "rejected") == 1 and reloads(rr, "ok") == 0
    assert any(where in str(getattr(r, "error", "")) for r in caplog.records)
    # Fixing the file applies it.
    rr.write(MESH_OR_BATCH)
    assert (await rr.reloader.reload("test")).added == ("batch",)


async def test_file_change_is_polled_on_the_injected_clock(rr: ReloadRig) -> None:
    rig, clock, reloader = rr.rig, rr.clock, rr.reloader
    reloader.start()
    await rig.until(lambda: clock.pending_sleepers == 1)
    rr.write(MESH_OR_BATCH)
    clock.advance(1.0)  # the poll runs every 2 s
    await asyncio.sleep(0)
    assert not reloader.results and clock.pending_sleepers == 1
    clock.advance(1.0)  # the poll sees the change, then waits for the file to settle...
    await rig.until(lambda: clock.pending_sleepers == 1)
    rr.write(MESH_OR_BATCH + "alwaysEnrolled: [istio-system, batch]\n")  # ...still written
    clock.advance(SETTLE_SECONDS)
    await rig.until(lambda: clock.pending_sleepers == 1)  # back to polling, nothing loaded
    assert not reloader.results
    clock.advance(2.0)
    await rig.until(lambda: clock.pending_sleepers == 1)  # settling on the final content
    clock.advance(SETTLE_SECONDS)
    await rig.until(lambda: len(reloader.results) == 1)
    assert reloader.results[0].trigger == "file change" and reloader.results[0].ok
    assert rig.proxy.enrollment.matching_term("batch") == "alwaysEnrolled"
    # An unchanged file is not reloaded again.
    await rig.until(lambda: clock.pending_sleepers == 1)
    clock.advance(2.0)
    await rig.until(lambda: clock.pending_sleepers == 1)
    assert len(reloader.results) == 1


async def test_a_change_made_during_start_up_is_caught_up_once(rr: ReloadRig) -> None:
    # A worker still starting ignores its parent's SIGHUP, and its poll's baseline is taken
    # after the load: without the catch-up it would serve the old file until the next edit.
    rig, reloader, clock = rr.rig, rr.reloader, rr.clock
    reloader.loaded_digest = ConfigFileWatch(str(rr.path)).digest  # as the CLI reads it
    rr.write(MESH_OR_BATCH)  # edited while the process started: no signal reached it
    reloader.file = ConfigFileWatch(str(rr.path))  # the reloader is built after the edit
    reloader.start()
    reloader.catch_up()
    await rig.until(lambda: len(reloader.results) == 1)
    assert reloader.results[0].trigger == "file changed during start-up"
    assert reloader.results[0].added == ("batch",)
    # The poll does not reload the same change again; an unchanged file does not catch up.
    await rig.until(lambda: clock.pending_sleepers == 1)
    clock.advance(2.0)
    await rig.until(lambda: clock.pending_sleepers == 1)
    reloader.catch_up()
    assert len(reloader.results) == 1 and not reloader._queued


async def test_sighup_requests_fold_into_one_reload(rr: ReloadRig) -> None:
    rr.write(MESH_OR_BATCH)
    for _ in range(3):
        rr.reloader.request()
    tasks = list(rr.reloader.tasks)
    assert len(tasks) == 1
    await asyncio.wait(tasks, timeout=5)
    assert [r.trigger for r in rr.reloader.results] == ["SIGHUP"]


async def test_flags_keep_overriding_the_file(tmp_path: Path) -> None:
    rr = await start_reload_rig(tmp_path, "--selector", "istio-injection=enabled")
    try:
        e = rr.rig.proxy.enrollment
        assert e.term_names == ("--selector 0",)
        rr.write(BATCH_ONLY + "alwaysEnrolled: [istio-system, batch]\n")
        result = await rr.reloader.reload("test")
        # --selector still replaces the file's discoverySelectors; alwaysEnrolled has no flag.
        assert result.ok and result.added == ("batch",) and result.removed == ()
        assert e.term_names == ("--selector 0",) and e.is_enrolled("mesh-a")
        assert e.matching_term("batch") == "alwaysEnrolled"
    finally:
        await stop_rig(rr.rig)


async def test_restart_only_settings_are_logged_and_ignored(
    rr: ReloadRig, caplog: pytest.LogCaptureFixture
) -> None:
    proxy = rr.rig.proxy
    pods = ResourceRef("", "v1", "pods")
    assert proxy.stage_factory(pods, False) is not None  # pods coalesce by default
    rr.write(
        MESH_ONLY + "server: {listen: '127.0.0.1:9999'}\nexemptResources: [pods]\n"
        "churnControl: {enabled: false}\nstreams: {slowClientSeconds: 3}\n"
    )
    with caplog.at_level(logging.WARNING, logger="discofilter.server.reload"):
        result = await rr.reloader.reload("test")
    assert result.ok and result.ignored == ("server.listen", "exemptResources")
    assert result.added == result.removed == () and result.stamp == 0
    keys = {getattr(r, "key", None) for r in caplog.records if "until restart" in r.getMessage()}
    assert keys == {"server.listen", "exemptResources"}
    assert proxy.config.server.listen == "127.0.0.1:8001"
    assert proxy.config.enrollment.exempt_resources == () and not proxy.catalog.exempt
    # Live: new streams get the new churn policy and stream settings.
    assert proxy.stage_factory(pods, False) is None
    assert proxy.config.streams.slow_client_seconds == 3


async def test_streams_are_checked_against_the_new_view_not_only_the_diff(
    tmp_path: Path,
) -> None:
    """Under "every namespace" a stream may deliver a namespace the namespace watch has not
    seen yet (it lags the pod watch); the diff of known namespaces misses it, the check of the
    open streams does not. The lag is simulated by taking the namespace out of the view."""
    rr = await start_reload_rig(tmp_path, text="alwaysEnrolled: [istio-system]\n")
    rig = rr.rig
    try:
        rv = rig.sim.store.resource_version
        async with aiohttp.ClientSession() as s:
            pods, t = await open_watch(s, f"{rig.url}/api/v1/pods?watch=1&resourceVersion={rv}", "")
            rig.ns("ghost")
            rig.pod("g1", "ghost")
            await pods.until(lambda ev: ("ADDED", "ghost", "g1") in pods.objects())
            rig.proxy.enrollment.remove_namespace("ghost")  # as if never seen
            rr.write("alwaysEnrolled: [istio-system, batch, mesh-a, mesh-b]\n" + BATCH_ONLY)
            result = await rr.reloader.reload("test")
            assert result.removed == ("ghost",) and result.streams_ended == 1
            await pods.until(lambda ev: pods.done)
            assert pods.error_code() == 410
            t.cancel()
    finally:
        await stop_rig(rig)
