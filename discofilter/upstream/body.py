"""``AiohttpBody``: an upstream watch response read chunk by chunk, its breakage typed.

A broken connection (reset, truncated chunked body, payload error) becomes ``UpstreamBroken``
whatever aiohttp or the socket raised, so every reader of a watch body (the client streams'
``WatchPump``, the shared reflector, its progress probes) handles one exception. It fits the
pump's ``server.streams.body.UpstreamBody`` protocol.
"""

from __future__ import annotations

import asyncio

import aiohttp

from discofilter.errors import UpstreamBroken

_BROKEN = (aiohttp.ClientError, asyncio.IncompleteReadError, ConnectionError)


class AiohttpBody:
    """An aiohttp upstream response as the pump's ``UpstreamBody``."""

    __slots__ = ("_read", "_resp")

    def __init__(self, resp: aiohttp.ClientResponse) -> None:
        self._resp = resp
        self._read = resp.content.readany

    async def read_chunk(self) -> bytes:
        """The next chunk, ``b""`` at EOF; ``UpstreamBroken`` when the connection broke."""
        try:
            return await self._read()
        except _BROKEN as e:
            raise UpstreamBroken(type(e).__name__) from e

    def close(self) -> None:
        self._resp.close()
