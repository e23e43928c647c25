"""The gRPC admin server, exercised with real grpcio clients (health stub, reflection stub)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import grpc
import pytest
from admin_fakes import FakeAdminState, sample_state
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from discofilter._generated.discofilter.v1 import admin_pb2 as pb
from discofilter._generated.discofilter.v1 import admin_pb2_grpc as pb_grpc
from discofilter.admin.grpc_server import start_admin_grpc
from discofilter.admin.state import Readiness, SelectorSourceInfo
from discofilter.clock import FakeClock
from discofilter.errors import ConfigError
from discofilter.telemetry.decisions import FILTERED, FORWARDED, Decision

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


@pytest.fixture
def state() -> FakeAdminState:
    return sample_state()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def channel(state: FakeAdminState, clock: FakeClock) -> AsyncIterator[grpc.aio.Channel]:
    server, port = await start_admin_grpc(state, "127.0.0.1", 0, clock=clock)
    assert port > 0
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
        yield ch
    await server.stop(None)


async def test_health_overall_follows_readiness(
    channel: grpc.aio.Channel, state: FakeAdminState
) -> None:
    stub = health_pb2_grpc.HealthStub(channel)
    resp = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
    assert resp.status == SERVING
    admin = await stub.Check(health_pb2.HealthCheckRequest(service="discofilter.v1.Admin"))
    assert admin.status == SERVING

    state.ready = Readiness(upstream_reachable=False, namespaces_synced=True, detail="refused")
    resp = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
    assert resp.status == NOT_SERVING
    # The admin API itself still answers while the proxy is not ready.
    admin = await stub.Check(health_pb2.HealthCheckRequest(service="discofilter.v1.Admin"))
    assert admin.status == SERVING


async def test_health_unknown_service_is_not_found(channel: grpc.aio.Channel) -> None:
    stub = health_pb2_grpc.HealthStub(channel)
    with pytest.raises(grpc.aio.AioRpcError) as ei:
        await stub.Check(health_pb2.HealthCheckRequest(service="nope"), timeout=5)
    assert ei.value.code() == grpc.StatusCode.NOT_FOUND


async def test_health_watch_sees_change_after_refresh_interval(
    channel: grpc.aio.Channel, state: FakeAdminState, clock: FakeClock
) -> None:
    stub = health_pb2_grpc.HealthStub(channel)
    call = stub.Watch(health_pb2.HealthCheckRequest(service=""))
    first = await asyncio.wait_for(call.read(), 5)
    assert first.status == SERVING
    state.ready = Readiness(upstream_reachable=True, namespaces_synced=False)
    clock.advance(1.0)  # the refresh loop sleeps on the injected clock
    second = await asyncio.wait_for(call.read(), 5)
    assert second.status == NOT_SERVING
    call.cancel()


async def test_reflection_lists_services(channel: grpc.aio.Channel) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    call = stub.ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")])
    )
    names = set()
    async for resp in call:
        names |= {s.name for s in resp.list_services_response.service}
    assert {
        "discofilter.v1.Admin",
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    } <= names


async def test_status_snapshot(channel: grpc.aio.Channel) -> None:
    stub = pb_grpc.AdminStub(channel)
    resp = await stub.Status(pb.StatusRequest(), timeout=5)
    assert resp.version == "0.1.0-test"
    assert resp.upstream_reachable and resp.namespaces_synced
    assert list(resp.selectors) == ["istio-injection=enabled"]
    assert not resp.select_all
    assert resp.namespaces_total == 5 and resp.namespaces_enrolled == 3
    # Only enrolled namespaces by default, with the term that matched.
    terms = {n.name: n.matching_term for n in resp.namespaces}
    assert terms == {
        "istio-system": "alwaysEnrolled",
        "payments": "istio-injection=enabled",
        "shop": "istio-injection=enabled",
    }
    shop = next(n for n in resp.namespaces if n.name == "shop")
    assert shop.labels["team"] == "shop" and shop.churn_per_second == 8.0
    (stream,) = resp.streams
    assert stream.user_agent.startswith("pilot-discovery")
    assert stream.events_in == 1000 and stream.events_out == 120
    assert stream.opened_at.seconds == 1_700_000_100
    (pods,) = resp.counters
    assert pods.kind == "pods" and pods.events_suppressed == 880

    full = await stub.Status(pb.StatusRequest(all_namespaces=True), timeout=5)
    assert {n.name for n in full.namespaces} == {"istio-system", "shop", "payments", "batch", "ci"}
    assert not next(n for n in full.namespaces if n.name == "batch").enrolled


async def test_explain_selectors_added_removed_and_churn_share(channel: grpc.aio.Channel) -> None:
    stub = pb_grpc.AdminStub(channel)
    # Candidate: team=shop OR mesh=candidate -> payments leaves, ci joins.
    resp = await stub.ExplainSelectors(
        pb.ExplainSelectorsRequest(selectors=["team=shop", "mesh=candidate"]), timeout=5
    )
    assert list(resp.added) == ["ci"]
    assert list(resp.removed) == ["payments"]
    assert resp.enrolled_before == 3 and resp.enrolled_after == 3
    assert resp.total_churn_per_second == pytest.approx(100.0)
    assert resp.churn_share_before == pytest.approx(0.10)  # shop 8 + payments 2
    assert resp.churn_share_after == pytest.approx(0.38)  # shop 8 + ci 30
    assert resp.added_churn_share == pytest.approx(0.30)
    assert resp.removed_churn_share == pytest.approx(0.02)
    ci = next(n for n in resp.namespaces if n.name == "ci")
    assert (ci.enrolled_before, ci.enrolled_after, ci.term_after) == (False, True, "mesh=candidate")
    assert ci.change == "added" and ci.churn_share == pytest.approx(0.30)


async def test_explain_accepts_istio_discovery_selectors_yaml(channel: grpc.aio.Channel) -> None:
    stub = pb_grpc.AdminStub(channel)
    yaml_text = """
