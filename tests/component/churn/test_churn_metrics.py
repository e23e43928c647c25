"""``/metrics`` shows what churn control did, read with prometheus-client's text parser.

Regression: events released by the coalescing timer (not in the same upstream chunk that
brought them) were never added to ``discofilter_events_out_total``, so it stayed 0 for pods
while the stream log showed events_out > 0. Every ``CoalesceStats`` field is exported per kind.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import orjson
import pytest

from tests.component.churn.conftest import (
    MESH,
    ChurnRig,
    Samples,
    kind_labels,
    start_churn_rig,
    stop_churn_rig,
)

pytestmark = pytest.mark.timeout(30)

WINDOW = 0.2


@pytest.fixture
async def rig() -> AsyncIterator[ChurnRig]:
    r = await start_churn_rig({"rules": [{"resource": "pods", "windowSeconds": WINDOW}]})
    r.ns("istio-system")
    r.ns("mesh-a", MESH)
    r.ns("batch")
    await r.proxy.namespaces.ready.wait()
    yield r
    await stop_churn_rig(r)


async def _read_events(resp: aiohttp.ClientResponse, n: int) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    async with asyncio.timeout(10):
        while len(out) < n:
            line = await resp.content.readline()
            assert line, f"stream ended after {out}"
            out.append(orjson.loads(line))
    return out


def _coalesce(m: Samples, name: str) -> float:
    return m[(f"discofilter_coalesce_{name}", kind_labels("pods"))]


async def test_timer_released_events_count_as_out(rig: ChurnRig) -> None:
    async with aiohttp.ClientSession() as s:
        resp = await s.get(f"{rig.url}/api/v1/pods?watch=1")
        await rig.until(lambda: len(rig.proxy.registry) == 1)
        for i in range(5):
            rig.pod(f"p{i}", "mesh-a")
        # batch was left out upstream (filter/exclusion.py): the dropped events come from a
        # namespace created after the watch opened, which the upstream still sends.
        rig.ns("late")
        for i in range(3):
            rig.pod(f"b{i}", "late")
        events = await _read_events(resp, 5)
        assert [e["type"] for e in events] == ["ADDED"] * 5
        m = await rig.scrape()  # the stream is still open: counts are not end-of-stream only
        resp.close()
    yes, no = kind_labels("pods", enrolled="yes"), kind_labels("pods", enrolled="no")
    assert m[("discofilter_events_out_total", yes)] == 5
    assert m[("discofilter_events_in_total", yes)] == 5
    assert m[("discofilter_events_in_total", no)] == 3
    assert m[("discofilter_events_suppressed_total", kind_labels("pods"))] == 3
    assert m[("discofilter_bytes_out_total", kind_labels("pods"))] > 0
    assert _coalesce(m, "events_in_total") == _coalesce(m, "forwarded_total") == 5
    assert _coalesce(m, "held_events") == 0
    assert _coalesce(m, "hold_seconds_count") == 5
    # Pull semantics: the first pod waits the whole window, the ones behind it go with it.
    assert WINDOW * 0.75 <= _coalesce(m, "longest_hold_seconds") < WINDOW + 1.0
    assert m[("discofilter_coalesce_hold_seconds_bucket", kind_labels("pods", le="0.1"))] <= 4
    assert m[("discofilter_coalesce_hold_seconds_bucket", kind_labels("pods", le="+Inf"))] == 5


async def test_merges_are_counted_and_conserved(rig: ChurnRig) -> None:
    async with aiohttp.ClientSession() as s:
        resp = await s.get(f"{rig.url}/api/v1/pods?watch=1")
        await rig.until(lambda: len(rig.proxy.registry) == 1)
        obj = rig.pod("hot", "mesh-a")
        for step in range(3):  # all inside one window: one ADDED with the newest state
            obj["metadata"]["labels"] = {"step": str(step)}
            obj = rig.sim.store.update("pods", obj)
        gone = rig.pod("brief", "mesh-a")
        rig.sim.store.delete("pods", gone["metadata"]["name"], "mesh-a")  # never seen: vanishes
        rig.pod("last", "mesh-a")
        events = await _read_events(resp, 2)
        m = await rig.scrape()
        resp.close()
    got = [(e["type"], e["object"]["metadata"]["name"]) for e in events]  # type: ignore[index]
    assert got == [("ADDED", "hot"), ("ADDED", "last")]
    assert events[0]["object"]["metadata"]["resourceVersion"] == obj["metadata"]["resourceVersion"]  # type: ignore[index]
    assert m[("discofilter_events_coalesced_total", kind_labels("pods", enrolled="yes"))] == 3
    assert _coalesce(m, "coalesced_total") == 3
    assert _coalesce(m, "vanished_pairs_total") == 1
    # Conservation (discofilter/coalesce/stats.py), across the exported families.
    assert _coalesce(m, "events_in_total") == 7
    assert _coalesce(m, "events_in_total") == (
        _coalesce(m, "forwarded_total")
        + _coalesce(m, "coalesced_total")
        + _coalesce(m, "noop_suppressed_total")
        + 2 * _coalesce(m, "vanished_pairs_total")
        + _coalesce(m, "held_events")
        + _coalesce(m, "discarded_total")
    )


async def test_every_coalesce_stat_is_exported(rig: ChurnRig) -> None:
    rig.proxy.coalesce_stats.get("pods")  # a kind appears once a stream of it used a stage
    m = await rig.scrape()
    names = {name for name, labels in m if dict(labels).get("kind") == "pods"}
    want = {
        f"discofilter_coalesce_{n}"
        for n in (
            "events_in_total", "forwarded_total", "coalesced_total", "noop_suppressed_total",
            "vanished_pairs_total", "discarded_total", "forced_by_max_hold_total",
            "rate_limited_total", "retype_failures_total", "held_events",
            "longest_hold_seconds", "hold_seconds_sum", "hold_seconds_count",
            "hold_seconds_bucket",
        )
    }  # fmt: skip
    assert want <= names, want - names


async def test_upstream_request_duration_by_verb(rig: ChurnRig) -> None:
    """``discofilter_upstream_request_duration_seconds`` counts every upstream request the front
    sends, labelled list / watch / the HTTP method of a pass-through (it was declared and
    documented, but nothing observed it)."""
    count = "discofilter_upstream_request_duration_seconds_count"
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{rig.url}/api/v1/pods") as r:
            assert r.status == 200
            await r.read()
        async with s.get(f"{rig.url}/api/v1/namespaces/mesh-a/pods/none") as r:
            await r.read()  # a namespaced GET passes through: 404 from the upstream, counted
        resp = await s.get(f"{rig.url}/api/v1/pods?watch=1")
        await rig.until(lambda: len(rig.proxy.registry) == 1)
        m = await rig.scrape()
        resp.close()
    assert m[(count, (("verb", "list"),))] == 1
    assert m[(count, (("verb", "watch"),))] == 1
    assert m[(count, (("verb", "get"),))] == 1
    assert ("discofilter_upstream_request_duration_seconds_sum", (("verb", "list"),)) in m
