"""``SharedWatches``: the shared-watch keys of one worker, started on demand, stopped when idle.

One ``KeyReflector`` (and its ``SharedCache``) per ``CacheKey``, started by the first client
request of the key and stopped ``idleSeconds`` after its last client left (the next request
lists it again). A key that cannot be shared (the proxy's identity may not list it, a frame the
cache cannot pass on) is remembered for ``RETRY_UNSHAREABLE_SECONDS``; meanwhile its clients are
served directly, exactly as without sharing.

Enrollment flips (``apply_changes``, called by ``ProxyServer.apply_enrollment_changes`` with no
await in between) reach every key at the same point: a namespace that left is dropped from each
cache (``leave``), one that joined is listed once per key (``join``). A cache that enrolled every
namespace (no selectors) cannot apply a flip: it is expired (every client 410s and relists) and
built again on the next request.

A housekeeping tick (1 s, on the injected clock) sends BOOKMARKs to watchers every
``bookmarkSeconds`` and stops idle keys.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from discofilter.cache import CacheError, CacheKey, CacheLimits, CacheStats
from discofilter.clock import Clock
from discofilter.config import SharedWatchesConfig
from discofilter.filter.enrollment import EnrollmentChange
from discofilter.server.shared.reflector import KeyReflector
from discofilter.upstream.client import Upstream

log = logging.getLogger(__name__)

RETRY_UNSHAREABLE_SECONDS = 60.0
TICK_SECONDS = 1.0


@dataclass(eq=False)
class _Entry:
    reflector: KeyReflector
    task: asyncio.Task[None]
    last_used: float
    last_bookmark: float
    lists_upstream: int = 0
    """LISTs of this key answered from the upstream instead (consistent-read timeouts, Exact)."""
    watches_upstream: int = 0
    denied: int = 0


@dataclass(frozen=True)
class KeySnapshot:
    """One key's figures for /metrics and /debug (read on the event loop)."""

    resource: str
    content_type: str
    selectors: str
    upstream_watches: int
    clients: int
    objects: int
    object_bytes: int
    window_events: int
    window_bytes: int
    window_seconds: float
    lists_from_cache: int
    lists_from_upstream: int
    watches_from_upstream: int
    expired_sent: int
    slow_cut: int
    relists: int
    namespace_lists: int
    events_in: int
    events_kept: int
    denied: int


