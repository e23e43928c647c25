"""Progress probes: learn that a quiet key's cache is already as fresh as the upstream.

A consistent read (``resourceVersion=""``) from the cache must wait until the cache has reached
the upstream's current resourceVersion R (``front/cached.py``). The cache's RV moves only with
its kind's own events and bookmarks, and kube-apiserver bookmarks a watch about once a minute:
on a quiet kind the cache sits below R (every write of any other kind moves etcd's revision)
and the read would time out and go to the upstream, once per client. That is exactly the case
after an enrollment flip, when N replicas relist at once.

kube-apiserver has no "request progress" call for its clients, but its cacher bookmarks a watch
2 s before the watch's deadline (``cacheWatcher.nextBookmarkTime``). So a probe is a second,
short watch from the cache's RV ``h`` with ``allowWatchBookmarks=true&timeoutSeconds=3``: it gets
the events after ``h`` (usually none) and, about a second later, a BOOKMARK at the cacher's RV
``B``. Every event in ``(h, B]`` of the key was on the probe; once the cache's own stream has
applied the newest of them (``after``), no event at or below ``B`` can still come on it, so the
cache may advance to ``B`` (``SharedCache.progress``): the same inference the cache makes from an
upstream BOOKMARK on its own stream. One probe per key at a time; its waiters share it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from discofilter.codec import decoder_for
from discofilter.errors import CodecError, UpstreamBroken, UpstreamError
from discofilter.model import BOOKMARK, ERROR, rv_int
from discofilter.upstream.body import AiohttpBody
from discofilter.upstream.client import Upstream

PROBE_TIMEOUT_SECONDS = 3
"""The probe watch's ``timeoutSeconds``: kube-apiserver bookmarks it at deadline - 2 s."""


@dataclass(frozen=True, slots=True)
class Progress:
    bookmark: int
    """The RV the upstream's bookmark said the stream has reached."""
    after: int
    """The newest event RV the probe saw before it (the start RV when it saw none)."""


async def probe(
    upstream: Upstream,
    path_qs: str,
    headers: dict[str, str],
    start_rv: int,
    *,
    max_frame_bytes: int,
    within: float,
) -> Progress | None:
    """One probe watch (``path_qs`` carries the key's query and ``resourceVersion=start_rv``);
    None when no bookmark came within ``within`` seconds or the upstream refused."""
    after = start_rv
    try:
        async with asyncio.timeout(within):
            resp = await upstream.request("GET", path_qs, headers, own=True)
            try:
                if resp.status != 200:
                    return None
                decoder = decoder_for(resp.headers.get("Content-Type", ""), max_frame_bytes)
                body = AiohttpBody(resp)
                while chunk := await body.read_chunk():
                    for ev in decoder.feed(chunk):
                        if ev.type == BOOKMARK:
                            rv = rv_int(ev.resource_version)
                            return Progress(rv, after) if rv >= after else None
                        if ev.type == ERROR:
                            return None
                        after = max(after, rv_int(ev.resource_version))
            finally:
                resp.close()  # a probe is never read to its end
    except (TimeoutError, UpstreamError, UpstreamBroken, CodecError):
        return None
    return None
