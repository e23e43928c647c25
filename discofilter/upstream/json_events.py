"""The body of a JSON WATCH response, event by event: what the proxy's own small watchers read
(the namespace informer, the meshConfigFrom ConfigMap watch).

The codec's line decoder bounds a line (``FrameTooLarge``) instead of buffering a newline-less
upstream without limit; these watchers need whole objects (labels, the mesh value), so each
line is parsed. A broken body (connection, malformed JSON, a line over the bound) becomes one
``UpstreamError`` naming the watch, which the reflector loop retries; what the handler raises
(an ERROR event, 410) passes through untouched.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiohttp
import orjson

from discofilter.codec import JsonWatchDecoder
from discofilter.errors import CodecError, UpstreamError


async def each_json_event(
    resp: aiohttp.ClientResponse,
    on_event: Callable[[dict[str, Any]], None],
    what: str,
    expired: type[Exception],
) -> None:
    """Every event of ``resp``'s body, decoded, to ``on_event`` until EOF (the caller releases
    the response). An ERROR event ends the watch: ``expired()`` for a 410 (only a fresh LIST
    helps), else an ``UpstreamError`` with the Status message."""
    try:
        decoder = JsonWatchDecoder()
        async for chunk in resp.content.iter_any():
            for frame in decoder.feed(chunk):
                ev = orjson.loads(frame.raw)
                if ev.get("type") == "ERROR":
                    status = ev.get("object") or {}
                    if status.get("code") == 410:
                        raise expired()
                    raise UpstreamError(f"{what} error: {status.get('message')}")
                on_event(ev)
        decoder.flush()
    except (aiohttp.ClientError, orjson.JSONDecodeError, CodecError) as e:
        raise UpstreamError(f"{what} broke: {e}") from e