class SharedWatches:
    def __init__(
        self,
        settings: SharedWatchesConfig,
        upstream: Upstream,
        clock: Clock,
        enrolled: Callable[[], Iterable[str] | None],
        *,
        max_frame_bytes: int,
    ) -> None:
        self.settings = settings
        self._upstream = upstream
        self._clock = clock
        self._enrolled = enrolled
        self._max_frame_bytes = max_frame_bytes
        self.limits = CacheLimits(
            window_events=settings.window_events,
            window_bytes=settings.window_bytes,
            watcher_frames=settings.watcher_frames,
            watcher_bytes=settings.watcher_bytes,
        )
        self._keys: dict[CacheKey, _Entry] = {}
        self._unshareable: dict[CacheKey, float] = {}
        self._retired: dict[CacheKey, KeySnapshot] = {}
        """Counters of keys stopped since start (metrics are totals since the proxy started)."""
        self._tick: asyncio.Task[None] | None = None

    # --- serving --------------------------------------------------------------------------------

    def may_share(self, key: CacheKey) -> bool:
        """False while ``key`` is remembered as unshareable (its clients go direct)."""
        retry_at = self._unshareable.get(key)
        return retry_at is None or self._clock.monotonic() >= retry_at

    async def reflector_for(self, key: CacheKey, path: str, wait: float) -> KeyReflector | None:
        """The key's reflector once its cache is ready (started now if needed), or None: the
        key cannot be shared, or its first LIST did not come within ``wait`` seconds."""
        if not self.may_share(key):
            return None
        self._unshareable.pop(key, None)  # its retry time has come: try sharing it again
        now = self._clock.monotonic()
        entry = self._keys.get(key)
        if entry is None:
            entry = self._start(key, path, now)
        entry.last_used = now
        r = entry.reflector
        if not r.ready.is_set():
            if r.last_error:
                return None  # its LIST is failing and retrying: direct now, not after a wait
            try:
                async with asyncio.timeout(wait):
                    await r.ready.wait()
            except TimeoutError:
                return None
        if r.failed is not None:
            self._ended(key, entry)
            return None
        return r

    def _ended(self, key: CacheKey, entry: _Entry, task: asyncio.Task[None] | None = None) -> None:
        """The key's reflector stopped: when it found the key unshareable (or broke on a bug),
        remember that, so its clients go direct at once instead of waiting for a dead cache."""
        if self._keys.get(key) is not entry:
            return
        r = entry.reflector
        if r.failed is None and task is not None and not task.cancelled():
            error = task.exception()
            if error is None:
                return
            log.error(
                "shared watch crashed; serving the kind directly",
                extra={"resource": key.resource, "error": repr(error)[:300]},
            )
            r.failed = f"reflector crashed: {type(error).__name__}"
            r.ready.set()
        if r.failed is None:
            return
        self._forget(key, entry)
        self._unshareable[key] = self._clock.monotonic() + RETRY_UNSHAREABLE_SECONDS

    def _start(self, key: CacheKey, path: str, now: float) -> _Entry:
        if self._tick is None:
            self._tick = asyncio.create_task(self._housekeeping(), name="shared-watch-ticks")
        r = KeyReflector(
            key, path, self._upstream, self._clock, self.limits, self._enrolled,
            max_frame_bytes=self._max_frame_bytes,
        )  # fmt: skip
        task = asyncio.create_task(r.run(), name=f"shared-watch {key.resource}")
        entry = _Entry(r, task, now, now)
        self._keys[key] = entry
        task.add_done_callback(lambda t: self._ended(key, entry, t))
        log.info(
            "shared watch started",
            extra={"resource": key.resource, "content_type": key.content_type},
        )
        return entry

    def count_upstream(self, key: CacheKey, *, watch: bool) -> None:
        """A request of ``key`` was served from the upstream instead of the cache."""
        entry = self._keys.get(key)
        if entry is not None:
            if watch:
                entry.watches_upstream += 1
            else:
                entry.lists_upstream += 1

    def count_denied(self, key: CacheKey) -> None:
        entry = self._keys.get(key)
        if entry is not None:
            entry.denied += 1

    # --- enrollment -----------------------------------------------------------------------------

    def apply_changes(self, changes: list[EnrollmentChange]) -> None:
        """Apply flips to every key at this point of its stream (no await)."""
        if not changes:
            return
        for key, entry in list(self._keys.items()):
            r = entry.reflector
            try:
                for ch in changes:
                    if ch.enrolled:
                        r.join(ch.namespace)
                    else:
                        r.leave(ch.namespace)
            except CacheError:
                # A cache of every namespace (no selectors then) cannot apply a flip.
                if r.cache is not None:
                    r.cache.expire_all("the proxy's namespace selectors changed")
                self._forget(key, entry)

    # --- lifecycle ------------------------------------------------------------------------------

    async def _housekeeping(self) -> None:
        s = self.settings
        while True:
            await self._clock.sleep(TICK_SECONDS)
            now = self._clock.monotonic()
            for key, entry in list(self._keys.items()):
                cache = entry.reflector.cache
                if cache is None:
                    continue
                if cache.watchers:
                    entry.last_used = now
                elif now - entry.last_used >= s.idle_seconds:
                    log.info("shared watch stopped (idle)", extra={"resource": key.resource})
                    self._forget(key, entry)
                    continue
                if now - entry.last_bookmark >= s.bookmark_seconds:
                    entry.last_bookmark = now
                    cache.bookmark()

    def _forget(self, key: CacheKey, entry: _Entry) -> None:
        if self._keys.get(key) is entry:
            del self._keys[key]
            final = dataclasses.replace(self._entry_snapshot(key, entry), **_GAUGES_ZERO)
            before = self._retired.get(key)
            self._retired[key] = final if before is None else _plus_counters(final, before)
        entry.task.cancel()
        if entry.reflector.cache is not None:
            entry.reflector.cache.close()

    async def stop(self) -> None:
        tasks = [e.task for e in self._keys.values()]
        for key, entry in list(self._keys.items()):
            self._forget(key, entry)
        if self._tick is not None:
            self._tick.cancel()
            tasks.append(self._tick)
            self._tick = None
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t

    # --- figures --------------------------------------------------------------------------------

    def snapshot(self) -> list[KeySnapshot]:
        """Every key's figures: live keys, and the counters of keys stopped since start."""
        live = {key: self._entry_snapshot(key, e) for key, e in self._keys.items()}
        out = []
        for key, retired in self._retired.items():
            now = live.pop(key, None)
            out.append(retired if now is None else _plus_counters(now, retired))
        out.extend(live.values())
        return out

    def _entry_snapshot(self, key: CacheKey, e: _Entry) -> KeySnapshot:
        r, c = e.reflector, e.reflector.cache
        st = c.stats if c is not None else CacheStats()
        return KeySnapshot(
            resource=key.resource, content_type=key.content_type,
            selectors=",".join(s for s in (key.label_selector, key.field_selector) if s),
            upstream_watches=r.upstream_watches,
            clients=c.watchers if c is not None else 0,
            objects=c.objects if c is not None else 0,
            object_bytes=c.object_bytes if c is not None else 0,
            window_events=c.window_events if c is not None else 0,
            window_bytes=c.window_bytes if c is not None else 0,
            window_seconds=c.window_span_seconds if c is not None else 0.0,
            lists_from_cache=st.lists_served, lists_from_upstream=e.lists_upstream,
            watches_from_upstream=e.watches_upstream, expired_sent=st.expired_sent,
            slow_cut=st.slow_cut, relists=st.relists, namespace_lists=r.namespace_lists,
            events_in=st.events_in, events_kept=st.events_kept, denied=e.denied,
        )  # fmt: skip


_COUNTERS = (
    "lists_from_cache", "lists_from_upstream", "watches_from_upstream", "expired_sent",
    "slow_cut", "relists", "namespace_lists", "events_in", "events_kept", "denied",
)  # fmt: skip
_GAUGES_ZERO: dict[str, Any] = {
    "upstream_watches": 0, "clients": 0, "objects": 0, "object_bytes": 0,
    "window_events": 0, "window_bytes": 0, "window_seconds": 0.0,
}  # fmt: skip


def _plus_counters(a: KeySnapshot, b: KeySnapshot) -> KeySnapshot:
    """``a`` with ``b``'s counters added (its gauges stay ``a``'s)."""
    return dataclasses.replace(a, **{n: getattr(a, n) + getattr(b, n) for n in _COUNTERS})
