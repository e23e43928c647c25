"""The coalescer's rules, table-driven: each case is a policy and a script of pushes and ready()
calls with explicit ``now`` values and the exact events expected ("TYPE name rv", the type read
from the delivered BYTES, so re-typing is checked too)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from _coalesce_helpers import bookmark, brief, decode, error, ev

from discofilter.coalesce import CoalescePolicy, Coalescer, CoalesceStats
from discofilter.model import WatchEvent

W = CoalescePolicy(window_seconds=0.25)
W0_RATE = CoalescePolicy(
    window_seconds=0.0, max_events_per_second=10.0, burst=2, max_hold_seconds=1.0
)
OFF = CoalescePolicy(window_seconds=0.0)


@dataclass
class Push:
    now: float
    event: WatchEvent


@dataclass
class Ready:
    now: float
    expect: list[str]


def P(now: float, event: WatchEvent) -> Push:
    return Push(now, event)


def R(now: float, *expect: str) -> Ready:
    return Ready(now, list(expect))


CASES: dict[str, tuple[CoalescePolicy, list[Push | Ready]]] = {
    "policy off passes everything at once": (
        OFF,
        [
            P(0, ev("ADDED", "a", 1)),
            P(0, ev("MODIFIED", "a", 2)),
            R(0, "ADDED a 1", "MODIFIED a 2"),
        ],
    ),
    "window holds a lone event until due": (
        W,
        [P(0, ev("ADDED", "a", 1)), R(0.1), R(0.2499), R(0.25, "ADDED a 1"), R(1)],
    ),
    "ADDED+MODIFIED -> ADDED with the newest state": (
        W,
        [
            P(0, ev("ADDED", "a", 1)),
            P(0.1, ev("MODIFIED", "a", 2)),
            P(0.2, ev("MODIFIED", "a", 3)),
            R(0.25, "ADDED a 3"),
        ],
    ),
    "MODIFIED+MODIFIED -> newest MODIFIED": (
        W,
        [P(0, ev("MODIFIED", "a", 1)), P(0.1, ev("MODIFIED", "a", 2)), R(0.25, "MODIFIED a 2")],
    ),
    "MODIFIED+DELETED -> DELETED": (
        W,
        [P(0, ev("MODIFIED", "a", 1)), P(0.1, ev("DELETED", "a", 2)), R(0.25, "DELETED a 2")],
    ),
    "ADDED+MODIFIED+DELETED never seen vanishes": (
        W,
        [
            P(0, ev("ADDED", "a", 1)),
            P(0.1, ev("MODIFIED", "a", 2)),
            P(0.2, ev("DELETED", "a", 3)),
            R(0.25),
            R(10),
        ],
    ),
    "a delivered ADDED does not vanish with its DELETED": (
        W,
        [
            P(0, ev("ADDED", "a", 1)),
            R(0.25, "ADDED a 1"),
            P(0.3, ev("DELETED", "a", 2)),
            R(0.55, "DELETED a 2"),
        ],
    ),
    "DELETED is never merged with a re-creation (new uid)": (
        W,
        [
            P(0, ev("MODIFIED", "a", 1, uid="u1")),
            P(0.05, ev("DELETED", "a", 2, uid="u1")),
            P(0.1, ev("ADDED", "a", 3, uid="u2")),
            P(0.15, ev("MODIFIED", "a", 4, uid="u2")),
            R(0.3, "DELETED a 2"),  # due at 0.25: its first constituent came at 0
            R(0.35, "ADDED a 4"),
        ],
    ),
    "DELETED is never merged with a re-creation (same, empty uid)": (
        W,
        [
            P(0, ev("MODIFIED", "a", 1, uid="")),
            P(0.05, ev("DELETED", "a", 2, uid="")),
            P(0.1, ev("ADDED", "a", 3, uid="")),
            R(0.35, "DELETED a 2", "ADDED a 3"),
        ],
    ),
    "a merged event moves to its newest position (never RV 3 before RV 2)": (
        W,
        [
            P(0, ev("MODIFIED", "a", 1)),
            P(0.1, ev("MODIFIED", "b", 2)),
            P(0.2, ev("MODIFIED", "a", 3)),
            # a fell due at 0.25 (its first event's window) and pulls b, which is older
            R(0.25, "MODIFIED b 2", "MODIFIED a 3"),
        ],
    ),
    "a due event does not release newer ones": (
        W,
        [
            P(0, ev("ADDED", "a", 1)),
            P(0.1, ev("ADDED", "b", 2)),
            R(0.25, "ADDED a 1"),
            R(0.35, "ADDED b 2"),
        ],
    ),
    "a bookmark waits behind an older held event": (
        W,
        [
            P(0, ev("ADDED", "a", 1)),
            P(0.1, bookmark(5)),
            R(0.1),
            R(0.25, "ADDED a 1", "BOOKMARK 5"),
        ],
    ),
    "a bookmark with nothing held passes at once": (W, [P(0, bookmark(5)), R(0, "BOOKMARK 5")]),
    "held bookmarks collapse into the newest": (
        W,
        [
            P(0, ev("ADDED", "a", 1)),
            P(0.1, bookmark(5)),
            P(0.2, bookmark(6)),
            R(0.25, "ADDED a 1", "BOOKMARK 6"),
        ],
    ),
    "a bookmark between a vanishing pair goes with it": (
        # delivered alone, BOOKMARK 2 would tell the client it is at a version where a exists
        W,
        [
            P(0, ev("ADDED", "a", 1)),
            P(0.1, bookmark(2)),
            P(0.2, ev("DELETED", "a", 3)),
            R(0.2),
            R(10),
        ],
    ),
    "a bookmark between an ADDED and its merge goes with it": (
        W,
        [
            P(0, ev("ADDED", "a", 1)),
            P(0.1, bookmark(2)),
            P(0.2, ev("MODIFIED", "a", 3)),
            R(0.25, "ADDED a 3"),
        ],
    ),
    "an undelivered ADDED is never carried past another object's event": (
        W,
        [
            P(0, ev("ADDED", "a", 1)),
            P(0.1, ev("MODIFIED", "b", 2)),
            P(0.2, ev("MODIFIED", "a", 3)),
            R(0.25, "ADDED a 1"),  # goes alone: at RV 2 the client must hold a
            R(0.35, "MODIFIED b 2"),
            R(0.45, "MODIFIED a 3"),
        ],
    ),
    "an ADDED rejoins its later states once nothing is held between them": (
        W,
        [
            P(0, ev("ADDED", "a", 1)),
            P(0.05, ev("MODIFIED", "b", 2)),
            P(0.1, ev("MODIFIED", "a", 3)),
            P(0.15, ev("MODIFIED", "b", 4)),  # b moves past a's later state
            R(0.25, "ADDED a 3"),
            R(0.3, "MODIFIED b 4"),
        ],
    ),
    "an ADDED and a DELETED with nothing held between them by then vanish": (
        W,
        [
            P(0, ev("ADDED", "a", 1)),
            P(0.05, ev("MODIFIED", "b", 2)),
            P(0.1, ev("DELETED", "a", 3)),
            P(0.15, ev("MODIFIED", "b", 4)),
            R(0.25),  # progress all the same: the pair is gone
            R(0.3, "MODIFIED b 4"),
        ],
    ),
    "a vanishing pair never hides behind another object's event": (
        W,
        [
            P(0, ev("ADDED", "a", 1)),
            P(0.1, ev("MODIFIED", "b", 2)),
            P(0.2, ev("DELETED", "a", 3)),
            R(0.25, "ADDED a 1"),
            R(0.35, "MODIFIED b 2"),
            R(0.45, "DELETED a 3"),
        ],
    ),
    "the initial-events-end bookmark is never replaced": (
        W,
        [
            P(0, ev("ADDED", "a", 1)),
            P(0.1, bookmark(2, initial_end=True)),
            P(0.15, bookmark(3)),
            P(0.2, bookmark(4)),
            R(0.25, "ADDED a 1", "BOOKMARK 2", "BOOKMARK 4"),
        ],
    ),
    "ERROR releases everything before it and passes": (
        W,
        [
            P(0, ev("ADDED", "a", 1)),
            P(0.01, ev("MODIFIED", "b", 2)),
            P(0.02, error()),
            R(0.02, "ADDED a 1", "MODIFIED b 2", "ERROR  "),
        ],
    ),
    "rate limit: burst, then one per 1/rate seconds": (
        W0_RATE,
        [
            *(P(0, ev("ADDED", n, i + 1)) for i, n in enumerate("abcde")),
            R(0, "ADDED a 1", "ADDED b 2"),
            R(0.05),
            R(0.1, "ADDED c 3"),
            R(0.2, "ADDED d 4"),
            R(0.3, "ADDED e 5"),
        ],
    ),
    "rate limit: waiting objects merge, newest state in order": (
        W0_RATE,
        [
            *(P(0, ev("ADDED", n, i + 1)) for i, n in enumerate("abcd")),
            R(0, "ADDED a 1", "ADDED b 2"),
            P(0.01, ev("MODIFIED", "c", 5)),
            P(0.02, ev("MODIFIED", "a", 6)),
            P(0.03, ev("MODIFIED", "c", 7)),
            # c's ADDED keeps its place before d's (it may not be carried past it); c's later
            # states merge behind
            R(0.1, "ADDED c 3"),
            R(0.2, "ADDED d 4"),
            R(0.3, "MODIFIED a 6"),
            R(0.4, "MODIFIED c 7"),
        ],
    ),
    "rate limit: bookmarks and ERRORs cost no token": (
        W0_RATE,
        [
            P(0, ev("ADDED", "a", 1)),
            P(0, ev("ADDED", "b", 2)),
            P(0, bookmark(3)),
            P(0, ev("ADDED", "c", 4)),
            P(0, error()),
            R(0, "ADDED a 1", "ADDED b 2", "BOOKMARK 3", "ADDED c 4", "ERROR  "),
        ],
    ),
    "max hold releases whatever the tokens": (
        CoalescePolicy(
            window_seconds=0.0, max_events_per_second=1.0, burst=1, max_hold_seconds=0.5
        ),
        [
            *(P(0, ev("ADDED", n, i + 1)) for i, n in enumerate("abc")),
            R(0, "ADDED a 1"),
            R(0.4),
            R(0.5, "ADDED b 2", "ADDED c 3"),
        ],
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_rule(name: str) -> None:
    policy, script = CASES[name]
    stats = CoalesceStats()
    c = Coalescer(policy, stats=stats)
    delivered = 0
    for step in script:
        if isinstance(step, Push):
            c.push(step.event, step.now)
        else:
            out = c.ready(step.now)
            assert brief(out) == [s.strip() for s in step.expect], f"at now={step.now}"
            delivered += len(out)
        _check_conservation(stats)
    assert stats.forwarded == delivered


def _check_conservation(s: CoalesceStats) -> None:
    assert s.events_in == (
        s.forwarded + s.coalesced + s.suppressed + 2 * s.vanished + s.held_now + s.discarded
    )


def test_merged_added_carries_the_newest_object_bytes() -> None:
    c = Coalescer(W)
    c.push(ev("ADDED", "a", 1, v=1), 0)
    newest = ev("MODIFIED", "a", 2, v=2)
    c.push(newest, 0.1)
    (out,) = c.ready(0.25)
    wire_type, obj = decode(out)
    assert (wire_type, out.type, out.resource_version) == ("ADDED", "ADDED", "2")
    assert obj["spec"] == {"v": 2}
    assert out.raw == newest.raw.replace(b'"MODIFIED"', b'"ADDED"', 1)


def test_stats_count_each_outcome() -> None:
    stats = CoalesceStats(kind="pods")
    c = Coalescer(W, kind="pods", stats=stats)
    c.push(ev("ADDED", "a", 1), 0)
    c.push(ev("MODIFIED", "a", 2), 0.05)  # coalesced
    c.push(ev("ADDED", "b", 3), 0.05)
    c.push(ev("DELETED", "b", 4), 0.1)  # vanished pair
    c.push(ev("MODIFIED", "c", 5), 0.1)
    assert stats.held_now == 2 and c.held == 2
    assert c.oldest_hold_age(0.2) == pytest.approx(0.2)
    c.ready(0.3)
    assert (stats.events_in, stats.forwarded, stats.coalesced, stats.vanished) == (5, 1, 1, 1)
    assert stats.held_now == 1 and stats.longest_hold_seconds == pytest.approx(0.3)
    assert c.discard() == 1
    assert stats.held_now == 0 and stats.discarded == 1 and c.held == 0
    _check_conservation(stats)


def test_shared_stats_across_streams() -> None:
    stats = CoalesceStats()
    a, b = Coalescer(W, stats=stats), Coalescer(W, stats=stats)
    a.push(ev("ADDED", "x", 1), 0)
    b.push(ev("ADDED", "y", 1), 0)
    assert stats.held_now == 2
    a.ready(1)
    assert stats.held_now == 1
    b.flush()
    assert stats.held_now == 0 and stats.forwarded == 2


def test_flush_delivers_everything_in_order_retyped() -> None:
    c = Coalescer(CoalescePolicy(window_seconds=1.0, max_events_per_second=1.0, burst=1))
    c.push(ev("ADDED", "a", 1), 0)
    c.push(bookmark(2), 0)
    c.push(ev("ADDED", "b", 3), 0)
    c.push(ev("MODIFIED", "b", 4), 0)
    c.push(bookmark(5), 0)
    assert brief(c.flush()) == ["ADDED a 1", "ADDED b 4", "BOOKMARK 5"]
    assert c.held == 0 and c.next_deadline() is None and c.ready(100) == []


def test_initial_events_pass_without_window_then_coalescing_starts() -> None:
    c = Coalescer(W0_RATE, initial_events=True)
    for i in range(5):
        c.push(ev("ADDED", f"p{i}", i + 1), 0)
    c.push(bookmark(6, initial_end=True), 0)
    out = c.ready(0)
    assert brief(out) == [f"ADDED p{i} {i + 1}" for i in range(5)] + ["BOOKMARK 6"]
    assert out[-1].initial_events_end
    # the initial events cost no token; after the end bookmark the rate limit applies
    for i in range(3):
        c.push(ev("MODIFIED", f"p{i}", 7 + i), 0)
    assert brief(c.ready(0)) == ["MODIFIED p0 7", "MODIFIED p1 8"]
    assert brief(c.ready(0.1)) == ["MODIFIED p2 9"]


def test_initial_events_end_is_never_delivered_before_held_initial_events() -> None:
    c = Coalescer(W)  # the caller did not say sendInitialEvents: the ADDEDs are windowed
    c.push(ev("ADDED", "a", 1), 0)
    c.push(bookmark(2, initial_end=True), 0)
    assert c.ready(0.1) == []
    assert brief(c.ready(0.25)) == ["ADDED a 1", "BOOKMARK 2"]


def test_namespace_without_policy_is_only_ordered() -> None:
    policies = {"mesh": W, "batch": None}
    c = Coalescer(OFF, namespace_policy=policies.__getitem__)
    c.push(ev("ADDED", "a", 1, ns="batch"), 0)
    assert brief(c.ready(0)) == ["ADDED a 1"]
    c.push(ev("ADDED", "m", 2, ns="mesh"), 0)
    c.push(ev("MODIFIED", "a", 3, ns="batch"), 0.1)
    c.push(ev("MODIFIED", "a", 4, ns="batch"), 0.1)  # exempt events never merge
    assert c.ready(0.1) == []  # blocked behind the held mesh event, in order
    assert brief(c.ready(0.25)) == ["ADDED m 2", "MODIFIED a 3", "MODIFIED a 4"]


def test_exempt_event_stops_merging_across_it() -> None:
    policies: dict[str, CoalescePolicy | None] = {"n": W}
    c = Coalescer(OFF, namespace_policy=lambda ns: policies[ns])
    c.push(ev("ADDED", "a", 1, ns="n"), 0)
    policies["n"] = None  # the namespace left the coalescing rule mid-stream
    c.push(ev("MODIFIED", "a", 2, ns="n"), 0.05)
    policies["n"] = W
    c.push(ev("MODIFIED", "a", 3, ns="n"), 0.1)
    # ADDED a 1 must not absorb MODIFIED a 3 and jump behind MODIFIED a 2
    assert brief(c.flush()) == ["ADDED a 1", "MODIFIED a 2", "MODIFIED a 3"]


def test_a_frame_that_cannot_be_retyped_never_merges_into_an_added() -> None:
    stats = CoalesceStats()
    c = Coalescer(W, stats=stats)
    c.push(ev("ADDED", "a", 1), 0)
    c.push(WatchEvent("MODIFIED", "a", "a", "uid-a", "2", b"{garbage\n"), 0.1)
    assert brief(c.ready(0.25)) == ["ADDED a 1"]  # never a MODIFIED of an object it lacks
    (out,) = c.ready(0.35)
    assert out.type == "MODIFIED" and out.raw == b"{garbage\n"
    assert stats.retype_failures == 1


def test_a_tail_that_cannot_be_retyped_follows_its_added() -> None:
    stats = CoalesceStats()
    c = Coalescer(W, stats=stats)
    c.push(ev("ADDED", "a", 1), 0)
    c.push(ev("MODIFIED", "b", 2), 0.05)
    c.push(WatchEvent("MODIFIED", "a", "a", "uid-a", "3", b"{garbage\n"), 0.1)
    c.push(ev("MODIFIED", "b", 4), 0.15)  # nothing between a's ADDED and its tail any more
    assert brief(c.ready(0.25)) == ["ADDED a 1"]
    assert [e.raw for e in c.ready(0.35)] == [b"{garbage\n", ev("MODIFIED", "b", 4).raw]
    assert stats.retype_failures == 1
    _check_conservation(stats)


def test_protobuf_frames_are_retyped_too() -> None:
    from _coalesce_helpers import pb_fields, pb_frame

    c = Coalescer(W)
    c.push(WatchEvent("ADDED", "a", "p", "u", "1", pb_frame("ADDED", b"k8s\x00one")), 0)
    c.push(WatchEvent("MODIFIED", "a", "p", "u", "2", pb_frame("MODIFIED", b"k8s\x00two")), 0.1)
    (out,) = c.ready(0.25)
    assert out.type == "ADDED" and out.resource_version == "2"
    assert pb_fields(out.raw)[0] == (1, b"ADDED")
    assert b"k8s\x00two" in out.raw


class TestNextDeadline:
    def test_nothing_held(self) -> None:
        assert Coalescer(W).next_deadline() is None

    def test_window(self) -> None:
        c = Coalescer(W)
        c.push(ev("ADDED", "a", 1), 1.0)
        c.push(ev("ADDED", "b", 2), 1.1)
        assert c.next_deadline() == pytest.approx(1.25)
        c.ready(1.25)
        assert c.next_deadline() == pytest.approx(1.35)

    def test_pull_by_a_later_merged_event(self) -> None:
        c = Coalescer(W)
        c.push(ev("ADDED", "a", 1), 0)
        c.push(ev("ADDED", "b", 2), 0.2)
        c.push(ev("MODIFIED", "a", 3), 0.2)
        assert c.next_deadline() == pytest.approx(0.25)  # a's deadline pulls b with it

    def test_tokens_and_max_hold(self) -> None:
        p = CoalescePolicy(
            window_seconds=0.0, max_events_per_second=2.0, burst=1, max_hold_seconds=0.3
        )
        c = Coalescer(p)
        c.push(ev("ADDED", "a", 1), 0)
        c.push(ev("ADDED", "b", 2), 0)
        assert brief(c.ready(0)) == ["ADDED a 1"]
        assert c.next_deadline() == pytest.approx(0.3)  # max hold (0.3) before a token (0.5)
        assert brief(c.ready(0.3)) == ["ADDED b 2"]

    def test_immediately_deliverable_after_push(self) -> None:
        c = Coalescer(W)
        c.push(bookmark(1), 5.0)
        assert c.next_deadline() == 5.0
        c2 = Coalescer(OFF)
        c2.push(ev("ADDED", "a", 1), 7.0)
        assert c2.next_deadline() == 7.0
        assert c2.held == 1


def test_rate_limited_backlog_is_bounded_by_objects_not_events() -> None:
    """5,000 events over 20 objects at 1,000/s against a 10/s limit: the backlog stays at 20
    held entries, the deadline heaps are compacted (private attributes read on purpose), and
    each object's newest state is the last one delivered."""
    p = CoalescePolicy(
        window_seconds=0.0, max_events_per_second=10.0, burst=1, max_hold_seconds=5.0
    )
    c = Coalescer(p)
    last: dict[str, int] = {}
    for i in range(5_000):
        now = i / 1000
        c.push(ev("MODIFIED", f"p{i % 20}", i + 1), now)
        for e in c.ready(now):
            last[e.name] = int(e.resource_version)
        assert c.held <= 20
        dl = c._deadlines
        assert len(dl.due_heap) + len(dl.must_heap) <= 4 * c.held + 256 + 2
    assert c.stats.forwarded < 150  # 10/s for 5 s, the burst, and the max-hold releases
    for e in c.flush():
        last[e.name] = int(e.resource_version)
    assert last == {f"p{k}": 4_981 + k for k in range(20)}


def test_flush_and_discard_are_idempotent() -> None:
    stats = CoalesceStats()
    c = Coalescer(W, stats=stats)
    c.push(ev("ADDED", "a", 1), 0)
    assert len(c.flush()) == 1
    assert c.discard() == 0 and c.flush() == []
    assert stats.held_now == 0 and stats.discarded == 0
    _check_conservation(stats)
