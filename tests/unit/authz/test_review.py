"""ReviewAuthorizer with a scripted upstream: answers, headers sent, cache TTL/LRU, single flight.

The fake upstream has ``Upstream.request``'s signature and records every call; each answer is
scripted per test (status and body, or an exception), and a gate lets a test hold a review in
flight to check that concurrent callers share it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import orjson
import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from discofilter.authz import Attributes, ReviewAuthorizer, ReviewStats, Verdict
from discofilter.authz.review import SSAR_PATH
from discofilter.clock import FakeClock
from discofilter.errors import UpstreamError
from discofilter.upstream.client import Upstream

TOKEN = "s3cr3t-token-value"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PODS = Attributes("list", "", "v1", "pods", "")
PODS_X = Attributes("list", "", "v1", "pods", "x")
VS_X = Attributes("watch", "networking.istio.io", "v1", "virtualservices", "x")


def ssar(allowed: bool, reason: str = "") -> bytes:
    status: dict[str, Any] = {"allowed": allowed}
    if reason:
        status["reason"] = reason
    return orjson.dumps({"kind": "SelfSubjectAccessReview", "status": status})


def status(code: int, message: str) -> bytes:
    return orjson.dumps({"kind": "Status", "code": code, "message": message})


ALLOWED: tuple[int, bytes] = (201, ssar(True))


@dataclass
class FakeResponse:
    status: int
    body: bytes
    released: bool = False

    async def read(self) -> bytes:
        return self.body

    def release(self) -> None:
        self.released = True


@dataclass
class Call:
    method: str
    path: str
    headers: CIMultiDict[str]
    data: Any
    own: bool


Answer = tuple[int, bytes] | Exception


@dataclass
class FakeUpstream:
    """Answers every request with ``answer`` (or ``answer(call)``); ``gate`` holds answers back."""

    answer: Answer | Callable[[Call], Answer] = ALLOWED
    gate: asyncio.Event | None = None
    calls: list[Call] = field(default_factory=list)
    responses: list[FakeResponse] = field(default_factory=list)

    async def request(
        self,
        method: str,
        path_qs: str,
        headers: Mapping[str, str] | CIMultiDict[str],
        data: Any = None,
        *,
        own: bool = False,
        decompress: bool = False,
    ) -> FakeResponse:
        call = Call(method, path_qs, CIMultiDict(headers), data, own)
        self.calls.append(call)
        if self.gate is not None:
            await self.gate.wait()
        answer = self.answer(call) if callable(self.answer) else self.answer
        if isinstance(answer, Exception):
            raise answer
        resp = FakeResponse(*answer)
        self.responses.append(resp)
        return resp


async def until(cond: Callable[[], bool]) -> None:
    """Run the loop's ready callbacks until ``cond`` holds (no time passes: no sleeping)."""
    for _ in range(100):
        if cond():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")


def make(
    answer: Answer | Callable[[Call], Answer] = ALLOWED, **kw: Any
) -> tuple[ReviewAuthorizer, FakeUpstream, FakeClock]:
    up = FakeUpstream(answer)
    clock = FakeClock()
    return ReviewAuthorizer(cast(Upstream, up), clock, **kw), up, clock


# --- answers -------------------------------------------------------------------------------


async def test_allowed_posts_a_review_of_the_attributes_as_the_caller() -> None:
    authz, up, _ = make((201, ssar(True)))
    assert await authz.authorize(AUTH, VS_X) == Verdict(True, 200, "")
    [call] = up.calls
    assert (call.method, call.path, call.own) == ("POST", SSAR_PATH, False)
    doc = orjson.loads(call.data)
    assert doc["kind"] == "SelfSubjectAccessReview"
    assert doc["apiVersion"] == "authorization.k8s.io/v1"
    assert doc["spec"] == {
        "resourceAttributes": {
            "verb": "watch",
            "group": "networking.istio.io",
            "version": "v1",
            "resource": "virtualservices",
            "namespace": "x",
        }
    }
    assert all(r.released for r in up.responses)


async def test_200_is_read_like_201() -> None:
    authz, _, _ = make((200, ssar(True)))
    assert (await authz.authorize(AUTH, PODS)).allowed


