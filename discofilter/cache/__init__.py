"""The shared-watch cache core: one upstream LIST+WATCH per key, served to N clients (pure).

Data flow with sharing: upstream reflector → decode + filter **once** → ``SharedCache.apply`` →
store + window → one bounded ``Watcher`` per client → (per client: coalesce, encode) → client.

Shaped after kube-apiserver's ``storage/cacher`` (docs/shared-watches.md says what is the same and
what differs, and why)::

    SharedCache         cache.py     one per CacheKey: applies upstream input, fans out, serves
    ├── Store           store.py     the enrolled objects only: original bytes + parsed metadata
    ├── Window          window.py    the cyclic window of recent frames, bounded in events and bytes
    ├── Watcher         watcher.py   one per client: lazy replay/initial state + a bounded buffer
    └── Snapshots       listing.py   LIST pages from pinned snapshots with expiring continue tokens
    Framer              frames.py    object bytes <-> watch frames in the key's content type

No I/O and no server imports (tests/unit/test_layering.py): the server (phase B) feeds it and
drains its watchers; time comes from an injected ``Clock``.
"""

from __future__ import annotations

from discofilter.cache.cache import SharedCache
from discofilter.cache.frames import Framer, JsonFramer, ProtoFramer, framer_for
from discofilter.cache.listing import ListPage
from discofilter.cache.types import (
    BadContinueToken,
    CachedObject,
    CacheError,
    CacheKey,
    CacheLimits,
    CacheStats,
    ExpiredToken,
    InvalidResourceVersion,
)
from discofilter.cache.watcher import Watcher

__all__ = [
    "BadContinueToken",
    "CacheError",
    "CacheKey",
    "CacheLimits",
    "CacheStats",
    "CachedObject",
    "ExpiredToken",
    "Framer",
    "InvalidResourceVersion",
    "JsonFramer",
    "ListPage",
    "ProtoFramer",
    "SharedCache",
    "Watcher",
    "framer_for",
]
