"""The safety list against the emulator: namespaces of ztunnel/gateway/istiod pods are
enrolled from the first request and when they appear later, whatever the selectors say."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from discofilter.clock import FakeClock
from discofilter.config import Config, EnrollmentConfig
from discofilter.sim.server import Simulator
from discofilter.sources.safety_source import SafetySource
from discofilter.upstream.client import Upstream
from discofilter.upstream.target import OwnCredentials, UpstreamTarget
from tests.component.reload.test_reload_cli import _enrolled, _fill, _serve, _stop, _until

pytestmark = pytest.mark.timeout(60)


def _pod(name: str, namespace: str, **labels: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": namespace, "labels": labels}, "spec": {}}


def _ns(sim: Simulator, name: str) -> None:
    sim.store.create("namespaces", {"metadata": {"name": name, "labels": {"team": "infra"}}})


async def test_safety_namespaces_are_enrolled_from_the_start(tmp_path: Path) -> None:
    config = tmp_path / "discofilter.yaml"
    config.write_text("discoverySelectors:\n- matchLabels: {istio-injection: enabled}\n")
    async with Simulator() as sim:
        _fill(sim)
        _ns(sim, "ambient")
        sim.store.create("pods", _pod("ztunnel-x", "ambient", app="ztunnel"), "ambient")
        proc, _, admin = await _serve(sim, config)
        try:
            doc = await _until(f"{admin}/debug/enrollment", lambda d: d["synced"])
            assert _enrolled(doc) == {"istio-system", "mesh-a", "ambient"}
            assert "ambient" in doc["alwaysEnrolled"]
        finally:
            assert await _stop(proc) == 0
        proc, _, admin = await _serve(sim, config, "--no-safety-list")
        try:
            doc = await _until(f"{admin}/debug/enrollment", lambda d: d["synced"])
            assert _enrolled(doc) == {"istio-system", "mesh-a"}
        finally:
            assert await _stop(proc) == 0


async def test_a_new_gateway_namespace_is_enrolled_at_the_next_poll() -> None:
    async with Simulator() as sim:
        _fill(sim)
        upstream = Upstream(UpstreamTarget(server=sim.url, own=OwnCredentials()))
        await upstream.start()
        clock = FakeClock()
        applied: list[str] = []
        done = asyncio.Event()

        async def apply(trigger: str) -> None:
            applied.append(trigger)
            done.set()

        source = SafetySource(upstream, clock, poll_seconds=30.0, own_namespace="istio-cp")
        try:
            await source.first_poll()
            assert set(source.namespaces) == {"istio-system", "istio-cp"}
            source.start(apply)
            _ns(sim, "edge")
            sim.store.create("pods", _pod("gw", "edge", istio="ingressgateway"), "edge")
            while clock.pending_sleepers == 0:  # noqa: ASYNC110 (the poll task parks on it)
                await asyncio.sleep(0)
            clock.advance(30.0)
            await asyncio.wait_for(done.wait(), 10)
            assert applied == ["safety list"]
            assert set(source.namespaces) == {"istio-system", "istio-cp", "edge"}
            effective = source.overlay(Config(enrollment=EnrollmentConfig()))
            assert set(effective.enrollment.always_enrolled) == {"istio-system", "istio-cp", "edge"}
            off = Config(enrollment=EnrollmentConfig(safety_list=False))
            assert source.overlay(off) == off
        finally:
            await source.stop()
            await upstream.close()
