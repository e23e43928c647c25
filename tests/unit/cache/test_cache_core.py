"""SharedCache by behaviour: initial state, resumes, 410s, bounds, slow clients, flips, relists."""

from __future__ import annotations

import pytest
from _cache_helpers import decode_frame, framer, pod, to_input, upstream_frame

from discofilter.cache import (
    CachedObject,
    CacheError,
    CacheKey,
    CacheLimits,
    InvalidResourceVersion,
    SharedCache,
    Watcher,
)
from discofilter.cache.watcher import EXPIRED, SLOW
from discofilter.cache.window import Window
from discofilter.clock import FakeClock
from discofilter.codec import JSON, PROTOBUF
from discofilter.model import ADDED, BOOKMARK, DELETED, ERROR, MODIFIED

KEY = CacheKey("/v1/pods", JSON)


class Upstream:
    """A tiny upstream: RVs count up; every event is a real frame run through the reflector path."""

    def __init__(self, ctype: str = JSON, limits: CacheLimits | None = None) -> None:
        self.ctype = ctype
        self.fr = framer(ctype)
        self.rv = 100
        self.frames: list[tuple[int, str, bytes]] = []  # (rv, namespace, upstream frame)
        self.cache = SharedCache(CacheKey("/v1/pods", ctype), self.fr, {"a", "b"}, limits)
        self.cache.relist([], "100")

    def obj(self, ns: str, name: str, gen: int = 0) -> CachedObject:
        self.rv += 1
        raw = upstream_frame(self.ctype, ADDED, pod(ns, name, f"u-{ns}-{name}", self.rv, gen))
        return to_input(self.fr, raw)[1]

    def event(self, type_: str, ns: str, name: str, gen: int = 0) -> bytes:
        self.rv += 1
        raw = upstream_frame(self.ctype, type_, pod(ns, name, f"u-{ns}-{name}", self.rv, gen))
        self.cache.apply(*to_input(self.fr, raw))
        self.frames.append((self.rv, ns, raw))
        return raw


def drain(w: Watcher) -> list[bytes]:
    out: list[bytes] = []
    while batch := w.take(3):
        out.extend(batch)
    return out


def types(ctype: str, frames: list[bytes]) -> list[str]:
    return [decode_frame(ctype, f).type for f in frames]


@pytest.mark.parametrize("ctype", [JSON, PROTOBUF])
def test_resume_in_window_replays_exact_upstream_bytes_then_live(ctype: str) -> None:
    up = Upstream(ctype)
    a1 = up.event(ADDED, "a", "p1")
    mark = up.rv
    sent = [up.event(MODIFIED, "a", "p1", 1), up.event(ADDED, "b", "q1")]
    up.event(ADDED, "other", "x")  # not enrolled: nobody sees it
    w = up.cache.watch(str(mark))
    sent.append(up.event(DELETED, "a", "p1", 1))
    assert drain(w) == sent
    assert a1 not in sent and w.open


def test_watch_from_zero_sends_added_in_key_order_then_a_bookmark_at_the_cache_rv() -> None:
    up = Upstream()
    up.event(ADDED, "b", "z")
    up.event(ADDED, "a", "y")
    up.event(ADDED, "c", "nope")
    w = up.cache.watch("0", allow_bookmarks=True)
    up.cache.bookmark()
    frames = drain(w)
    evs = [decode_frame(JSON, f) for f in frames]
    assert [(e.type, e.namespace, e.name) for e in evs[:2]] == [
        (ADDED, "a", "y"),
        (ADDED, "b", "z"),
    ]
    assert (evs[2].type, evs[2].resource_version) == (BOOKMARK, up.cache.resource_version)


@pytest.mark.parametrize("ctype", [JSON, PROTOBUF])
def test_send_initial_events_ends_with_the_initial_events_end_bookmark(ctype: str) -> None:
    up = Upstream(ctype)
    up.event(ADDED, "a", "p1")
    up.event(ADDED, "b", "p2")
    w = up.cache.watch("", send_initial_events=True, allow_bookmarks=True)
    live = up.event(MODIFIED, "a", "p1", 2)
    frames = drain(w)
    evs = [decode_frame(ctype, f) for f in frames]
    assert [e.type for e in evs] == [ADDED, ADDED, BOOKMARK, MODIFIED]
    assert evs[2].initial_events_end and evs[2].resource_version == str(up.rv - 1)
    assert frames[3] == live


def test_too_old_rv_gets_exactly_one_410_error_frame() -> None:
    up = Upstream(limits=CacheLimits(window_events=2))
    start = up.rv
    for i in range(3):
        up.event(ADDED, "a", f"p{i}")
    w = up.cache.watch(str(start))
    frames = drain(w)
    assert types(JSON, frames) == [ERROR] and w.done and w.end_reason == EXPIRED
    assert b'"code":410' in frames[0] and b'"Expired"' in frames[0]
    assert up.cache.stats.expired_sent == 1
    # The oldest RV still covered is the last evicted event's: a client at it missed nothing.
    assert drain(up.cache.watch(str(start + 1))) == [f for _, _, f in up.frames[1:]]


