"""Acceptance property (issue 15): N clients of one shared cache each see exactly what a direct
filtered watch from the same resourceVersion would have seen, or a 410 where the cache may not
serve them.

Model. The upstream is a history of pod events over four namespaces (creates, updates, deletes,
re-creates under a new uid), in JSON or protobuf, with upstream BOOKMARKs, enrollment flips both
ways (a namespace leaves; a namespace joins with its LIST), and relists after outages in which
events were lost. Each event's frame is made by encoders independent of the cache (orjson in
Go's form; the protobuf runtime) and reaches the cache through the reflector's path
(``Framer.split`` + the real decoders). The reference keeps, independently of the cache:

* the full upstream state (pod dicts) and the enrollment in force;
* ``kept``: the frames of the events of enrolled namespaces, in order: what a direct filtered
  watch delivers;
* namespace LISTs answered before the stream reaches the join (``begin_join``), so the cache
  must bring them up to date from the events it held, or refuse them when it could not hold all;
* ``breaks``: where the filtered view changed under clients (a flip that changed what an
  enrolled client holds, or a relist), and the oldest RV a client may resume from after it;
* the window, as its definition: the longest suffix of the events since the last break that fits
  the event and byte bounds.

Up to 10 clients start (LIST in pages then WATCH; WATCH from "0"; sendInitialEvents; or at a
random past RV), read a drawn number of frames at a time (slow readers are cut off by their
small buffers), hang up, and resume from the last RV they saw (one that hung up in the middle of
its initial state relists: no RV it saw says where that partial state ends, as with
kube-apiserver). Checked on every frame:

* a resume the reference says is covered replays ``kept`` after its RV byte for byte, in order,
  and ends with 410 only at a break, after every event before it; one it says is not covered gets
  one 410 ERROR frame and nothing else;
* initial state (LIST pages, synthetic ADDED, WatchList) is the filtered truth at the cache's RV,
  byte for byte, in key order; WatchList ends it with the initial-events-end bookmark;
* a bookmark's RV never passes an event the client has not received (contract 2);
* whenever a client has drained everything, its state equals the filtered truth; and at the end
  every client converges (resuming or relisting) to it.

2,000 examples in CI (deterministic: derandomized); ``CACHE_EXAMPLES=20000`` for a soak, and
``CACHE_SEED=<n>`` to draw another sequence of examples.
"""

from __future__ import annotations

import os
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from _cache_helpers import FORMATS, decode_frame, framer, pod, to_input, upstream_frame
from hypothesis import HealthCheck, event, given, seed, settings
from hypothesis import strategies as st

from discofilter.cache import CachedObject, CacheError, CacheKey, CacheLimits, SharedCache, Watcher
from discofilter.cache.watcher import EXPIRED
from discofilter.codec import PROTOBUF
from discofilter.model import ADDED, BOOKMARK, DELETED, ERROR, MODIFIED
from discofilter.sim.k8sproto import encode_object

EXAMPLES = int(os.environ.get("CACHE_EXAMPLES", "2000"))
# Deterministic by default; CACHE_SEED=<n> explores another part of the space (soaks).
SEED = os.environ.get("CACHE_SEED")
NAMESPACES = ("a", "b", "c", "d")
NAMES = ("p0", "p1", "p2")
START_RV = 1000
Key = tuple[str, str]


class Reference:
    """The upstream truth and what a direct filtered watch shows (see the module docstring)."""

    def __init__(self, ctype: str, enrolled: set[str], limits: CacheLimits) -> None:
        self.ctype = ctype
        self.limits = limits
        self.full: dict[Key, dict[str, Any]] = {}
        self.enrolled = set(enrolled)
        self.rv = START_RV
        self.kept: list[tuple[int, bytes]] = []
        self.kept_rvs: list[int] = []
        self.breaks: list[int] = []  # len(kept) at each break
        self.floor = START_RV  # oldest resumable RV as set by breaks
        self.segment = 0  # index in kept of the first event since the last break

    def change(self, ns: str, name: str, delete: bool) -> tuple[str, dict[str, Any]]:
        self.rv += 1
        key = (ns, name)
        old = self.full.get(key)
        if old is None:
            type_, uid, gen = ADDED, f"{ns}-{name}-{self.rv}", 0
        else:
            type_ = DELETED if delete else MODIFIED
            uid = old["metadata"]["uid"]
            gen = int(old["metadata"]["labels"]["gen"]) + 1
        obj = pod(ns, name, uid, self.rv, gen)
        if type_ == DELETED:
            del self.full[key]
        else:
            self.full[key] = obj
        return type_, obj

    def keep(self, ns: str, raw: bytes) -> None:
        if ns in self.enrolled:
            self.kept.append((self.rv, raw))
            self.kept_rvs.append(self.rv)

    def brk(self, floor: int) -> None:
        self.breaks.append(len(self.kept))
        self.floor = max(self.floor, floor)
        self.segment = len(self.kept)

    def covers(self, rv: int) -> bool:
        count = size = 0
        lim = self.limits
        i = len(self.kept)
        while i > self.segment:
            n = len(self.kept[i - 1][1])
            if count + 1 > lim.window_events or size + n > lim.window_bytes:
                break
            count, size, i = count + 1, size + n, i - 1
        evicted_floor = self.kept[i - 1][0] if i > self.segment else 0
        return rv >= max(self.floor, evicted_floor)

    def truth(self) -> list[tuple[Key, dict[str, Any]]]:
        return sorted((k, o) for k, o in self.full.items() if k[0] in self.enrolled)

    def object_bytes(self, obj: dict[str, Any]) -> bytes:
        return encode_object(obj) if self.ctype == PROTOBUF else orjson.dumps(obj)

    def truth_bytes(self) -> dict[Key, bytes]:
        return {k: self.object_bytes(o) for k, o in self.truth()}


