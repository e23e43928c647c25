"""An informer-style watcher over aiohttp: LIST, then WATCH with bookmarks, relist on 410.

This is the measuring client of ``discofilter bench`` and ``discofilter demo``. It behaves like
client-go's Reflector feeding a Store, so what it measures is what an informer-based controller
(istiod) would pay:

* ``run`` is the retry loop; ``list_once`` and ``watch_once`` are the testable passes
  (client-go ``Run`` → ``ListAndWatch`` → ``watchHandler``).
* LIST pages through ``limit``/``continue`` and *replaces* the cache (informer ``Replace``);
  a 410 on a page or on the watch means "relist", exactly as the Reflector does.
* WATCH resumes from the newest resourceVersion seen (event or BOOKMARK), so a server that ends a
  stream after ``timeoutSeconds`` costs no events.

Every watch frame is logged with its receive time (the injected clock's ``monotonic``), type,
namespace, resourceVersion and size in bytes, so the harness can compute rates, bytes and the
latency added by a proxy (by joining receive times on resourceVersion). Lines are split from
``iter_any`` chunks by the codec's ``JsonWatchDecoder`` (bounded by ``max_frame_bytes``):
aiohttp's ``readline`` refuses lines over its 64 KiB buffer limit, and a large ConfigMap event
is legal at 1 MiB.

resourceVersions are opaque to Kubernetes clients; the harness compares them as integers only to
decide "has this watcher caught up with the upstream's final revision" — true for etcd-backed
kube-apiserver and for the emulator; a non-numeric version simply never counts as caught up.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp
import orjson

from discofilter.clock import Clock, SystemClock
from discofilter.codec import DEFAULT_MAX_FRAME_BYTES, JsonWatchDecoder
from discofilter.errors import CodecError
from discofilter.model import rv_int
from discofilter.upstream.queries import watch_query
from discofilter.upstream.reflector import list_and_watch

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Resource:
    """A watchable collection: its short name and its cluster-wide collection path."""

    kind: str
    path: str
    namespaced: bool = True


RESOURCES: dict[str, Resource] = {
    r.kind: r
    for r in (
        Resource("pods", "/api/v1/pods"),
        Resource("services", "/api/v1/services"),
        Resource("endpoints", "/api/v1/endpoints"),
        Resource("endpointslices", "/apis/discovery.k8s.io/v1/endpointslices"),
        Resource("configmaps", "/api/v1/configmaps"),
        Resource("secrets", "/api/v1/secrets"),
        Resource("namespaces", "/api/v1/namespaces", namespaced=False),
        Resource("nodes", "/api/v1/nodes", namespaced=False),
    )
}


def resource(kind: str) -> Resource:
    """The ``Resource`` for a short kind name (``pods``, ``endpointslices``...)."""
    try:
        return RESOURCES[kind]
    except KeyError:
        raise ValueError(f"unknown kind {kind!r}; known: {', '.join(sorted(RESOURCES))}") from None


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """What the watcher remembers of one object: enough to compare with the truth."""

    uid: str
    resource_version: str
    object_hash: int
    """CRC-32 of the object's JSON as received; cheap change detection, not a security hash."""


@dataclass(slots=True)
class EventLog:
    """Parallel columns, one row per watch frame received (cheaper than one object per row).

    Invariant: all columns have the same length; row i is the i-th frame in arrival order.
    """

    t: list[float] = field(default_factory=list)
    type: list[str] = field(default_factory=list)
    namespace: list[str] = field(default_factory=list)
    rv: list[str] = field(default_factory=list)
    nbytes: list[int] = field(default_factory=list)

    def append(self, t: float, type_: str, namespace: str, rv: str, nbytes: int) -> None:
        self.t.append(t)
        self.type.append(type_)
        self.namespace.append(namespace)
        self.rv.append(rv)
        self.nbytes.append(nbytes)

    def __len__(self) -> int:
        return len(self.t)

    def rows(self) -> Iterator[tuple[float, str, str, str, int]]:
        return zip(self.t, self.type, self.namespace, self.rv, self.nbytes, strict=True)