meshConfig:
  discoverySelectors:
  - matchExpressions:
    - {key: team, operator: In, values: [data, ci]}
"""
    resp = await stub.ExplainSelectors(
        pb.ExplainSelectorsRequest(discovery_selectors_yaml=yaml_text), timeout=5
    )
    assert sorted(resp.added) == ["batch", "ci"]
    assert sorted(resp.removed) == ["payments", "shop"]
    every = await stub.ExplainSelectors(pb.ExplainSelectorsRequest(select_all=True), timeout=5)
    assert sorted(every.added) == ["batch", "ci"] and not every.removed
    assert every.churn_share_after == pytest.approx(1.0)


@pytest.mark.parametrize(
    "request_",
    [
        pb.ExplainSelectorsRequest(),
        pb.ExplainSelectorsRequest(selectors=["a in (b"]),
        pb.ExplainSelectorsRequest(discovery_selectors_yaml="- matchLabels: [1]"),
        pb.ExplainSelectorsRequest(selectors=["a=b"], select_all=True),
    ],
    ids=["empty", "bad-string", "bad-yaml-shape", "conflict"],
)
async def test_explain_rejects_bad_candidates(
    channel: grpc.aio.Channel, request_: pb.ExplainSelectorsRequest
) -> None:
    stub = pb_grpc.AdminStub(channel)
    with pytest.raises(grpc.aio.AioRpcError) as ei:
        await stub.ExplainSelectors(request_, timeout=5)
    assert ei.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert ei.value.details()


def _decision(ns: str, action: str, kind: str = "pods") -> Decision:
    return Decision(
        at=1_700_000_200.25,
        stream_id="s1",
        kind=kind,
        namespace=ns,
        name="p-1",
        event_type="MODIFIED",
        action=action,
        reason="test",
        resource_version="42",
    )


async def test_watch_decisions_streams_filtered_feed(
    channel: grpc.aio.Channel, state: FakeAdminState
) -> None:
    sampler = state.decisions()
    sampler.publish(_decision("batch", FILTERED))  # replayed from the ring
    stub = pb_grpc.AdminStub(channel)
    call = stub.WatchDecisions(
        pb.WatchDecisionsRequest(
            replay_recent=True, namespaces=["batch", "shop"], actions=[pb.Decision.FILTERED]
        )
    )
    first = await asyncio.wait_for(call.read(), 5)
    assert (first.namespace, first.action) == ("batch", pb.Decision.FILTERED)
    assert first.resource_version == "42" and first.at.seconds == 1_700_000_200
    # The subscription is live once the replay arrived: these go through the filters.
    sampler.publish(_decision("shop", FORWARDED))  # action filtered out
    sampler.publish(_decision("payments", FILTERED))  # namespace filtered out
    sampler.publish(_decision("shop", FILTERED))
    second = await asyncio.wait_for(call.read(), 5)
    assert (second.namespace, second.action) == ("shop", pb.Decision.FILTERED)
    call.cancel()
    # Cancelling the call ends the server's subscription (no leaked queue).
    await asyncio.wait_for(_until(lambda: sampler.subscribers == 0), 5)


async def _until(cond: Callable[[], bool]) -> None:
    # The server notices the cancel on its own schedule and offers no event to await: poll,
    # bounded by the caller's wait_for.
    while not cond():  # noqa: ASYNC110
        await asyncio.sleep(0.01)


async def test_port_in_use_is_a_config_error(state: FakeAdminState) -> None:
    # grpcio would share the port via SO_REUSEPORT by default; a second server must fail.
    first, port = await start_admin_grpc(state, "127.0.0.1", 0)
    try:
        with pytest.raises(ConfigError, match="admin gRPC"):
            await start_admin_grpc(state, "127.0.0.1", port)
    finally:
        await first.stop(None)


async def test_status_says_where_the_selectors_come_from(
    state: FakeAdminState, channel: grpc.aio.Channel
) -> None:
    stub = pb_grpc.AdminStub(channel)
    assert (await stub.Status(pb.StatusRequest(), timeout=5)).selectors_source.source == "config"
    state.source = SelectorSourceInfo(
        "configmap:istio-system/istio", False, "discoverySelectors: expected a list", "41", "57"
    )
    src = (await stub.Status(pb.StatusRequest(), timeout=5)).selectors_source
    assert (src.source, src.healthy, src.resource_version, src.seen_resource_version) == (
        "configmap:istio-system/istio", False, "41", "57",
    )  # fmt: skip
    assert src.error == "discoverySelectors: expected a list"
