"""Issue 5 acceptance: a real informer through the proxy under ~1,000 pod events/s, limit 200/s.

The test drives the emulator's store directly for ~3 s: creates, updates, deletes and
re-creations (same name, new uid) over mesh and non-mesh namespaces, plus one namespace joining
and one leaving the mesh (open watches end with 410; the informer relists). The proxy's churn
policy for pods is a 0.25 s window with at most 200 events/s per watch stream. The
kubernetes_asyncio informer must end with EXACTLY the emulator's final state restricted to
enrolled namespaces: key → (uid, resourceVersion). It waits (bounded) until it has seen the
final resourceVersion, which bookmarks (every 0.2 s from the emulator) carry once the proxy has
released everything it held. ``/metrics`` must show that coalescing and the limit acted.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator

import pytest

from tests.component.churn.conftest import (
    MESH,
    ChurnRig,
    kind_labels,
    start_churn_rig,
    stop_churn_rig,
)
from tests.component.churn.informer_asyncio import AsyncioInformer, running

pytestmark = pytest.mark.timeout(60)

RATE = 1000  # pod operations per second the test drives (real clusters peak around 1,000)
SECONDS = 3.0
LIMIT = 200  # the policy's maxEventsPerSecond per watch stream
POLICY = {
    "rules": [{"resource": "pods", "windowSeconds": 0.25, "maxEventsPerSecond": LIMIT, "burst": 50}]
}
MESH_NS = [f"mesh-{i}" for i in range(4)]
OTHER_NS = [f"batch-{i}" for i in range(4)]
NAMES = [f"p{i}" for i in range(40)]


@pytest.fixture
async def rig() -> AsyncIterator[ChurnRig]:
    r = await start_churn_rig(POLICY, bookmark_interval=0.2)
    r.ns("istio-system")
    for ns in MESH_NS:
        r.ns(ns, MESH)
    for ns in OTHER_NS:
        r.ns(ns)
    await r.proxy.namespaces.ready.wait()
    yield r
    await stop_churn_rig(r)


def _one_op(rig: ChurnRig, rng: random.Random, step: int) -> int:
    """One random pod operation; returns how many store events it made."""
    store = rig.sim.store
    ns = rng.choice(MESH_NS + OTHER_NS)
    name = rng.choice(NAMES)
    obj = store.peek("pods", name, ns)
    if obj is None:
        rig.pod(name, ns)
        return 1
    r = rng.random()
    if r < 0.1:
        store.delete("pods", name, ns)
        return 1
    if r < 0.2:  # re-creation: same key, new uid; must never merge with the DELETED
        store.delete("pods", name, ns)
        rig.pod(name, ns)
        return 2
    obj = store.get("pods", name, ns)  # a copy: peek() is the live object (read-only)
    obj["metadata"]["labels"] = {"step": str(step)}
    store.update("pods", obj)
    return 1


async def _churn(rig: ChurnRig) -> tuple[int, float]:
    """Drive RATE * SECONDS store events at up to RATE events/s (the sleep paces the producer;
    nothing waits on it for an outcome). The count is fixed and the relabels come at fixed
    points of it, so a loaded machine runs the same case, only slower. Returns (events,
    seconds taken)."""
    rng = random.Random(5)
    total = int(RATE * SECONDS)
    start = time.monotonic()
    done = step = 0
    relabeled = set()
    while done < total:
        due = min(int((time.monotonic() - start) * RATE), total)
        while done < due:
            done += _one_op(rig, rng, step)
            step += 1
        if done > total / 3 and "join" not in relabeled:
            rig.sim.store.set_namespace_labels(OTHER_NS[0], MESH)  # joins: 410, relist
            relabeled.add("join")
        if done > 2 * total / 3 and "leave" not in relabeled:
            rig.sim.store.set_namespace_labels(MESH_NS[0], {})  # leaves: 410, relist
            relabeled.add("leave")
        await asyncio.sleep(0.005)
    return done, time.monotonic() - start


def _expected(rig: ChurnRig) -> dict[tuple[str, str], tuple[str, str]]:
    """The emulator's pods in enrolled namespaces: key → (uid, resourceVersion)."""
    enrolled = {
        o["metadata"]["name"]
        for o in rig.sim.store.iter_objects("namespaces")
        if (o["metadata"].get("labels") or {}).get("istio-injection") == "enabled"
    } | {"istio-system"}
    out = {}
    for o in rig.sim.store.iter_objects("pods"):
        m = o["metadata"]
        if m["namespace"] in enrolled:
            out[(m["namespace"], m["name"])] = (m["uid"], m["resourceVersion"])
    return out


async def test_informer_ends_with_exact_state_under_churn(rig: ChurnRig) -> None:
    inf = AsyncioInformer(rig.url)
    async with running(inf):
        events, took = await _churn(rig)
        final_rv = rig.sim.store.resource_version
        t0 = time.monotonic()
        await inf.wait_for_rv(final_rv, within=15)
        drain = time.monotonic() - t0
        expected = _expected(rig)
        assert inf.cache == expected
        m = await rig.scrape()
    assert events >= RATE * SECONDS, (events, took)  # the driver's own count, not a rate
    assert inf.rv_regressions == 0
    assert inf.relists >= 3  # the initial list, then one per enrollment change
    pods = kind_labels("pods")

    def c(name: str) -> float:
        return m[(f"discofilter_coalesce_{name}", pods)]

    assert c("coalesced_total") > 0
    assert c("forwarded_total") < c("events_in_total")
    assert c("rate_limited_total") > 0  # the 200/s limit actually held events back
    # Delivered object events stay within the limit: tokens over the whole run, plus one
    # burst per watch stream (each has its own bucket) and max-hold releases.
    allowed = LIMIT * (took + drain) + 50 * inf.watches + c("forced_by_max_hold_total")
    assert inf.object_events <= allowed
    out = m[("discofilter_events_out_total", kind_labels("pods", enrolled="yes"))]
    assert 0 < inf.received <= out
    print(
        f"\n{events} pod events in {took:.2f} s ({events / took:.0f}/s); informer: "
        f"{inf.object_events} object events over {inf.watches} watches, {inf.relists} lists; "
        f"proxy coalesce: in {c('events_in_total'):.0f}, forwarded {c('forwarded_total'):.0f}, "
        f"coalesced {c('coalesced_total'):.0f}, vanished pairs {c('vanished_pairs_total'):.0f}, "
        f"longest hold {c('longest_hold_seconds'):.2f} s; final state seen {drain:.2f} s after "
        "the churn stopped"
    )
