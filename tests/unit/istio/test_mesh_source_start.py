"""``MeshConfigSource.first_read``: start-up retries an unreachable API server on the injected
clock until its deadline, and stops at once, naming the RBAC to grant, on 401/403."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from discofilter.clock import FakeClock
from discofilter.errors import UpstreamError, UpstreamStatusError
from discofilter.istio.meshconfig import parse_ref
from discofilter.sources.mesh_source import MeshConfigSource
from discofilter.upstream.client import Upstream
from discofilter.upstream.target import UpstreamTarget


def _source(clock: FakeClock) -> MeshConfigSource:
    upstream = Upstream(UpstreamTarget(server="http://127.0.0.1:1"))  # never started: not used
    return MeshConfigSource(parse_ref("configmap:istio-system/istio"), upstream, clock)


async def test_forbidden_stops_at_once_naming_the_rbac() -> None:
    clock = FakeClock()
    source = _source(clock)
    calls = 0

    async def forbidden() -> None:
        nonlocal calls
        calls += 1
        raise UpstreamStatusError(403, None, "LIST configmaps: HTTP 403")

    source._watch.list_once = forbidden  # type: ignore[method-assign]
    with pytest.raises(UpstreamError, match="grant get, list and watch on configmaps"):
        await source.first_read()
    assert calls == 1


async def test_unreachable_is_retried_with_backoff_until_the_deadline() -> None:
    clock = FakeClock()
    source = _source(clock)
    attempts: list[float] = []

    async def down() -> None:
        attempts.append(clock.monotonic())
        raise UpstreamError("connect refused")

    source._watch.list_once = down  # type: ignore[method-assign]
    task = asyncio.create_task(source.first_read(within=10.0))
    while not task.done():
        while clock.pending_sleepers == 0 and not task.done():  # noqa: ASYNC110
            await asyncio.sleep(0)
        clock.advance(0.1)
    with pytest.raises(UpstreamError, match="cannot read it: connect refused"):
        await task
    gaps = [round(b - a, 1) for a, b in itertools.pairwise(attempts)]
    assert gaps == [0.2, 0.4, 0.8, 1.6, 3.2]  # doubling; the next wait would pass the deadline
    assert attempts[-1] - attempts[0] <= 10.0


async def test_a_read_that_succeeds_after_failures_returns() -> None:
    clock = FakeClock()
    source = _source(clock)
    left = [UpstreamError("refused"), UpstreamError("refused")]

    async def flaky() -> None:
        if left:
            raise left.pop()

    source._watch.list_once = flaky  # type: ignore[method-assign]
    task = asyncio.create_task(source.first_read())
    while not task.done():
        while clock.pending_sleepers == 0 and not task.done():  # noqa: ASYNC110
            await asyncio.sleep(0)
        clock.advance(1.0)
    await task
    assert not left