@pytest.mark.parametrize(
    ("attrs", "words"),
    [
        (PODS, 'list resource "pods" in API group "" at the cluster scope'),
        (
            VS_X,
            'watch resource "virtualservices" in API group "networking.istio.io" '
            'in the namespace "x"',
        ),
    ],
)
async def test_not_allowed_is_403_naming_what_was_refused(attrs: Attributes, words: str) -> None:
    authz, up, _ = make((201, ssar(False)))
    verdict = await authz.authorize(AUTH, attrs)
    assert (verdict.allowed, verdict.code) == (False, 403)
    assert verdict.message == f"discofilter: the caller may not {words}"
    assert TOKEN not in verdict.message
    assert up.responses[0].released


async def test_the_authorizers_reason_is_appended_like_kube_apiserver() -> None:
    authz, _, _ = make((201, ssar(False, "no RBAC policy matched")))
    verdict = await authz.authorize(AUTH, PODS)
    assert verdict.message.endswith("at the cluster scope: no RBAC policy matched")


async def test_401_is_unauthorized() -> None:
    authz, up, _ = make((401, status(401, "Unauthorized")))
    assert await authz.authorize(AUTH, PODS) == Verdict(False, 401, "Unauthorized")
    assert up.responses[0].released


async def test_403_on_the_review_itself_is_refused() -> None:
    msg = (
        'selfsubjectaccessreviews.authorization.k8s.io is forbidden: User "system:anonymous" '
        'cannot create resource "selfsubjectaccessreviews"'
    )
    authz, _, _ = make((403, status(403, msg)))
    verdict = await authz.authorize({}, PODS_X)
    assert (verdict.allowed, verdict.code) == (False, 403)
    assert 'may not list resource "pods" in API group "" in the namespace "x"' in verdict.message
    assert verdict.message.endswith(f"SelfSubjectAccessReview: {msg}")


async def test_403_without_a_status_body_is_still_refused() -> None:
    authz, _, _ = make((403, b"forbidden"))
    verdict = await authz.authorize(AUTH, PODS)
    assert (verdict.allowed, verdict.code) == (False, 403)
    assert verdict.message.endswith("refused its SelfSubjectAccessReview")


@pytest.mark.parametrize(
    "answer",
    [
        (500, status(500, "etcdserver: request timed out")),
        (404, status(404, "not found")),
        (201, b"{not json"),
        (201, b"[]"),
        (201, orjson.dumps({"status": {}})),
        (201, orjson.dumps({"status": {"allowed": "yes"}})),
        UpstreamError("POST http://127.0.0.1:1: ClientConnectorError: refused"),
    ],
    ids=["500", "404", "bad-json", "not-an-object", "no-allowed", "allowed-not-bool", "conn"],
)
async def test_no_answer_raises_and_is_not_cached(answer: Answer) -> None:
    authz, up, _ = make(answer)
    for _ in range(2):
        with pytest.raises(UpstreamError) as err:
            await authz.authorize(AUTH, PODS)
        assert TOKEN not in str(err.value)
    assert len(up.calls) == 2  # the second call asked again
    assert len(authz) == 0
    assert all(r.released for r in up.responses)
    assert authz.stats == ReviewStats(reviews=2, errors=2)


async def test_a_review_that_does_not_answer_in_time_raises() -> None:
    authz, up, _ = make((201, ssar(True)), timeout=0.01)
    up.gate = asyncio.Event()  # never set: the upstream hangs
    with pytest.raises(UpstreamError, match=r"no answer in 0\.01 s"):
        await authz.authorize(AUTH, PODS)
    assert len(authz) == 0 and not authz._inflight


# --- what is sent --------------------------------------------------------------------------


@pytest.mark.parametrize("proxy", [False, True], ids=["CIMultiDict", "aiohttp-request-proxy"])
async def test_only_the_callers_credentials_are_sent(proxy: bool) -> None:
    authz, up, _ = make()
    headers: CIMultiDict[str] = CIMultiDict(
        [
            ("authorization", f"Bearer {TOKEN}"),
            ("Impersonate-User", "jane"),
            ("Impersonate-Group", "devs"),
            ("Impersonate-Group", "ops"),
            ("Impersonate-Uid", "u-1"),
            ("Impersonate-Extra-Scopes", "view"),
            ("Cookie", "session=abc"),
            ("Proxy-Authorization", "Basic cHJveHk6cHc="),
            ("X-Remote-User", "admin"),
            ("Host", "proxy:8443"),
            ("Content-Type", "application/vnd.kubernetes.protobuf"),
            ("Accept", "application/vnd.kubernetes.protobuf"),
        ]
    )
    # aiohttp hands a handler its request headers as a read-only CIMultiDictProxy.
    await authz.authorize(CIMultiDictProxy(headers) if proxy else headers, PODS)
    [call] = up.calls
    assert sorted((k.lower(), v) for k, v in call.headers.items()) == sorted(
        [
            ("authorization", f"Bearer {TOKEN}"),
            ("impersonate-user", "jane"),
            ("impersonate-group", "devs"),
            ("impersonate-group", "ops"),
            ("impersonate-uid", "u-1"),
            ("impersonate-extra-scopes", "view"),
            ("content-type", "application/json"),
            ("accept", "application/json"),
        ]
    )
    assert call.headers.getall("Impersonate-Group") == ["devs", "ops"]
    assert call.own is False