@dataclass
class Client:
    w: Watcher | None = None
    state: dict[Key, bytes] | None = None  # None: unknown (a stateless start at a random RV)
    last_rv: str | None = None
    prefix: list[bytes] = field(default_factory=list)  # initial ADDED frames still expected
    end_bookmark_rv: str | None = None  # WatchList: the initial-events-end bookmark expected
    start: int = 0  # index in ref.kept of the first live event this session must deliver
    breaks_at_start: int = 0
    expired_at_start: bool = False
    received: int = 0
    first_frame: bool = True


class Run:
    def __init__(self, ref: Reference, cache: SharedCache, n: int) -> None:
        self.ref = ref
        self.cache = cache
        self.fr = cache.framer
        self.clients = [Client() for _ in range(n)]
        # Joins whose namespace LIST is in flight: (items, the LIST's RV, events held since).
        self.pending: dict[str, tuple[list[CachedObject], int, int]] = {}

    # --- upstream --------------------------------------------------------------------------

    def event(self, ns: str, name: str, delete: bool) -> None:
        if ns in self.pending:
            items, list_rv, held = self.pending[ns]
            self.pending[ns] = (items, list_rv, held + 1)
        type_, obj = self.ref.change(ns, name, delete)
        raw = upstream_frame(self.ref.ctype, type_, obj)
        self.cache.apply(*to_input(self.fr, raw))
        self.ref.keep(ns, raw)

    def relist(self, lost: list[tuple[str, str, bool]]) -> None:
        for ns, name, delete in lost:
            self.ref.change(ns, name, delete)  # the cache never sees these
        self.ref.rv += 1
        items = [
            to_input(self.fr, upstream_frame(self.ref.ctype, ADDED, o))[1]
            for o in self.ref.full.values()
        ]
        self.cache.relist(items, str(self.ref.rv))
        self.ref.brk(self.ref.rv)
        # LISTs in flight are older than the relist: the cache refuses them; list again.
        self.pending = {ns: (p[0], p[1], 1 << 30) for ns, p in self.pending.items()}

    def leave(self, ns: str) -> None:
        if ns not in self.ref.enrolled:
            return  # (a pending join stays pending: the flip back is not seen yet)
        self.pending.pop(ns, None)
        effective = any(k[0] == ns for k in self.ref.full)
        self.ref.enrolled.discard(ns)
        self.cache.leave(ns)
        if effective:
            self.ref.brk(self.ref.rv + 1)

    def ns_list(self, ns: str) -> list[CachedObject]:
        objs = [o for k, o in sorted(self.ref.full.items()) if k[0] == ns]
        return [to_input(self.fr, upstream_frame(self.ref.ctype, ADDED, o))[1] for o in objs]

    def begin_join(self, ns: str) -> None:
        """The flip is seen; the namespace LIST is answered now but arrives after more events."""
        if ns in self.ref.enrolled or ns in self.pending:
            return
        self.cache.begin_join(ns)
        self.pending[ns] = (self.ns_list(ns), self.ref.rv, 0)

    def join(self, ns: str) -> None:
        if ns in self.ref.enrolled:
            return
        items, list_rv, held = self.pending.pop(ns, (self.ns_list(ns), self.ref.rv, 0))
        behind = list_rv < self.ref.rv
        if behind and held >= self.ref.limits.window_events:
            with pytest.raises(CacheError):
                self.cache.join(ns, items, str(list_rv))
            items, list_rv = self.ns_list(ns), self.ref.rv  # the caller lists again
        self.cache.join(ns, items, str(list_rv))
        self.ref.enrolled.add(ns)
        if any(k[0] == ns for k in self.ref.full):
            self.ref.brk(self.ref.rv + 1)

    def progress(self, step: int) -> None:
        self.ref.rv += step
        self.cache.progress(str(self.ref.rv))

    # --- clients ---------------------------------------------------------------------------

    def begin(self, c: Client, mode: str, arg: int) -> None:
        if c.w is not None and not c.w.done:
            return
        if c.state is not None and c.last_rv is not None and mode != "at":
            self._resume(c, c.last_rv, allow_bookmarks=arg % 2 == 0)
            return
        ref = self.ref
        if mode == "list":
            items: list[Any] = []
            page = self.cache.list(limit=1 + arg % 3)
            items.extend(page.items)
            while page.continue_token:
                page = self.cache.list(limit=1 + arg % 3, continue_token=page.continue_token)
                items.extend(page.items)
            assert page.resource_version == str(ref.rv)
            truth = ref.truth_bytes()
            assert [o.key for o in items] == list(truth)
            assert [o.object for o in items] == list(truth.values())
            c.state = dict(truth)
            self._resume(c, page.resource_version, allow_bookmarks=True)
        elif mode in ("watch0", "initial"):
            initial = mode == "initial"
            c.w = self.cache.watch("0", send_initial_events=initial, allow_bookmarks=True)
            c.prefix = [upstream_frame(ref.ctype, ADDED, o) for _, o in ref.truth()][::-1]
            c.end_bookmark_rv = str(ref.rv) if initial else None
            c.state = {}
            self._session(c, len(ref.kept), expired=False)
        else:  # "at": a stateless watch from a past RV, often at a window edge
            near = {ref.floor - 1, ref.floor, ref.rv}
            near.update(r - d for r in ref.kept_rvs[-14:] for d in (0, 1))
            rv = sorted(near)[arg % len(near)]
            c.state = None
            self._resume(c, str(max(rv, 0)), allow_bookmarks=True)

    def _resume(self, c: Client, rv: str, allow_bookmarks: bool) -> None:
        r = int(rv)
        c.w = self.cache.watch(rv, allow_bookmarks=allow_bookmarks)
        c.prefix, c.end_bookmark_rv = [], None
        c.last_rv = rv
        covered = self.ref.covers(r)
        if covered != self.ref.covers(r - 1):
            event("resume exactly at the window's edge")
        elif not covered:
            event("resume too old")
        self._session(c, bisect_right(self.ref.kept_rvs, r), expired=not covered)

    def _session(self, c: Client, start: int, expired: bool) -> None:
        c.start, c.received, c.first_frame = start, 0, True
        c.breaks_at_start = len(self.ref.breaks)
        c.expired_at_start = expired

    def hang_up(self, c: Client) -> None:
        if c.w is not None:
            c.w.close()
            c.w = None
            if c.prefix or c.end_bookmark_rv is not None:
                # Gone in the middle of its initial state: what it holds is partial, and no RV
                # it saw says where that state ends (as against kube-apiserver): it relists.
                c.state, c.last_rv = None, None

    def read(self, c: Client, k: int) -> None:
        if c.w is None:
            return
        frames = c.w.take(k)
        for f in frames:
            self._frame(c, f)
        if c.w.done:
            if c.w.end_reason == EXPIRED:
                c.state, c.last_rv = None, None  # relist
            c.w = None
        elif len(frames) < k and c.state is not None:
            assert c.state == self.ref.truth_bytes(), "a caught-up client differs from the truth"

    def _frame(self, c: Client, f: bytes) -> None:
        ref = self.ref
        ev = decode_frame(ref.ctype, f)
        first, c.first_frame = c.first_frame, False
        if c.expired_at_start:
            assert first and ev.type == ERROR, "an uncovered resume must get only a 410"
            return
        if c.prefix:
            assert f == c.prefix.pop(), "initial state differs from the truth"
            assert c.state is not None
            obj = to_input(self.fr, f)[1]
            c.state[obj.key] = obj.object
            c.last_rv = ev.resource_version
            return
        if c.end_bookmark_rv is not None:
            assert ev.type == BOOKMARK and ev.initial_events_end
            assert ev.resource_version == c.end_bookmark_rv
            c.end_bookmark_rv = None
            c.last_rv = ev.resource_version
            return
        end = ref.breaks[c.breaks_at_start] if len(ref.breaks) > c.breaks_at_start else None
        if ev.type == ERROR:
            assert b"410" in f or ref.ctype == PROTOBUF
            assert end is not None, "a 410 without a break"
            assert c.start + c.received == end, "a 410 before every event up to the break"
            return
        if ev.type == BOOKMARK:
            b = int(ev.resource_version)
            assert b <= ref.rv
            due = bisect_right(ref.kept_rvs, b, c.start, end if end is not None else len(ref.kept))
            assert c.start + c.received >= due, "a bookmark passed an undelivered event"
            c.last_rv = ev.resource_version
            return
        idx = c.start + c.received
        assert end is None or idx < end, "an event past a break"
        assert f == ref.kept[idx][1], "not the direct watch's event (bytes or order)"
        c.received += 1
        c.last_rv = ev.resource_version
        if c.state is not None:
            obj = to_input(self.fr, f)[1]
            if ev.type == DELETED:
                c.state.pop(obj.key, None)
            else:
                c.state[obj.key] = obj.object

    def converge(self) -> None:
        for c in self.clients:
            if c.state is None:
                self.hang_up(c)  # a stateless session: relist to know the state
            for _ in range(4):
                if c.w is None:
                    self.begin(c, "initial", 0)
                assert c.w is not None
                self.read(c, 10**6)
                if c.w is not None and c.state is not None:
                    break
            assert c.w is not None and c.state == self.ref.truth_bytes()


