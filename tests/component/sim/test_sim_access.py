"""Access reviews on the emulator: kube-apiserver's wire shape, answered by a policy."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp

from discofilter.sim import Simulator
from discofilter.sim.access import SELF, SUBJECT

PODS_CLUSTER = {"verb": "list", "group": "", "version": "v1", "resource": "pods", "namespace": ""}


def _review(kind: str, attrs: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "kind": kind,
        "apiVersion": "authorization.k8s.io/v1",
        "spec": {"resourceAttributes": attrs, **spec},
    }


async def test_default_policy_allows_and_echoes_the_review(sim: Simulator) -> None:
    body = _review("SelfSubjectAccessReview", PODS_CLUSTER)
    async with aiohttp.ClientSession(sim.url) as s, s.post(SELF, json=body) as r:
        assert r.status == 201
        doc = await r.json()
    assert doc["kind"] == "SelfSubjectAccessReview"
    assert doc["apiVersion"] == "authorization.k8s.io/v1"
    assert doc["spec"]["resourceAttributes"] == PODS_CLUSTER
    assert doc["status"] == {"allowed": True}
    assert sim.requests["create selfsubjectaccessreviews"] == 1


async def test_policy_sees_the_callers_token_and_the_attributes(sim: Simulator) -> None:
    seen: list[tuple[str | None, dict[str, Any]]] = []

    def one_namespace(token: str | None, attrs: Mapping[str, Any]) -> bool:
        seen.append((token, dict(attrs)))
        return token == "admin" or attrs.get("namespace") == "mesh-a"

    sim.access_policy = one_namespace
    async with aiohttp.ClientSession(sim.url) as s:
        hdr = {"Authorization": "Bearer narrow"}
        body = _review("SelfSubjectAccessReview", PODS_CLUSTER)
        async with s.post(SELF, json=body, headers=hdr) as r:
            denied = await r.json()
        body = _review("SelfSubjectAccessReview", {**PODS_CLUSTER, "namespace": "mesh-a"})
        async with s.post(SELF, json=body, headers=hdr) as r:
            allowed = await r.json()
        body = _review("SubjectAccessReview", PODS_CLUSTER, user="admin")
        async with s.post(SUBJECT, json=body) as r:
            sar = await r.json()
    assert denied["status"]["allowed"] is False and denied["status"]["reason"]
    assert allowed["status"] == {"allowed": True}
    assert sar["kind"] == "SubjectAccessReview" and sar["status"] == {"allowed": True}
    assert [t for t, _ in seen] == ["narrow", "narrow", "admin"]
    assert seen[0][1] == PODS_CLUSTER


async def test_bad_reviews_are_status_errors(sim: Simulator) -> None:
    async with aiohttp.ClientSession(sim.url) as s:
        async with s.post(
            SELF, data=b"{not json", headers={"Content-Type": "application/json"}
        ) as r:
            assert r.status == 400
            assert (await r.json())["kind"] == "Status"
        async with s.post(SELF, json={"kind": "SelfSubjectAccessReview"}) as r:
            assert r.status == 400
        proto = {"Content-Type": "application/vnd.kubernetes.protobuf"}
        async with s.post(SELF, data=b"k8s\x00", headers=proto) as r:
            assert r.status == 415
        body = {"spec": {"nonResourceAttributes": {"path": "/healthz", "verb": "get"}}}
        async with s.post(SELF, json=body) as r:
            assert r.status == 201
            assert (await r.json())["status"]["allowed"] is False


async def test_unknown_token_is_401_when_tokens_are_set(sim: Simulator) -> None:
    sim.access_policy = lambda token, attrs: token == "a"
    body = _review("SelfSubjectAccessReview", PODS_CLUSTER)
    async with aiohttp.ClientSession(sim.url) as s:
        # Default: every token is authenticated, the policy decides.
        async with s.post(SELF, json=body, headers={"Authorization": "Bearer zz"}) as r:
            assert r.status == 201 and (await r.json())["status"]["allowed"] is False
        sim.access_tokens = frozenset({"a"})
        async with s.post(SELF, json=body, headers={"Authorization": "Bearer zz"}) as r:
            assert r.status == 401
            assert await r.json() == {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Failure",
                "message": "Unauthorized",
                "reason": "Unauthorized",
                "code": 401,
            }
        async with s.post(SELF, json=body, headers={"Authorization": "Bearer a"}) as r:
            assert r.status == 201 and (await r.json())["status"] == {"allowed": True}
        # No token: anonymous, not unauthenticated-with-a-bad-token; the policy answers.
        async with s.post(SELF, json=body) as r:
            assert r.status == 201 and (await r.json())["status"]["allowed"] is False
