"""The HTTP admin app with a real aiohttp client; /metrics parsed with prometheus-client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from admin_fakes import FakeAdminState, sample_state
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from discofilter.admin.http import make_admin_app
from discofilter.admin.state import Readiness
from discofilter.metrics import Metrics


@pytest.fixture
def state() -> FakeAdminState:
    return sample_state()


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
async def client(state: FakeAdminState, metrics: Metrics) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(make_admin_app(state, metrics))) as c:
        yield c


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


async def test_metrics_exposition_parses_and_counts(client: TestClient, metrics: Metrics) -> None:
    pods = metrics.for_kind("pods")
    pods.add(in_enrolled=3, in_other=7, out_enrolled=3, suppressed=7, bytes_in=6500, bytes_out=1950)
    pods.add(coalesced_enrolled=2)
    pods.open_streams.inc()
    pods.added_delay.observe(0.002)
    metrics.for_kind("services").slow_client_closures.inc()
    metrics.upstream_request_duration.labels("list").observe(0.3)
    metrics.set_namespaces(enrolled=3, other=2, synced=True)

    resp = await client.get("/metrics")
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/plain; version=")
    s = _samples(await resp.text())
    assert s[("discofilter_events_in_total", (("enrolled", "yes"), ("kind", "pods")))] == 3
    assert s[("discofilter_events_in_total", (("enrolled", "no"), ("kind", "pods")))] == 7
    assert s[("discofilter_events_out_total", (("enrolled", "yes"), ("kind", "pods")))] == 3
    assert s[("discofilter_events_coalesced_total", (("enrolled", "yes"), ("kind", "pods")))] == 2
    assert s[("discofilter_events_suppressed_total", (("kind", "pods"),))] == 7
    assert s[("discofilter_bytes_in_total", (("kind", "pods"),))] == 6500
    assert s[("discofilter_bytes_out_total", (("kind", "pods"),))] == 1950
    assert s[("discofilter_open_streams", (("kind", "pods"),))] == 1
    assert s[("discofilter_slow_client_closures_total", (("kind", "services"),))] == 1
    assert s[("discofilter_added_delay_seconds_count", (("kind", "pods"),))] == 1
    assert s[("discofilter_added_delay_seconds_bucket", (("kind", "pods"), ("le", "0.0025")))] == 1
    assert s[("discofilter_added_delay_seconds_bucket", (("kind", "pods"), ("le", "0.001")))] == 0
    assert s[("discofilter_upstream_request_duration_seconds_count", (("verb", "list"),))] == 1
    assert s[("discofilter_namespaces", (("enrolled", "yes"),))] == 3
    assert s[("discofilter_namespaces_synced", ())] == 1
    assert ("discofilter_build_info", (("version", "0.1.0"),)) in s
    assert not [name for name, _ in s if name.endswith("_created")]  # no doubled series


def test_each_metrics_has_its_own_registry() -> None:
    a, b = Metrics(), Metrics()  # would raise "Duplicated timeseries" on a shared registry
    a.for_kind("pods").add(in_enrolled=5)
    assert b'kind="pods"' not in b.exposition()


async def test_healthz_is_liveness_only(client: TestClient, state: FakeAdminState) -> None:
    state.ready = Readiness(upstream_reachable=False, namespaces_synced=False, detail="down")
    resp = await client.get("/healthz")
    assert resp.status == 200 and await resp.text() == "ok"


@pytest.mark.parametrize(
    ("ready", "status", "verbose_lines"),
    [
        (Readiness(True, True), 200, ["[+]upstream ok", "[+]namespaces-synced ok"]),
        (Readiness(False, True, "connection refused"), 503, ["[-]upstream failed"]),
        (Readiness(True, False, "listing namespaces"), 503, ["[-]namespaces-synced failed"]),
    ],
    ids=["ready", "upstream-down", "not-synced"],
)
async def test_readyz(
    client: TestClient,
    state: FakeAdminState,
    ready: Readiness,
    status: int,
    verbose_lines: list[str],
) -> None:
    state.ready = ready
    resp = await client.get("/readyz")
    assert resp.status == status
    if status != 200:
        assert ready.detail in await resp.text()
    verbose = await client.get("/readyz?verbose")
    body = await verbose.text()
    assert verbose.status == status
    for line in verbose_lines:
        assert line in body.splitlines()


async def test_debug_enrollment(client: TestClient) -> None:
    resp = await client.get("/debug/enrollment")
    assert resp.status == 200
    body = await resp.json()
    assert body["selectors"] == ["istio-injection=enabled"]
    assert body["alwaysEnrolled"] == ["istio-system"]
    assert (body["total"], body["enrolled"]) == (5, 3)
    by_name = {n["name"]: n for n in body["namespaces"]}
    assert by_name["shop"]["matchingTerm"] == "istio-injection=enabled"
    assert by_name["batch"] == {
        "name": "batch",
        "enrolled": False,
        "matchingTerm": None,
        "labels": {"team": "data"},
        "churnPerSecond": 60.0,
    }
    only_out = await (await client.get("/debug/enrollment?enrolled=false")).json()
    assert [n["name"] for n in only_out["namespaces"]] == ["batch", "ci"]
    bad = await client.get("/debug/enrollment?enrolled=maybe")
    assert bad.status == 400


async def test_debug_enrollment_select_all(client: TestClient, state: FakeAdminState) -> None:
    state.selector_strings = None
    body = await (await client.get("/debug/enrollment")).json()
    assert body["selectAll"] is True and body["enrolled"] == 5
    terms = {n["matchingTerm"] for n in body["namespaces"]}
    assert terms == {"all namespaces (no discoverySelectors)", "alwaysEnrolled"}


def test_kind_counters_sum_enrolled_labels() -> None:
    m = Metrics()
    m.for_kind("pods").add(in_enrolled=3, in_other=7, out_enrolled=3, suppressed=7, bytes_in=10)
    m.for_kind("pods").upstream_reconnects.inc()
    m.for_kind("services").add(in_enrolled=1, coalesced_other=2)
    pods, services = m.kind_counters()
    assert (pods.kind, pods.events_in, pods.events_out) == ("pods", 10, 3)
    assert pods.events_suppressed == 7
    assert (pods.bytes_in, pods.upstream_reconnects) == (10, 1)
    assert (services.events_in, services.events_coalesced) == (1, 2)
