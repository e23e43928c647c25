"""``SharedCache``: one upstream LIST+WATCH of a key, served to every client of it (pure).

Inputs (from the key's reflector, phase B), all applied at a position of the upstream stream:

    relist(objects, rv)         the reflector's LIST (first load, or after any upstream fault)
    apply(type, obj)            one ADDED/MODIFIED/DELETED watch event, any namespace
    progress(rv)                an upstream BOOKMARK: the stream has reached ``rv``
    leave(ns)                   a namespace's enrollment ended (contract 3)
    begin_join(ns) ... join(ns, objects, list_rv)   a namespace became enrolled; its LIST

Outputs: ``watch(...) -> Watcher`` and ``list(...) -> ListPage``; ``bookmark()`` dispatches a
BOOKMARK at the cache's RV to the watchers that asked for them.

Invariants:

* ``resource_version`` (``_head``) is the upstream stream's position: the RV of its last event
  or bookmark, or of the last relist. It never goes backwards; an event at or below it raises
  ``CacheError`` (the reflector relists);
* the store holds exactly the objects of ``_enrolled`` namespaces (all when it is None), as of
  ``_head``, except that a namespace joined from a LIST at ``list_rv > _head`` is as of
  ``list_rv``; until the stream passes it, that namespace's events at or below ``list_rv`` are
  already in the store and are skipped (``_joined_at``). Etcd revisions are global, which makes
  the namespace LIST's RV comparable with the cluster-wide watch's;
* every open watcher has been offered every kept event after its start, in order.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from discofilter.cache.frames import Framer
from discofilter.cache.listing import ListPage, Snapshots
from discofilter.cache.store import Store
from discofilter.cache.types import (
    CachedObject,
    CacheError,
    CacheKey,
    CacheLimits,
    CacheStats,
    InvalidResourceVersion,
)
from discofilter.cache.watcher import Watcher
from discofilter.cache.window import Window
from discofilter.clock import Clock, SystemClock
from discofilter.model import ADDED, DELETED, MODIFIED
from discofilter.status import status_dict

_EVENTS = frozenset({ADDED, MODIFIED, DELETED})


def parse_rv(resource_version: str) -> int:
    """An RV as the integer kube-apiserver's cacher compares; ``InvalidResourceVersion`` if not."""
    if not resource_version.isdigit() or len(resource_version) > 20:
        raise InvalidResourceVersion(f"invalid resource version {resource_version[:40]!r}")
    return int(resource_version)


