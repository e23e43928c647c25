"""The scripted-upstream answers the shared-watch fault tests have in common."""

from __future__ import annotations

import orjson
from aiohttp import web

from tests.reliability.fakes import JSON


def common_answer(request: web.Request, list_rv: str) -> web.StreamResponse | None:
    """Allow every access review, answer other paths with ``{}`` and a pods LIST (empty, at
    ``list_rv``); None for a pods WATCH, which each test scripts itself."""
    if request.path.endswith("/selfsubjectaccessreviews"):
        review = {"kind": "SelfSubjectAccessReview", "status": {"allowed": True}}
        return web.Response(status=201, body=orjson.dumps(review), content_type=JSON)
    if request.path != "/api/v1/pods":
        return web.Response(body=b"{}", content_type=JSON)
    if "watch" not in request.query:
        doc = {"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": list_rv},
               "items": []}  # fmt: skip
        return web.Response(body=orjson.dumps(doc), content_type=JSON)
    return None
