"""Which resources are namespaced: read from the upstream's discovery documents.

``GET /api/v1`` and ``GET /apis`` (APIGroupList), then ``GET /apis/G/V`` for every served
version, each an ``APIResourceList`` whose entries say ``namespaced: true|false``. Subresources
(``pods/log``) are skipped. Custom resources and aggregated APIs appear like any other group.
A group version that fails (an aggregated API server that is down answers 503) is skipped with a
log line: its resources are then passed through unfiltered, which only costs bandwidth, never
correctness for enrolled namespaces. Uses the proxy's own identity.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson

from discofilter.errors import UpstreamError
from discofilter.upstream.client import Upstream

log = logging.getLogger(__name__)

_ACCEPT = {"Accept": "application/json"}


async def _get_json(upstream: Upstream, path: str) -> Any:
    resp = await upstream.request("GET", path, _ACCEPT, own=True, decompress=True)
    try:
        body = await resp.read()
        if resp.status != 200:
            raise UpstreamError(f"GET {path}: HTTP {resp.status}")
        return orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise UpstreamError(f"GET {path}: not JSON") from e
    finally:
        resp.release()


def namespaced_from_resource_list(group: str, doc: Any) -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    for r in (doc or {}).get("resources") or []:
        name = r.get("name", "")
        if name and "/" not in name and r.get("namespaced"):
            out.add((group, name))
    return out


async def discover_namespaced(upstream: Upstream) -> frozenset[tuple[str, str]]:
    """All (group, resource) pairs the upstream serves as namespaced. Raises UpstreamError when
    the core group cannot be read (nothing sensible can be filtered then)."""
    core = await _get_json(upstream, "/api/v1")
    found = namespaced_from_resource_list("", core)
    try:
        groups = await _get_json(upstream, "/apis")
    except UpstreamError as e:
        log.warning("discovery: /apis unavailable, core group only", extra={"error": str(e)})
        return frozenset(found)
    paths: list[tuple[str, str]] = []
    for g in groups.get("groups") or []:
        for v in g.get("versions") or []:
            gv = v.get("groupVersion")
            if gv:
                paths.append((g.get("name", ""), f"/apis/{gv}"))

    async def one(group: str, path: str) -> set[tuple[str, str]]:
        try:
            return namespaced_from_resource_list(group, await _get_json(upstream, path))
        except UpstreamError as e:
            log.warning("discovery: skipping group version", extra={"path": path, "error": str(e)})
            return set()

    for part in await asyncio.gather(*(one(g, p) for g, p in paths)):
        found |= part
    return frozenset(found)