async def test_a_request_without_credentials_is_reviewed_as_anonymous() -> None:
    authz, up, _ = make((401, status(401, "Unauthorized")))
    assert (await authz.authorize({"Accept": "application/json"}, PODS)).code == 401
    [call] = up.calls
    assert "Authorization" not in call.headers
    assert sorted(call.headers) == ["Accept", "Content-Type"]
    assert call.own is False


# --- the cache -----------------------------------------------------------------------------


async def test_allowed_answers_are_reused_for_10_s() -> None:
    authz, up, clock = make()
    await authz.authorize(AUTH, PODS)
    clock.advance(9.99)
    assert (await authz.authorize(AUTH, PODS)).allowed
    assert len(up.calls) == 1
    clock.advance(0.01)  # 10 s after the review was sent
    await authz.authorize(AUTH, PODS)
    assert len(up.calls) == 2
    assert authz.stats == ReviewStats(reviews=2, cache_hits=1, allowed=3)


@pytest.mark.parametrize(
    "answer", [(201, ssar(False)), (401, b""), (403, b"")], ids=["denied", "401", "ssar-403"]
)
async def test_refusals_are_reused_for_2_s(answer: Answer) -> None:
    authz, up, clock = make(answer)
    first = await authz.authorize(AUTH, PODS)
    clock.advance(1.99)
    assert await authz.authorize(AUTH, PODS) == first
    assert len(up.calls) == 1
    clock.advance(0.01)
    await authz.authorize(AUTH, PODS)
    assert len(up.calls) == 2
    assert authz.stats == ReviewStats(reviews=2, cache_hits=1, denied=3)


async def test_ttls_are_configurable() -> None:
    authz, up, clock = make(allowed_ttl=1.0)
    await authz.authorize(AUTH, PODS)
    clock.advance(1.0)
    await authz.authorize(AUTH, PODS)
    assert len(up.calls) == 2


async def test_ttl_counts_from_when_the_review_was_sent() -> None:
    authz, up, clock = make()
    up.gate = asyncio.Event()
    pending = asyncio.ensure_future(authz.authorize(AUTH, PODS))
    await until(lambda: len(up.calls) == 1)  # the review has been sent
    clock.advance(4.0)  # the answer takes 4 s to arrive
    up.gate.set()
    await pending
    up.gate = None
    clock.advance(6.0)  # 10 s after sending, 6 s after answering
    await authz.authorize(AUTH, PODS)
    assert len(up.calls) == 2


async def test_each_credential_and_each_request_is_its_own_entry() -> None:
    authz, up, _ = make(lambda c: (201, ssar(c.headers.get("Authorization") == "Bearer a")))
    a, b = {"Authorization": "Bearer a"}, {"Authorization": "Bearer b"}
    assert (await authz.authorize(a, PODS)).allowed
    assert not (await authz.authorize(b, PODS)).allowed
    assert (await authz.authorize(a, PODS_X)).allowed
    assert (await authz.authorize(a, Attributes("watch", "", "v1", "pods", ""))).allowed
    assert len(up.calls) == 4 and len(authz) == 4
    # Impersonated as someone else is someone else.
    await authz.authorize({**a, "Impersonate-User": "jane"}, PODS)
    assert len(up.calls) == 5


async def test_impersonated_groups_in_any_order_and_header_case_are_one_entry() -> None:
    authz, up, _ = make()
    one: CIMultiDict[str] = CIMultiDict(
        [("Authorization", "Bearer a"), ("Impersonate-Group", "x"), ("Impersonate-Group", "y")]
    )
    two: CIMultiDict[str] = CIMultiDict(
        [("impersonate-group", "y"), ("AUTHORIZATION", "Bearer a"), ("impersonate-group", "x")]
    )
    await authz.authorize(one, PODS)
    await authz.authorize(two, PODS)
    assert len(up.calls) == 1
    only_x: CIMultiDict[str] = CIMultiDict(
        [("Authorization", "Bearer a"), ("Impersonate-Group", "x")]
    )
    await authz.authorize(only_x, PODS)
    assert len(up.calls) == 2