# Ops are drawn as plain integers and decoded here: an order of magnitude cheaper for Hypothesis
# to generate than a union of tuple strategies, and they still shrink (towards 0 = an event).
KINDS = ("event",) * 5 + ("read",) * 3 + ("begin",) * 3 + ("hangup", "leave", "join", "relist")
KINDS += ("begin_join",)
KINDS += ("progress", "bookmark")
MODES = ("list", "watch0", "initial", "at")


def decode_op(x: int) -> tuple[Any, ...]:
    kind = KINDS[x % len(KINDS)]
    x //= len(KINDS)
    ns, name = NAMESPACES[x % 4], NAMES[(x // 4) % 3]
    if kind == "event":
        return (kind, ns, name, (x // 12) % 3 == 0)
    if kind in ("leave", "join", "begin_join"):
        return (kind, ns)
    if kind == "relist":
        lost = [(NAMESPACES[(x >> i) % 4], NAMES[(x >> (i + 2)) % 3], False) for i in (4, 8)]
        return (kind, lost[: (x // 12) % 3])
    if kind == "progress":
        return (kind, 1 + x % 3)
    if kind == "bookmark":
        return (kind,)
    client = x % 10
    x //= 10
    if kind == "begin":
        return (kind, client, MODES[x % 4], (x // 4) % 100)
    if kind == "read":
        return (kind, client, 1 + x % 5)
    return (kind, client)


@seed(int(SEED or 0))
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=SEED is None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    ctype=st.sampled_from(FORMATS),
    n=st.integers(1, 10),
    enrolled=st.sets(st.sampled_from(NAMESPACES), min_size=1),
    window_events=st.integers(1, 8),
    window_bytes=st.sampled_from([1 << 30, 1500]),
    watcher_frames=st.integers(1, 6),
    ops=st.lists(st.integers(0, 1 << 24), min_size=10, max_size=60),
)
def test_every_client_sees_the_direct_filtered_watch_or_a_410(
    ctype: str,
    n: int,
    enrolled: set[str],
    window_events: int,
    window_bytes: int,
    watcher_frames: int,
    ops: list[int],
) -> None:
    limits = CacheLimits(
        window_events=window_events, window_bytes=window_bytes, watcher_frames=watcher_frames
    )
    ref = Reference(ctype, enrolled, limits)
    cache = SharedCache(CacheKey("/v1/pods", ctype), framer(ctype), enrolled, limits)
    cache.relist([], str(START_RV))
    run = Run(ref, cache, n)
    for o in map(decode_op, ops):
        kind = o[0]
        if kind == "event":
            run.event(o[1], o[2], o[3])
        elif kind == "leave":
            run.leave(o[1])
        elif kind == "join":
            run.join(o[1])
        elif kind == "begin_join":
            run.begin_join(o[1])
        elif kind == "relist":
            run.relist(o[1])
        elif kind == "progress":
            run.progress(o[1])
        elif kind == "bookmark":
            cache.bookmark()
        elif o[1] < n:
            c = run.clients[o[1]]
            if kind == "begin":
                run.begin(c, o[2], o[3])
            elif kind == "read":
                run.read(c, o[2])
            else:
                run.hang_up(c)
    run.converge()
    assert cache.watchers <= n
    assert cache.objects == len(ref.truth())