def test_window_is_bounded_in_bytes_too() -> None:
    win = Window(max_events=100, max_bytes=10)
    win.append(1, b"aaaa")
    win.append(2, b"bbbb")
    assert len(win) == 2 and win.floor == 0
    win.append(3, b"cccc")
    assert len(win) == 2 and win.bytes == 8 and win.floor == 1
    assert win.since(1) == [b"bbbb", b"cccc"] and not win.covers(0)
    win.append(4, b"x" * 11)  # larger than the whole window: nothing kept, floor moves past it
    assert len(win) == 0 and win.floor == 4 and win.covers(4) and not win.covers(3)


def test_slow_watcher_is_cut_without_slowing_others_and_resumes_without_a_gap() -> None:
    up = Upstream(limits=CacheLimits(watcher_frames=3))
    slow = up.cache.watch(up.cache.resource_version)
    fast = up.cache.watch(up.cache.resource_version)
    got_fast: list[bytes] = []
    sent = []
    for i in range(6):
        sent.append(up.event(ADDED, "a", f"p{i}"))
        got_fast += fast.take()
    assert got_fast == sent and fast.open
    assert slow.end_reason == SLOW and up.cache.stats.slow_cut == 1
    held = drain(slow)
    assert held == sent[:3] and slow.done
    last_rv = decode_frame(JSON, held[-1]).resource_version
    assert drain(up.cache.watch(last_rv)) == sent[3:]


def test_slow_watcher_is_cut_by_bytes() -> None:
    up = Upstream(limits=CacheLimits(watcher_bytes=500))
    w = up.cache.watch(up.cache.resource_version)
    for i in range(5):
        up.event(ADDED, "a", f"p{i}")
    assert w.end_reason == SLOW and w.buffered_bytes <= 500


def test_a_full_buffer_skips_bookmarks_but_never_cuts_for_them() -> None:
    up = Upstream(limits=CacheLimits(watcher_frames=1))
    w = up.cache.watch(up.cache.resource_version, allow_bookmarks=True)
    up.event(ADDED, "a", "p")
    up.cache.progress(str(up.rv + 5))
    up.cache.bookmark()
    assert w.open and types(JSON, drain(w)) == [ADDED]
    up.cache.bookmark()
    (bm,) = drain(w)
    assert decode_frame(JSON, bm).resource_version == str(up.rv + 5)
    up.cache.bookmark()  # nothing new since: no second bookmark
    assert drain(w) == []


def test_leaving_namespace_without_objects_disturbs_nobody() -> None:
    up = Upstream()
    up.event(ADDED, "a", "p")
    w = up.cache.watch(up.cache.resource_version)
    up.cache.leave("b")
    assert w.open
    assert not up.cache.enrolled("b")
    up.event(ADDED, "b", "ignored")
    assert drain(w) == [] and up.cache.objects == 1


def test_leave_drops_objects_410s_open_watchers_and_older_resumes() -> None:
    up = Upstream()
    before = up.cache.resource_version
    first = up.event(ADDED, "a", "p")
    up.event(ADDED, "b", "q")
    w = up.cache.watch(before)
    at_flip = up.cache.resource_version
    up.cache.leave("b")
    frames = drain(w)
    assert frames[0] == first and types(JSON, frames)[-1] == ERROR and w.end_reason == EXPIRED
    assert [o.namespace for o in up.cache.list().items] == ["a"]
    assert types(JSON, drain(up.cache.watch(at_flip))) == [ERROR]
    up.event(ADDED, "a", "r")
    after = up.event(ADDED, "a", "s")
    w2 = up.cache.watch(at_flip)
    assert types(JSON, drain(w2)) == [ERROR]
    assert drain(up.cache.watch(str(up.rv - 1))) == [after]


def test_join_merges_a_namespace_list_ahead_of_the_stream() -> None:
    up = Upstream()
    up.cache.leave("b")
    up.event(ADDED, "c", "p")  # c not enrolled yet: dropped
    listed = up.obj("c", "p", gen=1)  # the namespace LIST at an RV ahead of the stream
    up.cache.join("c", [listed], listed.resource_version)
    assert up.cache.resource_version == str(up.rv - 1)
    # The stream now delivers an event of c that the LIST already holds: skipped.
    raw = upstream_frame(JSON, MODIFIED, pod("c", "p", "u-c-p", up.rv, 1))
    up.cache.apply(*to_input(up.fr, raw))
    assert up.cache.list().items == (listed,)
    newer = up.event(MODIFIED, "c", "p", 2)
    w = up.cache.watch(up.cache.resource_version)
    assert drain(w) == []
    assert drain(up.cache.watch(str(up.rv - 1))) == [newer]
    assert types(JSON, drain(up.cache.watch(str(up.rv - 2)))) == [ERROR]  # before the join
    assert up.cache.list().items[0].resource_version == str(up.rv)
    assert up.cache.window_events == 1 and newer == up.frames[-1][2]


