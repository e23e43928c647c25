"""LIST pages from pinned snapshots, with continue tokens that expire (pure).

A paged LIST must be one consistent state across its pages. kube-apiserver gets that from etcd
(a page is read at the first page's revision, until compaction makes the token 410). Here the
first page with more to come pins the store's snapshot (a tuple of references, 8 bytes per
object; the object bytes are shared with the store) under a fresh id; the continue token names
the id and the last key served. Snapshots live ``snapshot_ttl_seconds`` and at most
``max_snapshots`` are pinned; a token whose snapshot is gone raises ``ExpiredToken`` (410), one
that does not decode raises ``BadContinueToken`` (400).
"""

from __future__ import annotations

import base64
import itertools
from bisect import bisect_right
from collections import OrderedDict
from dataclasses import dataclass

import orjson

from discofilter.cache.types import BadContinueToken, CachedObject, CacheLimits, ExpiredToken
from discofilter.clock import Clock

_TOKEN_VERSION = "discofilter.cache/v1"


@dataclass(frozen=True, slots=True)
class ListPage:
    """One page: items in key order, the list's resourceVersion, and the next token (or None)."""

    items: tuple[CachedObject, ...]
    resource_version: str
    continue_token: str | None


@dataclass(slots=True)
class _Snapshot:
    items: tuple[CachedObject, ...]
    keys: list[tuple[str, str]]
    resource_version: str
    expires_at: float


class Snapshots:
    """The pinned snapshots of one cache."""

    def __init__(self, limits: CacheLimits, clock: Clock) -> None:
        self._limits = limits
        self._clock = clock
        self._pinned: OrderedDict[int, _Snapshot] = OrderedDict()
        self._ids = itertools.count(1)

    def __len__(self) -> int:
        return len(self._pinned)

    def first_page(
        self, items: tuple[CachedObject, ...], resource_version: str, limit: int
    ) -> ListPage:
        """The first page of ``items`` (the store's snapshot at ``resource_version``)."""
        if limit <= 0 or limit >= len(items):
            return ListPage(items, resource_version, None)
        self._expire()
        while len(self._pinned) >= self._limits.max_snapshots:
            self._pinned.popitem(last=False)
        sid = next(self._ids)
        snap = _Snapshot(
            items,
            [o.key for o in items],
            resource_version,
            self._clock.monotonic() + self._limits.snapshot_ttl_seconds,
        )
        self._pinned[sid] = snap
        return self._page(sid, snap, 0, limit)

    def next_page(self, token: str, limit: int) -> ListPage:
        sid, after = _decode(token)
        self._expire()
        snap = self._pinned.get(sid)
        if snap is None:
            raise ExpiredToken("the continue token's snapshot expired; relist from the start")
        start = bisect_right(snap.keys, after)
        if limit <= 0:
            limit = len(snap.items)
        return self._page(sid, snap, start, limit)

    def _page(self, sid: int, snap: _Snapshot, start: int, limit: int) -> ListPage:
        stop = start + limit
        items = snap.items[start:stop]
        if stop >= len(snap.items):
            del self._pinned[sid]  # last page: nobody holds a token to it any more
            return ListPage(items, snap.resource_version, None)
        return ListPage(items, snap.resource_version, _encode(sid, snap.keys[stop - 1]))

    def _expire(self) -> None:
        now = self._clock.monotonic()
        for sid in [s for s, snap in self._pinned.items() if snap.expires_at <= now]:
            del self._pinned[sid]

    def clear(self) -> None:
        self._pinned.clear()


def _encode(sid: int, after: tuple[str, str]) -> str:
    doc = {"v": _TOKEN_VERSION, "s": sid, "k": list(after)}
    return base64.urlsafe_b64encode(orjson.dumps(doc)).decode().rstrip("=")


def _decode(token: str) -> tuple[int, tuple[str, str]]:
    try:
        doc = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        ok = isinstance(doc, dict) and doc.get("v") == _TOKEN_VERSION
        sid, key = (doc["s"], doc["k"]) if ok else (None, None)
    except (ValueError, TypeError, KeyError) as e:
        raise BadContinueToken("continue token does not decode") from e
    if not (isinstance(sid, int) and isinstance(key, list) and len(key) == 2):
        raise BadContinueToken("continue token was not issued by this cache")
    if not all(isinstance(part, str) for part in key):
        raise BadContinueToken("continue token was not issued by this cache")
    return sid, (key[0], key[1])