class SharedCache:
    """The store, window and watchers of one ``CacheKey`` (see the module docstring)."""

    def __init__(
        self,
        key: CacheKey,
        framer: Framer,
        enrolled: Iterable[str] | None,
        limits: CacheLimits | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.key = key
        self.framer = framer
        self.limits = limits or CacheLimits()
        self.stats = CacheStats()
        self._enrolled: set[str] | None = None if enrolled is None else set(enrolled)
        self._store = Store()
        self._window = Window(self.limits.window_events, self.limits.window_bytes)
        self._clock = clock or SystemClock()
        self._snapshots = Snapshots(self.limits, self._clock)
        self._watchers: list[Watcher] = []
        self._joined_at: dict[str, int] = {}
        self._pending: dict[str, list[tuple[str, CachedObject]]] = {}
        self._head = 0
        self.ready = False
        """False until the first relist: the server must not serve from an empty cache."""

    # --- state ----------------------------------------------------------------------------------

    @property
    def resource_version(self) -> str:
        return str(self._head)

    @property
    def objects(self) -> int:
        return len(self._store)

    @property
    def object_bytes(self) -> int:
        return self._store.bytes

    @property
    def window_events(self) -> int:
        return len(self._window)

    @property
    def window_bytes(self) -> int:
        return self._window.bytes

    @property
    def window_span_seconds(self) -> float:
        """Age of the oldest event a resume can still replay (the window-span metric)."""
        return self._window.span_seconds(self._clock.monotonic())

    @property
    def watchers(self) -> int:
        self._watchers = [w for w in self._watchers if w.open]
        return len(self._watchers)

    def enrolled(self, namespace: str) -> bool:
        return self._enrolled is None or namespace in self._enrolled

    # --- upstream input -------------------------------------------------------------------------

    def relist(self, objects: Iterable[CachedObject], resource_version: str) -> None:
        """Replace everything with a fresh upstream LIST (filtered here) at ``resource_version``.

        The cache cannot replay what happened between its last event and the LIST, so every open
        watcher ends with 410 and resumes from before the LIST are refused; a client at the
        LIST's own RV may resume. The LIST must be a consistent read (RV not behind the stream):
        an older one raises ``CacheError``.
        """
        rv = parse_rv(resource_version)
        if rv < self._head:
            raise CacheError(f"relist at RV {rv} is behind the stream's {self._head}")
        self._store.replace(o for o in objects if self.enrolled(o.namespace))
        self._joined_at.clear()
        # A namespace LIST in flight may now be older than the stream: its join raises and the
        # caller lists again.
        self._pending.clear()
        self._expire_all("the upstream watch was relisted")
        self._window.reset(rv)
        self._head = rv
        self.ready = True
        self.stats.relists += 1

    def apply(self, type_: str, obj: CachedObject, frame: bytes | None = None) -> None:
        """One upstream watch event (any namespace: the cache filters).

        ``frame`` is the upstream's frame when the caller has it and ``Framer.split`` accepted
        it (so it equals ``framer.event(type_, obj.object)``): it is then forwarded as is
        instead of being rebuilt, one 6.5 KB copy less per event.
        """
        if type_ not in _EVENTS:
            raise CacheError(f"apply takes ADDED/MODIFIED/DELETED, not {type_[:20]!r}")
        rv = parse_rv(obj.resource_version)
        if rv <= self._head:
            raise CacheError(f"upstream RV went backwards: {rv} after {self._head}")
        self._head = rv
        self.stats.events_in += 1
        ns = obj.namespace
        listed = False
        if self._joined_at:
            listed = rv <= self._joined_at.get(ns, 0)
            self._pass_joins(rv)
        if listed or not self.enrolled(ns):
            held = self._pending.get(ns)
            if held is not None and len(held) < self.limits.window_events:
                held.append((type_, obj))
            return
        self.stats.events_kept += 1
        self._store.apply(type_, obj)
        if frame is None:
            frame = self.framer.event(type_, obj.object)
        self._window.append(rv, frame, self._clock.monotonic())
        keep: list[Watcher] = []
        for w in self._watchers:
            if w.offer(rv, frame):
                keep.append(w)
            elif w.end_reason == "slow":
                self.stats.slow_cut += 1
        self._watchers = keep

    def progress(self, resource_version: str) -> None:
        """An upstream BOOKMARK: the stream has reached ``resource_version``."""
        rv = parse_rv(resource_version)
        if rv > self._head:
            self._head = rv
            if self._joined_at:
                self._pass_joins(rv)

    def leave(self, namespace: str) -> None:
        """``namespace`` is no longer enrolled: its objects leave the store (contract 3)."""
        if self._enrolled is None:
            raise CacheError("leave() on a cache that enrolls every namespace")
        if namespace not in self._enrolled:
            return
        self._pending.pop(namespace, None)
        self._enrolled.discard(namespace)
        self._joined_at.pop(namespace, None)
        if self._store.drop_namespace(namespace):
            self._break(self._head)

    def begin_join(self, namespace: str) -> None:
        """``namespace`` flipped to enrolled; its LIST is on the way (``join`` ends this).

        Until then its events are held (up to ``window_events``), so that a LIST answered at an
        RV the stream has already passed can be brought up to date when it arrives.
        """
        if self._enrolled is not None and namespace not in self._enrolled:
            self._pending.setdefault(namespace, [])

    def join(self, namespace: str, objects: Iterable[CachedObject], list_rv: str) -> None:
        """``namespace`` became enrolled; ``objects`` is its LIST at ``list_rv`` (>= the flip).

        A LIST behind the stream needs ``begin_join`` before it was issued (the events since
        are then replayed onto it); without it, or when more events came than could be held,
        ``CacheError``: the caller lists the namespace again.
        """
        if self._enrolled is None:
            raise CacheError("join() on a cache that enrolls every namespace")
        rv = parse_rv(list_rv)
        if namespace in self._enrolled:
            return
        held = self._pending.pop(namespace, None)
        # A full hold may have dropped events: treat it as lost (conservative by one event).
        if rv < self._head and (held is None or len(held) >= self.limits.window_events):
            raise CacheError(f"namespace LIST at {rv} is behind the stream's {self._head}")
        self._enrolled.add(namespace)
        items = list(objects)
        self._store.replace_namespace(namespace, items)
        for type_, obj in held or ():
            if int(obj.resource_version) > rv:
                self._store.apply(type_, obj)
        if rv > self._head:
            self._joined_at[namespace] = rv
        # Nobody held anything of this namespace: if it is still empty, no client's view changed.
        if self._store.count_in(namespace):
            self._break(self._head)

    def expire_all(self, reason: str) -> None:
        """End every open watcher with 410 (the server is dropping this cache: a reload that
        changed what it enrolls, or a key that cannot be shared any more)."""
        self._window.barrier(self._head)
        self._expire_all(reason)

    def _pass_joins(self, rv: int) -> None:
        for ns in [ns for ns, at in self._joined_at.items() if at <= rv]:
            del self._joined_at[ns]

    def _break(self, head: int) -> None:
        """What clients hold may be stale: 410 every open watcher and every resume <= ``head``."""
        self._window.barrier(head)
        self._expire_all("the cache's enrolled namespaces changed")

    def _expire_all(self, reason: str) -> None:
        error = self._expired_frame(reason)
        for w in self._watchers:
            if w.open:
                w.expire(error)
                self.stats.expired_sent += 1
        self._watchers = []

    def _expired_frame(self, message: str) -> bytes:
        return self.framer.error(status_dict(410, message, "Expired"))

    # --- serving --------------------------------------------------------------------------------

    def bookmark(self) -> None:
        """Offer a BOOKMARK at the cache's RV to every watcher that allows bookmarks."""
        frame: bytes | None = None
        for w in self._watchers:
            if w.open and w.allow_bookmarks and w.last_rv < self._head:
                frame = frame or self.framer.bookmark(self.resource_version)
                w.offer_bookmark(self._head, frame)

    def watch(
        self,
        resource_version: str = "",
        *,
        send_initial_events: bool = False,
        allow_bookmarks: bool = False,
    ) -> Watcher:
        """A watch as kube-apiserver's cacher serves it (docs/shared-watches.md).

        * ``""``/``"0"`` or ``send_initial_events``: ADDED for the current state (with
          ``send_initial_events`` then the ``k8s.io/initial-events-end`` BOOKMARK), then live;
        * an RV the window covers: the events after it, then live;
        * an older RV: a watcher whose only frame is the 410 Expired ERROR event.
        """
        self._require_ready()
        lim = self.limits
        if send_initial_events or resource_version in ("", "0"):
            if resource_version not in ("", "0"):
                rv = parse_rv(resource_version)
                if rv > self._head:
                    raise CacheError("sendInitialEvents from an RV newer than the cache")
            event = self.framer.event
            initial = (event(ADDED, o.object) for o in self._store.snapshot())
            w = Watcher(initial, self._head, lim.watcher_frames, lim.watcher_bytes, allow_bookmarks)
            if send_initial_events:
                w.initial = _then(initial, self.framer.bookmark(self.resource_version, True))
            else:
                # The ADDED events carry object RVs (older than the cache's): the first bookmark
                # may tell the client the cache's RV at once.
                w.last_rv = -1
        else:
            rv = parse_rv(resource_version)
            if not self._window.covers(rv):
                w = Watcher(iter(()), rv, lim.watcher_frames, lim.watcher_bytes, allow_bookmarks)
                w.expire(self._expired_frame(f"too old resource version: {rv}"))
                self.stats.expired_sent += 1
                return w
            replay = iter(self._window.since(rv)) if rv < self._head else iter(())
            after = max(rv, self._head)
            w = Watcher(replay, after, lim.watcher_frames, lim.watcher_bytes, allow_bookmarks)
            w.last_rv = rv
        self._watchers.append(w)
        return w

    def list(self, limit: int = 0, continue_token: str | None = None) -> ListPage:
        """A LIST page from the cache at its RV (``resourceVersion=0`` semantics)."""
        self._require_ready()
        self.stats.lists_served += 1
        if continue_token:
            return self._snapshots.next_page(continue_token, limit)
        return self._snapshots.first_page(self._store.snapshot(), self.resource_version, limit)

    def _require_ready(self) -> None:
        if not self.ready:
            raise CacheError("the cache has not listed yet: serve this request from upstream")

    def close(self) -> None:
        """Shut down: every watcher ends (its stream closes; clients reconnect elsewhere)."""
        for w in self._watchers:
            w.close()
        self._watchers = []
        self._snapshots.clear()


def _then(first: Iterator[bytes], last: bytes) -> Iterator[bytes]:
    yield from first
    yield last