def test_relist_410s_open_watchers_and_serves_resumes_from_the_list_rv() -> None:
    up = Upstream()
    old = up.cache.resource_version
    up.event(ADDED, "a", "p")
    w = up.cache.watch(old)
    up.rv += 10  # events lost in an outage
    up.cache.relist([up.obj("a", "p", 3), up.obj("zz", "q")], str(up.rv))
    assert types(JSON, drain(w)) == [ADDED, ERROR]
    assert [o.namespace for o in up.cache.list().items] == ["a"]
    assert types(JSON, drain(up.cache.watch(old))) == [ERROR]
    w2 = up.cache.watch(up.cache.resource_version)
    nxt = up.event(DELETED, "a", "p")
    assert drain(w2) == [nxt]
    with pytest.raises(CacheError):
        up.cache.relist([], "5")


def test_rvs_must_be_integers_and_must_not_go_backwards() -> None:
    up = Upstream()
    with pytest.raises(InvalidResourceVersion):
        up.cache.watch("abc")
    with pytest.raises(InvalidResourceVersion):
        up.cache.watch("-1")
    up.event(ADDED, "a", "p")
    stale = CachedObject("a", "p", "u", "50", b"{}")
    with pytest.raises(CacheError):
        up.cache.apply(MODIFIED, stale)


def test_hung_up_watchers_are_dropped() -> None:
    up = Upstream()
    w = up.cache.watch("0")
    assert up.cache.watchers == 1
    w.close()
    up.event(ADDED, "a", "p")
    assert up.cache.watchers == 0 and w.done


def test_a_namespace_list_behind_the_stream_is_brought_up_to_date_from_held_events() -> None:
    up = Upstream()
    up.cache.begin_join("c")
    listed = up.obj("c", "p", gen=1)  # LIST answered at this RV...
    up.event(MODIFIED, "c", "p", 2)  # ...but the stream passed it before the answer arrived
    up.event(ADDED, "c", "q")
    w = up.cache.watch(up.cache.resource_version)
    up.cache.join("c", [listed], listed.resource_version)
    got = {o.key: o.resource_version for o in up.cache.list().items if o.namespace == "c"}
    assert got == {("c", "p"): str(up.rv - 1), ("c", "q"): str(up.rv)}
    assert types(JSON, drain(w)) == [ERROR]


def test_a_namespace_list_behind_the_stream_without_a_hold_is_refused() -> None:
    up = Upstream()
    listed = up.obj("c", "p")
    up.event(ADDED, "a", "x")
    with pytest.raises(CacheError):
        up.cache.join("c", [listed], listed.resource_version)
    assert not up.cache.enrolled("c")


def test_joining_an_empty_namespace_disturbs_nobody() -> None:
    up = Upstream()
    w = up.cache.watch(up.cache.resource_version)
    up.cache.join("c", [], up.cache.resource_version)
    assert w.open and up.cache.enrolled("c")
    sent = up.event(ADDED, "c", "p")
    assert drain(w) == [sent]


def test_watch_from_an_rv_newer_than_the_cache_skips_what_the_client_already_has() -> None:
    up = Upstream()
    ahead = up.rv + 2
    w = up.cache.watch(str(ahead))
    up.event(ADDED, "a", "p")
    up.event(ADDED, "a", "q")
    third = up.event(ADDED, "a", "r")
    assert drain(w) == [third]


def test_on_ready_fires_for_frames_and_for_the_end() -> None:
    up = Upstream()
    calls: list[int] = []
    w = up.cache.watch(up.cache.resource_version)
    w.on_ready = lambda: calls.append(1)
    up.event(ADDED, "a", "p")
    up.cache.leave("a")
    assert len(calls) == 2 and types(JSON, drain(w)) == [ADDED, ERROR]


def test_take_hands_out_initial_frames_in_chunks_before_live_ones() -> None:
    up = Upstream()
    for i in range(5):
        up.event(ADDED, "a", f"p{i}")
    w = up.cache.watch("0")
    live = up.event(ADDED, "b", "q")
    assert len(w.take(2)) == 2 and len(w.take(2)) == 2
    assert w.take(5)[1:] == [live]


def test_close_ends_every_watcher_and_limits_are_validated() -> None:
    up = Upstream()
    w = up.cache.watch("0")
    up.cache.close()
    assert w.done and w.end_reason == "closed"
    with pytest.raises(ValueError):
        CacheLimits(window_events=0)


def test_an_unsynced_cache_serves_nothing_and_the_window_span_follows_the_clock() -> None:
    clock = FakeClock()
    c = SharedCache(KEY, framer(JSON), None, CacheLimits(window_events=2), clock)
    with pytest.raises(CacheError):
        c.watch("0")
    with pytest.raises(CacheError):
        c.list()
    c.relist([], "10")
    assert c.window_span_seconds == 0.0
    for rv in (11, 12, 13):
        c.apply(ADDED, CachedObject("a", f"p{rv}", "u", str(rv), b"{}"))
        clock.advance(5)
    assert c.window_events == 2 and c.window_span_seconds == 10.0
