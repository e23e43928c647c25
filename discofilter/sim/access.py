"""Access reviews on the emulator: ``SelfSubjectAccessReview`` and ``SubjectAccessReview``.

A proxy that serves callers from a shared cache asks the API server, as each caller, whether the
caller may list or watch what it asks (issue 15). The emulator has no users and no RBAC, so its
answer comes from a *policy*: by default every request is allowed (the emulator serves every
request today, credentials or not, and a review must agree with that); a test that needs an
identity with narrower rights installs its own ``policy(token, attributes) -> bool``, where
``token`` is the caller's bearer token (None without one; for a ``SubjectAccessReview`` the
reviewed ``spec.user``) and ``attributes`` the review's ``spec.resourceAttributes``.

Authentication: by default any bearer token is accepted (the emulator knows no users). A test that
needs the API server's ``401`` for an unknown token sets ``tokens`` (``Simulator.access_tokens``):
a review carrying a bearer token outside that set is then answered ``401 Unauthorized``, as
kube-apiserver answers a token no authenticator accepts; a review without a bearer token still
reaches the policy with ``token=None`` (anonymous).

Wire shape as kube-apiserver's: POST the review object (JSON), answer ``201 Created`` with the
object echoed and ``status: {allowed, denied?, reason?}``. Protobuf review bodies are not
supported (415, like other protobuf bodies without the codec), nor ``nonResourceAttributes``
(answered not allowed, with a reason saying so).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

import orjson
from aiohttp import web

from discofilter.sim.apierrors import ApiError, bad_request

GROUP_VERSION = "authorization.k8s.io/v1"
SELF = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
SUBJECT = "/apis/authorization.k8s.io/v1/subjectaccessreviews"
PATHS = {SELF: "SelfSubjectAccessReview", SUBJECT: "SubjectAccessReview"}

Policy = Callable[[str | None, Mapping[str, Any]], bool]


def allow_all(token: str | None, attributes: Mapping[str, Any]) -> bool:
    return True


def bearer(headers: Mapping[str, str]) -> str | None:
    auth = headers.get("Authorization", "")
    scheme, _, value = auth.partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


async def review(
    request: web.Request, path: str, policy: Policy, tokens: Collection[str] | None = None
) -> web.Response:
    """Answer one access review POSTed to ``path`` (one of ``PATHS``); ``tokens``, when given,
    are the only bearer tokens authenticated (another one is a 401, before the body is read)."""
    caller = bearer(request.headers)
    if tokens is not None and caller is not None and caller not in tokens:
        # kube-apiserver's exact answer: no hint whether the token is unknown, expired or revoked.
        raise ApiError(401, "Unauthorized", "Unauthorized")
    ctype = request.headers.get("Content-Type", "application/json").split(";")[0].strip()
    if ctype != "application/json":
        raise ApiError(
            415,
            f"the emulator reads access reviews as JSON only, not {ctype}",
            "UnsupportedMediaType",
        )
    try:
        doc = orjson.loads(await request.read())
    except orjson.JSONDecodeError as e:
        raise bad_request(f"invalid access review body: {e}") from e
    spec = doc.get("spec") if isinstance(doc, dict) else None
    if not isinstance(spec, dict):
        raise bad_request("an access review needs a spec")
    attrs = spec.get("resourceAttributes")
    if not isinstance(attrs, dict):
        status: dict[str, Any] = {
            "allowed": False,
            "reason": "the emulator reviews resourceAttributes only",
        }
    else:
        who = caller if path == SELF else spec.get("user")
        allowed = bool(policy(who, attrs))
        status = {"allowed": allowed}
        if not allowed:
            status["reason"] = "denied by the emulator's access policy"
    body = {
        "kind": PATHS[path],
        "apiVersion": GROUP_VERSION,
        "metadata": {"creationTimestamp": None},
        "spec": spec,
        "status": status,
    }
    return web.Response(status=201, body=orjson.dumps(body), content_type="application/json")
