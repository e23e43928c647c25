"""Cluster-wide LISTs: the upstream body, filtered by namespace enrollment.

Upstream bodies may be gzip: the request asks for gzip (a 10k-pod list is ~60 MB of JSON, ~6 MB
gzipped, so it crosses the upstream link 10x cheaper), aiohttp decompresses, the codec filters,
and the client gets an uncompressed body with a fresh ``Content-Length`` and no
``Content-Encoding``. Pagination (``limit``/``continue``) passes through: pages may come back
shorter or empty, and ``remainingItemCount`` is dropped by the codec (contract 4).
Non-2xx answers (Status bodies) are returned as they came.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from multidict import CIMultiDict

from discofilter.codec import filter_list_versioned
from discofilter.errors import CodecError
from discofilter.server.front.headers import forward_headers
from discofilter.server.front.responses import status_response
from discofilter.upstream.client import Upstream


async def filtered_list(
    upstream: Upstream,
    path_qs: str,
    headers: CIMultiDict[str],
    keep: Callable[[str], bool],
    *,
    own: bool = False,
    served: Callable[[str], None] | None = None,
    body_read: Callable[[], None] | None = None,
) -> web.StreamResponse:
    """``served(resourceVersion)`` is told the version of every list it filtered: called with
    no await between filtering and the call, so the enrollment it reads is the one applied.
    ``body_read()`` is called once the upstream's whole body is in (the request-duration metric
    times a LIST until then, before filtering), also when the answer is not 200."""
    headers["Accept-Encoding"] = "gzip"
    up = await upstream.request("GET", path_qs, headers, own=own, decompress=True)
    try:
        body = await up.read()
    finally:
        up.release()
    if body_read is not None:
        body_read()
    out_headers = forward_headers(up.headers, drop=("Content-Length", "Content-Encoding"))
    if up.status != 200:
        return web.Response(status=up.status, body=body, headers=out_headers)
    ctype = up.headers.get("Content-Type", "")
    try:
        body, version = filter_list_versioned(body, ctype, keep)
        if served is not None:
            served(version)
    except CodecError as e:
        return status_response(500, f"discofilter could not filter the upstream list: {e}")
    return web.Response(status=200, body=body, headers=out_headers)
