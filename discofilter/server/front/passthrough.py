"""Everything that is not a filtered collection: forwarded streaming and byte for byte.

The request goes upstream with the caller's headers minus hop-by-hop ones; the response comes
back with its status, headers (minus hop-by-hop) and body exactly as sent: the upstream session
does not decompress, so a gzip body keeps its ``Content-Encoding`` and ``Content-Length``.
Request bodies are read whole (at most the app's ``client_max_size``, 16 MiB; the API server
itself refuses bodies over 3 MiB) because a Content-Length body is what every client sends.
"""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

from discofilter.server.front.headers import forward_headers


async def relay_response(
    request: web.Request, up: aiohttp.ClientResponse, slow_client_seconds: float
) -> web.StreamResponse:
    """Copy status, headers and body of ``up`` to the client, streaming."""
    headers = forward_headers(up.headers)
    out = web.StreamResponse(status=up.status, reason=up.reason, headers=headers)
    if "Content-Length" in headers:
        out.content_length = int(headers["Content-Length"])
    elif up.status not in (204, 304) and request.method != "HEAD":
        out.enable_chunked_encoding()  # bodies without a length (watches) stream as chunks
    # Content-Encoding is kept as the upstream sent it; aiohttp must not compress again.
    await out.prepare(request)
    try:
        async for chunk in up.content.iter_any():
            async with asyncio.timeout(slow_client_seconds):
                await out.write(chunk)
    except (aiohttp.ClientError, TimeoutError, ConnectionResetError):
        # Upstream broke or client stalled mid-body: drop the connection; the client retries.
        if request.transport is not None:
            request.transport.close()
        return out
    await out.write_eof()
    return out


async def read_body(request: web.Request) -> bytes | None:
    return await request.read() if request.body_exists else None


def upstream_headers(request: web.Request, drop_impersonation: bool = False) -> CIMultiDict[str]:
    return forward_headers(request.headers, drop_impersonation=drop_impersonation)