async def test_the_cache_holds_digests_never_the_credential() -> None:
    authz, _, _ = make((201, ssar(False)))
    await authz.authorize({**AUTH, "Impersonate-User": "jane"}, PODS)
    await authz.authorize({"Authorization": "Basic dXNlcjpwYXNzd29yZA=="}, PODS)
    assert len(authz._cache) == 2
    for key, (_, verdict) in authz._cache.items():
        assert isinstance(key, bytes) and len(key) == 32  # a SHA-256 digest
        assert TOKEN.encode() not in key and b"dXNlcjpwYXNzd29yZA" not in key
        assert TOKEN not in verdict.message and "dXNlcjpwYXNzd29yZA" not in verdict.message
    everything = repr(authz._cache) + repr(authz._inflight) + repr(authz.stats)
    assert TOKEN not in everything and "dXNlcjpwYXNzd29yZA" not in everything
    assert TOKEN.encode().hex() not in everything


async def test_lru_bound_evicts_the_least_recently_used() -> None:
    authz, up, _ = make(max_entries=2)
    a, b, c = ({"Authorization": f"Bearer {t}"} for t in "abc")
    await authz.authorize(a, PODS)
    await authz.authorize(b, PODS)
    await authz.authorize(a, PODS)  # a is now more recent than b
    assert len(up.calls) == 2
    await authz.authorize(c, PODS)  # evicts b
    assert len(authz) == 2
    await authz.authorize(a, PODS)
    await authz.authorize(c, PODS)
    assert len(up.calls) == 3
    await authz.authorize(b, PODS)  # b was evicted: asked again, and evicts a (least recent)
    assert len(up.calls) == 4
    await authz.authorize(c, PODS)
    assert len(up.calls) == 4
    await authz.authorize(a, PODS)
    assert len(up.calls) == 5
    assert len(authz) == 2


def test_max_entries_must_be_positive() -> None:
    with pytest.raises(ValueError):
        ReviewAuthorizer(cast(Upstream, FakeUpstream()), FakeClock(), max_entries=0)


# --- single flight -------------------------------------------------------------------------


async def test_concurrent_identical_misses_share_one_review() -> None:
    authz, up, _ = make()
    up.gate = asyncio.Event()
    first = asyncio.ensure_future(authz.authorize(AUTH, PODS))
    second = asyncio.ensure_future(authz.authorize(AUTH, PODS))
    other = asyncio.ensure_future(authz.authorize(AUTH, PODS_X))
    await until(lambda: len(up.calls) == 2)  # PODS once, PODS_X once
    await asyncio.sleep(0)
    assert len(up.calls) == 2
    up.gate.set()
    assert (await first).allowed and (await second).allowed and (await other).allowed
    assert len(up.calls) == 2
    assert not authz._inflight
    assert authz.stats == ReviewStats(reviews=2, cache_hits=1, allowed=3)


async def test_a_shared_failure_reaches_every_waiter_and_is_forgotten() -> None:
    authz, up, _ = make(UpstreamError("POST http://x: ServerDisconnectedError"))
    up.gate = asyncio.Event()
    waiters = [asyncio.ensure_future(authz.authorize(AUTH, PODS)) for _ in range(3)]
    await until(lambda: len(up.calls) == 1)
    await asyncio.sleep(0)
    assert len(up.calls) == 1
    up.gate.set()
    results = await asyncio.gather(*waiters, return_exceptions=True)
    assert all(isinstance(r, UpstreamError) for r in results)
    assert not authz._inflight and len(authz) == 0
    up.gate, up.answer = None, (201, ssar(True))
    assert (await authz.authorize(AUTH, PODS)).allowed
    assert len(up.calls) == 2
    assert authz.stats == ReviewStats(reviews=2, cache_hits=2, allowed=1, errors=3)


async def test_a_waiter_that_gives_up_does_not_cancel_the_review_for_the_others() -> None:
    authz, up, _ = make()
    up.gate = asyncio.Event()
    leaver = asyncio.ensure_future(authz.authorize(AUTH, PODS))
    stayer = asyncio.ensure_future(authz.authorize(AUTH, PODS))
    await until(lambda: len(up.calls) == 1)
    leaver.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leaver
    up.gate.set()
    assert (await stayer).allowed
    assert len(up.calls) == 1 and len(authz) == 1