class Expired(Exception):
    """The server answered 410 Gone / Expired: the watcher must relist."""


@dataclass(slots=True)
class WatchCounters:
    """Totals a report needs besides the per-frame log."""

    lists: int = 0
    list_bytes: int = 0
    relists_410: int = 0
    watch_starts: int = 0
    stream_ends: int = 0
    """Watch streams the server ended (timeoutSeconds, a slow-client cut-off, a restart)."""
    error_events: int = 0
    """ERROR frames other than 410 (e.g. a proxy cutting off a slow client says so this way)."""
    http_errors: int = 0
    events: int = 0
    """ADDED/MODIFIED/DELETED frames received (the log also holds BOOKMARK and ERROR frames)."""


class Watcher:
    """One informer-style LIST+WATCH of one collection against one base URL."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        res: Resource,
        *,
        name: str = "",
        clock: Clock | None = None,
        page_size: int = 500,
        watch_timeout_s: int = 300,
        headers: dict[str, str] | None = None,
        retry_delay_s: float = 0.2,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
    ) -> None:
        self.session = session
        self.base_url = base_url.rstrip("/")
        self.resource = res
        self.name = name or res.kind
        self.clock: Clock = clock or SystemClock()
        # 500 is client-go's default page size for informers (pager.defaultPageSize).
        self.page_size = page_size
        # client-go picks a random 5-10 min; a fixed 300 s keeps runs reproducible.
        self.watch_timeout_s = watch_timeout_s
        self.headers = headers or {}
        self.retry_delay_s = retry_delay_s
        self.max_frame_bytes = max_frame_bytes
        """The longest watch line accepted (the codec's bound, 16 MiB by default)."""
        self.cache: dict[tuple[str, str], CacheEntry] = {}
        """Key (namespace, name) -> entry. Invariant: holds exactly the objects of the last LIST
        plus every watch event since, applied in order (DELETED removes the key)."""
        self.log = EventLog()
        self.counters = WatchCounters()
        self.last_rv = ""
        """The resourceVersion to resume from: the newest seen in a list, event or bookmark."""
        self.max_rv = -1
        """Numeric max of every resourceVersion seen; used only for catch-up checks."""
        self.synced = asyncio.Event()
        self._changed = asyncio.Event()

    # --- the retry loop --------------------------------------------------------------------

    async def run(self) -> None:
        """LIST then WATCH forever; relist on 410; retry after errors. Cancel to stop."""
        await list_and_watch(
            self.list_once,
            self.watch_once,
            expired=Expired,
            # ValueError and CodecError cover a truncated JSON line from a connection cut
            # mid-frame, or one over max_frame_bytes.
            retryable=(aiohttp.ClientError, OSError, ValueError, CodecError),
            on_error=self._failed,
            sleep=self.clock.sleep,
            delay=lambda _failures: self.retry_delay_s,
            on_expired=self._expired,
        )

    def _expired(self) -> None:
        self.counters.relists_410 += 1

    def _failed(self, e: Exception) -> None:
        self.counters.http_errors += 1
        log.debug("watcher %s: %s; retrying", self.name, e)

    # --- one LIST --------------------------------------------------------------------------

    async def list_once(self) -> str:
        """Page through the collection, replace the cache, return the list's resourceVersion."""
        items: dict[tuple[str, str], CacheEntry] = {}
        cont = ""
        while True:
            q: dict[str, str | int] = {"limit": self.page_size}
            if cont:
                q["continue"] = cont
            body = await self._get(q)
            self.counters.list_bytes += len(body)
            doc = orjson.loads(body)
            for obj in doc.get("items") or ():
                meta = obj.get("metadata") or {}
                key = (meta.get("namespace", ""), meta.get("name", ""))
                items[key] = CacheEntry(
                    meta.get("uid", ""), meta.get("resourceVersion", ""), _hash(obj)
                )
            lmeta = doc.get("metadata") or {}
            cont = lmeta.get("continue") or ""
            if not cont:
                rv = lmeta.get("resourceVersion", "")
                break
        self.cache = items
        self.counters.lists += 1
        self._see_rv(rv)
        self.synced.set()
        self._changed.set()
        return rv

    async def _get(self, q: dict[str, str | int]) -> bytes:
        url = f"{self.base_url}{self.resource.path}?{urlencode(q)}"
        async with self.session.get(url, headers=self.headers) as resp:
            body = await resp.read()
            if resp.status == 410:
                raise Expired(body[:200].decode(errors="replace"))
            if resp.status != 200:
                raise aiohttp.ClientResponseError(
                    resp.request_info, resp.history, status=resp.status, message=body[:200].decode()
                )
            return body

    # --- one WATCH -------------------------------------------------------------------------

    async def watch_once(self) -> None:
        """Watch from ``last_rv`` until the server ends the stream; raise Expired on 410."""
        q = watch_query(self.last_rv, self.watch_timeout_s)
        url = f"{self.base_url}{self.resource.path}?{q}"
        self.counters.watch_starts += 1
        async with self.session.get(url, headers=self.headers) as resp:
            if resp.status == 410:
                raise Expired("watch: 410")
            if resp.status != 200:
                body = await resp.read()
                raise aiohttp.ClientResponseError(
                    resp.request_info, resp.history, status=resp.status, message=body[:200].decode()
                )
            # The codec's decoder splits the lines, bounded (a line over max_frame_bytes
            # raises FrameTooLarge instead of growing a buffer without limit).
            decoder = JsonWatchDecoder(self.max_frame_bytes)
            async for chunk in resp.content.iter_any():
                now = self.clock.monotonic()
                for ev in decoder.feed(chunk):
                    self.handle_line(ev.raw, now)
            decoder.flush()
        self.counters.stream_ends += 1

    def handle_line(self, line: bytes, now: float) -> None:
        """Apply one watch frame (a JSON line) to the cache and the log."""
        ev = orjson.loads(line)
        type_ = ev.get("type", "")
        obj = ev.get("object") or {}
        meta = obj.get("metadata") or {}
        if type_ == "ERROR":
            code = obj.get("code")
            self.log.append(now, type_, "", "", len(line))
            if code == 410:
                raise Expired(obj.get("message", "expired"))
            self.counters.error_events += 1
            return
        ns = meta.get("namespace", "")
        rv = meta.get("resourceVersion", "")
        self.log.append(now, type_, ns, rv, len(line))
        if type_ == "BOOKMARK":
            self._see_rv(rv)
            self._changed.set()
            return
        self.counters.events += 1
        key = (ns, meta.get("name", ""))
        if type_ == "DELETED":
            self.cache.pop(key, None)
        else:
            self.cache[key] = CacheEntry(meta.get("uid", ""), rv, _hash(obj))
        self._see_rv(rv)
        self._changed.set()

    def _see_rv(self, rv: str) -> None:
        if not rv:
            return
        self.last_rv = rv
        n = rv_int(rv)
        if n > self.max_rv:
            self.max_rv = n

    # --- waiting for conditions (never sleep-and-hope) ---------------------------------------

    async def wait_for(self, predicate: Any, timeout_s: float) -> bool:
        """Wait until ``predicate(self)`` holds, re-checking after every frame; False on timeout."""

        async def _loop() -> None:
            while not predicate(self):
                self._changed.clear()
                await self._changed.wait()

        try:
            await asyncio.wait_for(_loop(), timeout_s)
        except TimeoutError:
            return bool(predicate(self))
        return True

    async def wait_for_rv(self, rv: int, timeout_s: float) -> bool:
        """Wait until this watcher has seen resourceVersion ``rv`` (event or bookmark)."""
        return await self.wait_for(lambda w: w.max_rv >= rv, timeout_s)

    def state(self) -> dict[tuple[str, str], tuple[str, str]]:
        """The cache as key -> (uid, resourceVersion), the shape correctness checks compare."""
        return {k: (e.uid, e.resource_version) for k, e in self.cache.items()}


def _hash(obj: dict[str, Any]) -> int:
    return zlib.crc32(orjson.dumps(obj, option=orjson.OPT_SORT_KEYS))
