"""Kubernetes ``Status`` responses written by the proxy itself (never by the upstream)."""

from __future__ import annotations

from aiohttp import web

from discofilter.status import status_json


def status_response(
    code: int, message: str, reason: str | None = None, retry_after: int | None = None
) -> web.Response:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return web.Response(
        status=code,
        body=status_json(code, message, reason),
        content_type="application/json",
        headers=headers,
    )
