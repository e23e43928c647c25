"""ReviewAuthorizer through the real Upstream client against the emulator's access reviews.

The emulator's policy lets token "a" list and watch pods in namespace "x" only; only "a" and "b"
are tokens it authenticates, so any other token is a 401 as kube-apiserver answers it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest
from aiohttp import web
from multidict import CIMultiDict

from discofilter.authz import Attributes, ReviewAuthorizer, Verdict
from discofilter.authz.review import SSAR_PATH
from discofilter.clock import FakeClock
from discofilter.sim import Simulator
from discofilter.upstream.client import Upstream
from discofilter.upstream.target import OwnCredentials, UpstreamTarget

PODS = Attributes("list", "", "v1", "pods", "")
PODS_X = Attributes("list", "", "v1", "pods", "x")


def a_reads_pods_in_x(token: str | None, attrs: Mapping[str, Any]) -> bool:
    return (
        token == "a"
        and attrs.get("resource") == "pods"
        and attrs.get("group") == ""
        and attrs.get("verb") in ("list", "watch")
        and attrs.get("namespace") == "x"
    )


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator() as s:
        s.access_policy = a_reads_pods_in_x
        s.access_tokens = frozenset({"a", "b"})
        yield s


@pytest.fixture
async def upstream(sim: Simulator) -> AsyncIterator[Upstream]:
    # The proxy's own token is "proxy", which the policy does not know: were it ever lent to a
    # review, the emulator would answer 401 and the allowed case below would fail.
    up = Upstream(UpstreamTarget(sim.url, own=OwnCredentials(token="proxy")))
    await up.start()
    yield up
    await up.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_the_policy_is_applied_per_caller_and_namespace(
    sim: Simulator, upstream: Upstream
) -> None:
    authz = ReviewAuthorizer(upstream, FakeClock())
    assert await authz.authorize(bearer("a"), PODS_X) == Verdict(True)
    cluster = await authz.authorize(bearer("a"), PODS)
    assert (cluster.allowed, cluster.code) == (False, 403)
    assert 'list resource "pods" in API group "" at the cluster scope' in cluster.message
    other_ns = await authz.authorize(bearer("a"), Attributes("watch", "", "v1", "pods", "y"))
    assert other_ns.code == 403 and 'in the namespace "y"' in other_ns.message
    known_but_not_allowed = await authz.authorize(bearer("b"), PODS_X)
    assert known_but_not_allowed.code == 403
    assert await authz.authorize(bearer("nobody"), PODS_X) == Verdict(False, 401, "Unauthorized")
    assert sim.requests["create selfsubjectaccessreviews"] == 5
    # Answers are cached: asking again sends nothing.
    assert (await authz.authorize(bearer("a"), PODS_X)).allowed
    assert (await authz.authorize(bearer("nobody"), PODS_X)).code == 401
    assert sim.requests["create selfsubjectaccessreviews"] == 5


async def test_on_the_wire_only_the_callers_credentials_go_never_the_proxys() -> None:
    # A bare aiohttp server recording the raw request headers: the real Upstream client is what
    # must keep repeated Impersonate-Group headers and add no token of the proxy's own.
    seen: list[list[tuple[str, str]]] = []

    async def answer(request: web.Request) -> web.Response:
        seen.append([(k.decode().lower(), v.decode()) for k, v in request.raw_headers])
        return web.json_response({"status": {"allowed": True}}, status=201)

    app = web.Application()
    app.router.add_post(SSAR_PATH, answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    up = Upstream(UpstreamTarget(f"http://{host}:{port}", own=OwnCredentials(token="proxy")))
    await up.start()
    try:
        headers: CIMultiDict[str] = CIMultiDict(
            [
                ("Authorization", "Bearer a"),
                ("Impersonate-User", "jane"),
                ("Impersonate-Group", "g1"),
                ("Impersonate-Group", "g2"),
                ("Cookie", "c=1"),
            ]
        )
        authz = ReviewAuthorizer(up, FakeClock())
        assert (await authz.authorize(headers, PODS_X)).allowed
    finally:
        await up.close()
        await runner.cleanup()
    [wire] = seen
    creds = [(k, v) for k, v in wire if k == "authorization" or k.startswith("impersonate-")]
    assert creds == [
        ("authorization", "Bearer a"),
        ("impersonate-user", "jane"),
        ("impersonate-group", "g1"),
        ("impersonate-group", "g2"),
    ]
    names = {k for k, _ in wire}
    assert "cookie" not in names
    assert not any("proxy" in v for _, v in wire)


async def test_anonymous_is_reviewed_as_anonymous(sim: Simulator, upstream: Upstream) -> None:
    authz = ReviewAuthorizer(upstream, FakeClock())
    verdict = await authz.authorize({}, PODS_X)
    assert (verdict.allowed, verdict.code) == (False, 403)
