"""Contract 2 as a real client observes it: hang up anywhere, resume, relist, either wire format.

Model: the upstream history is a list of events in resourceVersion order over six keys in two
namespaces (creates, updates, heartbeat-only updates, deletes, delete + re-create under the same
name, BOOKMARKs, and mid-stream ``410`` ERRORs), each with an arrival time. Every event exists in
both wire formats, built by the project's encoders and decoded by its watch decoders, so the
coalescer sees the bytes the proxy feeds it. A stream feeds them into a Coalescer the way the
proxy's pump does (wake at ``next_deadline()`` or at the next upstream event).

The client, per connection (JSON or protobuf, drawn): applies every delivered frame after decoding
it again with the real decoder; hangs up after a drawn number of deliveries (in the middle of a
``ready()`` batch too) or at a drawn point of the upstream stream; resumes from the last
resourceVersion it saw, an event's or a BOOKMARK's, into a FRESH Coalescer (the upstream replays
everything after that version); relists when the resume is answered ``410`` (history compacted)
or when a ``410`` ERROR event arrives, and watches on from the list's version.

Checked on EVERY delivered event, which is what a client can observe:

* resourceVersions only grow, across hang-ups and relists;
* no ADDED for a key the client holds (any uid), no MODIFIED or DELETED for an object (key and
  uid) it does not hold;
* existence: right after the event, the set of objects (namespace, name, uid) the client holds
  equals the set the upstream holds at that resourceVersion. Only MODIFIED states may be skipped,
  and a stale state is allowed only for an object the upstream changes again later (a resume
  from here replays that change);
* the bytes are the upstream's bytes of the event at that resourceVersion, with only the type
  possibly rewritten (contract 1);
* no delivered resourceVersion is newer than a still-held event (contract 2), and the stats
  conservation law holds at every step.

At the end: the client's state (key -> (uid, v)) equals the upstream's final state, and each
key's delivered (rv, uid, v) sequence is a subsequence of its upstream sequence. Progress: when
anything is held, ``ready(next_deadline())`` delivers something or drops a pair that vanished on
delivery (so the stream loop never spins). Without a rate limit no event
waits longer than ``window_seconds``.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from discofilter.coalesce import CoalescePolicy, Coalescer, CoalesceStats
from discofilter.coalesce.retype import retype
from discofilter.codec import JsonWatchDecoder, ProtoWatchDecoder, encode_error_event
from discofilter.codec.mediatype import JSON, PROTOBUF
from discofilter.model import ADDED, BOOKMARK, DELETED, ERROR, MODIFIED, WatchEvent
from discofilter.sim.k8sproto import encode_watch_frame
from discofilter.status import status_dict

# 300 examples run in a few seconds; COALESCE_EXAMPLES=10000 for a soak before changing the
# coalescer.
EXAMPLES = int(os.environ.get("COALESCE_EXAMPLES", "300"))

Key = tuple[str, str]
ObjectId = tuple[str, str, str]  # (namespace, name, uid)
State = tuple[str, int]  # (uid, v): v is the object's state, carried in a label (protobuf-safe)
ENCODINGS = ("json", "protobuf")


@dataclass(frozen=True)
class Item:
    """One upstream event, in both wire formats."""

    pos: int
    time: float
    rv: int
    """The event's resourceVersion; an ERROR carries the version of the event before it."""
    type: str
    v: int | None
    frames: dict[str, WatchEvent]


def _pod(key: Key, uid: str, rv: int, v: int, heartbeat: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "namespace": key[0], "name": key[1], "uid": uid, "resourceVersion": str(rv),
        "labels": {"v": str(v)},
    }  # fmt: skip
    if heartbeat:  # only resourceVersion and managedFields change: a semantic no-op
        meta["managedFields"] = [{"manager": "kubelet", "operation": f"Update-{rv}"}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": {}}


def _frames(type_: str, obj: dict[str, Any]) -> dict[str, WatchEvent]:
    """The event as the proxy's decoders hand it to the coalescer, in both formats."""
    if type_ == ERROR:
        wire = {
            enc: encode_error_event(obj, ct) for enc, ct in (("json", JSON), ("protobuf", PROTOBUF))
        }
    else:
        wire = {
            "json": orjson.dumps({"type": type_, "object": obj}) + b"\n",
            "protobuf": encode_watch_frame(type_, obj),
        }
    out = {}
    for enc, raw in wire.items():
        (event,) = _decoder(enc).feed(raw)
        out[enc] = event
    return out


def _decoder(encoding: str) -> JsonWatchDecoder | ProtoWatchDecoder:
    return JsonWatchDecoder() if encoding == "json" else ProtoWatchDecoder()


OPS = st.lists(
    st.tuples(
        st.sampled_from(["upd", "upd", "upd", "del", "hb", "bm", "re", "err"]),
        st.integers(0, 5),  # key index
        st.sampled_from([0.0, 0.0, 0.01, 0.05, 0.1, 0.3, 1.0]),  # time since the previous event
    ),
    max_size=60,
)
POLICIES = st.builds(
    lambda window, rate, burst, hold, suppress: CoalescePolicy(
        window_seconds=window,
        max_events_per_second=rate,
        burst=burst,
        max_hold_seconds=max(window, hold),
        suppress_noop=suppress,
    ),
    st.sampled_from([0.0, 0.1, 0.25]),
    st.sampled_from([0.0, 5.0, 50.0]),
    st.sampled_from([1, 3]),
    st.sampled_from([0.2, 2.0]),
    st.booleans(),
)
HANGUPS = st.one_of(
    st.tuples(st.just("after"), st.integers(0, 25)),  # after this many deliveries
    st.tuples(st.just("at"), st.integers(0, 40)),  # before pushing this many upstream events
)
CONNECTIONS = st.lists(
    st.tuples(st.sampled_from(ENCODINGS), HANGUPS, st.sampled_from([False, False, False, True])),
    max_size=4,
)  # (wire format, when the client hangs up, whether its resume is answered 410)


@dataclass
class History:
    """The upstream: items in order, and its state after each of them."""

    items: list[Item]
    states: list[dict[Key, State]]
    """``states[pos]``: every object that exists after item ``pos``."""
    pos_of_rv: dict[int, int]
    last_pos: dict[ObjectId, int]
    """Position of the last event of each object: a stale client state is fixed by it."""

    def state_at(self, rv: int) -> dict[Key, State]:
        return self.states[self.pos_of_rv[rv]] if rv else {}

    def after(self, rv: int) -> list[Item]:
        return self.items[self.pos_of_rv[rv] + 1 :] if rv else self.items

    def final(self) -> dict[Key, State]:
        return self.states[-1] if self.states else {}

    def listed_at(self, now: float) -> int:
        """The resourceVersion a LIST at ``now`` returns (the newest event that happened)."""
        return max((it.rv for it in self.items if it.time <= now), default=0)


def build_history(ops: list[tuple[str, int, float]], empty_uids: bool = False) -> History:
    """Interpret the drawn ops as a valid upstream history (an op on an absent key creates it).
    ``empty_uids``: objects without a uid, so a re-creation has the same key as the deleted one."""
    items: list[Item] = []
    states: list[dict[Key, State]] = []
    live: dict[Key, State] = {}
    rv = 0
    t = 0.0
    generation = 0

    def add(type_: str, obj: dict[str, Any], v: int | None, rv_: int) -> None:
        items.append(Item(len(items), t, rv_, type_, v, _frames(type_, obj)))
        states.append(dict(live))

    def create(key: Key) -> None:
        nonlocal rv, generation
        rv += 1
        generation += 1
        uid = "" if empty_uids else f"{key[1]}-{generation}"
        live[key] = (uid, 0)
        add(ADDED, _pod(key, uid, rv, 0), 0, rv)

    def delete(key: Key) -> None:
        nonlocal rv
        rv += 1
        uid, v = live.pop(key)
        add(DELETED, _pod(key, uid, rv, v), v, rv)

    for op, k, dt in ops:
        t += dt
        key = (("a", "b")[k % 2], f"p{k}")
        if op == "bm":
            rv += 1
            add(BOOKMARK, {"kind": "Pod", "apiVersion": "v1",
                           "metadata": {"resourceVersion": str(rv)}}, None, rv)  # fmt: skip
        elif op == "err":
            add(ERROR, status_dict(410, "too old resource version", "Expired"), None, rv)
        elif key not in live:
            create(key)
        elif op == "del":
            delete(key)
        elif op == "re":  # delete + re-create under the same name, back to back
            delete(key)
            create(key)
        else:
            rv += 1
            uid, v = live[key]
            if op == "upd":
                v += 1
                live[key] = (uid, v)
            add(MODIFIED, _pod(key, uid, rv, v, heartbeat=op == "hb"), v, rv)
    pos_of_rv = {it.rv: it.pos for it in items if it.type != ERROR}
    last_pos = {}
    for it in items:
        if it.type in (ADDED, MODIFIED, DELETED):
            e = it.frames["json"]
            last_pos[(e.namespace, e.name, e.uid)] = it.pos
    return History(items, states, pos_of_rv, last_pos)


class Client:
    """A watch client that checks every event it is handed against the upstream's history."""

    def __init__(self, history: History) -> None:
        self.history = history
        self.cache: dict[Key, State] = {}
        self.last_rv = 0
        self.received: list[tuple[int, Item]] = []
        self.relists = 0
        self.encoding = "json"

    def relist(self, now: float) -> None:
        self.last_rv = max(self.last_rv, self.history.listed_at(now))
        self.cache = dict(self.history.state_at(self.last_rv))
        self.relists += 1

    def apply(self, e: WatchEvent) -> None:
        """Apply one delivered event; raise AssertionError on anything a client must not see."""
        (wire,) = _decoder(self.encoding).feed(e.raw)  # what the client's decoder makes of it
        assert (wire.type, wire.resource_version) == (e.type, e.resource_version)
        if e.type == ERROR:
            return
        rv = int(wire.resource_version)
        assert rv > self.last_rv, f"resourceVersion went back: {rv} after {self.last_rv}"
        item = self.history.items[self.history.pos_of_rv[rv]]
        upstream = item.frames[self.encoding]
        expected = upstream.raw if e.type == upstream.type else retype(upstream.raw, e.type)
        assert e.raw == expected, f"{e.type}@{rv}: not the upstream's bytes"
        self.last_rv = rv
        self.received.append((rv, item))
        key = (wire.namespace, wire.name)
        have = self.cache.get(key)
        what = f"{e.type} {key[0]}/{key[1]}@{rv}"
        if e.type == ADDED:
            assert have is None, f"{what}: the client already holds {key} (uid {have[0]!r})"
            assert item.v is not None
            self.cache[key] = (wire.uid, item.v)
        elif e.type in (MODIFIED, DELETED):
            assert have is not None, f"{what} for an object the client does not hold"
            assert have[0] == wire.uid, f"{what}: the client holds uid {have[0]!r}"
            if e.type == DELETED:
                del self.cache[key]
            else:
                assert item.v is not None
                self.cache[key] = (wire.uid, item.v)
        self.check_state(rv)

    def check_state(self, rv: int) -> None:
        """Existence equals the upstream's at ``rv``; a stale state only if fixed later."""
        truth = self.history.state_at(rv)
        held = {(k, uid) for k, (uid, _) in self.cache.items()}
        assert held == {(k, uid) for k, (uid, _) in truth.items()}, (
            f"at resourceVersion {rv} the client holds {sorted(held)}, "
            f"the upstream {sorted((k, u) for k, (u, _) in truth.items())}"
        )
        pos = self.history.pos_of_rv[rv]
        for k, (uid, v) in self.cache.items():
            if truth[k][1] != v:
                assert self.history.last_pos[(k[0], k[1], uid)] > pos, f"{k} stale for good"


class HungUp(Exception):
    """The client closed the connection."""


class Expired(Exception):
    """The connection ended with a 410 ERROR event: relist."""


def check_conservation(s: CoalesceStats) -> None:
    assert s.events_in == (
        s.forwarded + s.coalesced + s.suppressed + 2 * s.vanished + s.held_now + s.discarded
    )


@dataclass
class Connection:
    encoding: str = "json"
    hangup: tuple[str, int] | None = None
    """("after", n deliveries) or ("at", n upstream events pushed); None: never."""
    too_old: bool = False
    """A resume on this connection is answered 410 (the history was compacted)."""


@dataclass
class Run:
    history: History
    policy: CoalescePolicy
    factory: type[Coalescer] = Coalescer
    exempt_b: bool = False
    use_flush: bool = False
    stats: CoalesceStats = field(default_factory=CoalesceStats)
    now: float = 0.0
    consumed_errors: set[int] = field(default_factory=set)

    def client(self, connections: list[Connection]) -> Client:
        client = Client(self.history)
        pending = list(connections)
        resumed = False
        while True:
            conn = pending.pop(0) if pending else Connection(ENCODINGS[len(client.received) % 2])
            if resumed and conn.too_old:
                client.relist(self.now)
            client.encoding = conn.encoding
            resumed = True
            try:
                self.connection(client, conn)
                return client
            except HungUp:
                pass
            except Expired:
                client.relist(self.now)
            check_conservation(self.stats)

    def connection(self, client: Client, conn: Connection) -> None:
        """One watch from the client's last version until the upstream's end, a hang-up, or a
        410; returns only at the end (everything delivered)."""
        # exempt_b: namespace "b" has no policy (its events are only ordered, never held for
        # a window or a token), sharing the stream with coalesced namespace "a".
        policy = self.policy
        ns_policy = (lambda ns: None if ns == "b" else policy) if self.exempt_b else None
        c = self.factory(policy, stats=self.stats, namespace_policy=ns_policy)
        delivered = pushed = 0
        hangup = conn.hangup

        def deliver(out: list[WatchEvent]) -> None:
            nonlocal delivered
            held = [int(e.resource_version) for e in c.held_events() if e.resource_version]
            rvs = [int(e.resource_version) for e in out if e.resource_version]
            assert rvs == sorted(rvs) and len(set(rvs)) == len(rvs)
            if held and rvs:
                assert max(rvs) < min(held), "delivered an RV newer than a held event"
            check_conservation(self.stats)
            for e in out:
                if hangup is not None and hangup[0] == "after" and delivered >= hangup[1]:
                    raise HungUp
                client.apply(e)
                delivered += 1
                if e.type == ERROR:
                    raise Expired  # the upstream ends the watch after it

        def wake_until(t: float) -> None:
            while (d := c.next_deadline()) is not None and d <= t:
                self.now = max(self.now, d)
                held = c.held
                out = c.ready(self.now)
                # progress: something delivered, or a pair that vanished on delivery dropped
                assert out or c.held < held, "ready(next_deadline()) made no progress"
                deliver(out)

        try:
            for it in self.history.after(client.last_rv):
                if it.type == ERROR and it.pos in self.consumed_errors:
                    continue
                if hangup is not None and hangup[0] == "at" and pushed >= hangup[1]:
                    raise HungUp
                wake_until(it.time)
                self.now = max(self.now, it.time)  # a replayed backlog arrives at once
                if it.type == ERROR:
                    self.consumed_errors.add(it.pos)  # one stream's 410, not the history's
                c.push(it.frames[conn.encoding], self.now)
                pushed += 1
                check_conservation(self.stats)
                deliver(c.ready(self.now))
            if self.use_flush:
                deliver(c.flush())
            wake_until(float("inf"))
            assert c.held == 0 and self.stats.held_now == 0
        finally:
            c.discard()


def per_key(events: list[tuple[int, Item]]) -> dict[Key, list[tuple[int, str, int | None]]]:
    seqs: dict[Key, list[tuple[int, str, int | None]]] = defaultdict(list)
    for rv, it in events:
        if it.type in (ADDED, MODIFIED, DELETED):
            e = it.frames["json"]
            seqs[(e.namespace, e.name)].append((rv, e.uid, it.v))
    return seqs


def is_subsequence(sub: list[Any], seq: list[Any]) -> bool:
    it = iter(seq)
    return all(any(x == y for y in it) for x in sub)


def check_run(run: Run, connections: list[Connection]) -> Client:
    client = run.client(connections)
    history = run.history
    assert client.cache == history.final()
    if not run.policy.rate_limited:
        # "pull": the window alone never delays any event by more than window_seconds
        assert run.stats.longest_hold_seconds <= run.policy.window_seconds + 1e-9
    upstream_seqs = per_key([(it.rv, it) for it in history.items])
    for key, seq in per_key(client.received).items():
        assert is_subsequence(seq, upstream_seqs[key]), f"{key}: {seq} not in {upstream_seqs[key]}"
    return client


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ops=OPS,
    policy=POLICIES,
    connections=CONNECTIONS,
    use_flush=st.booleans(),
    empty_uids=st.booleans(),
    exempt_b=st.booleans(),
)
def test_a_resuming_client_only_sees_what_the_upstream_could_have_sent(
    ops: list[tuple[str, int, float]],
    policy: CoalescePolicy,
    connections: list[tuple[str, tuple[str, int], bool]],
    use_flush: bool,
    empty_uids: bool,
    exempt_b: bool,
) -> None:
    run = Run(build_history(ops, empty_uids), policy, exempt_b=exempt_b, use_flush=use_flush)
    check_run(run, [Connection(*c) for c in connections])


# --- the checker catches the bugs it is there for ------------------------------------------

W = CoalescePolicy(window_seconds=0.1)


class KeepsOldestPosition(Coalescer):
    """The tempting bug: a merged event keeps its first position (delivers RV 3 before RV 2)."""

    def _merge(self, held: Any, seq: int, event: WatchEvent, *_: Any) -> None:
        held.event = event
        self.stats.coalesced += 1


class CarriesCreations(Coalescer):
    """The rule before issue 13: an undelivered ADDED merges forward past other objects'
    events (and vanishes with its DELETED around them)."""

    def _nothing_held_after(self, h: Any) -> bool:
        return True


def test_the_checker_catches_a_creation_carried_past_other_events() -> None:
    history = build_history([("upd", 0, 0.0), ("upd", 1, 0.01), ("upd", 0, 0.01)])
    check_run(Run(history, W), [])
    with pytest.raises(AssertionError, match="client holds"):
        check_run(Run(history, W, factory=CarriesCreations), [])


def test_the_checker_catches_a_merge_at_the_oldest_position() -> None:
    history = build_history([("upd", 0, 0.0), ("upd", 1, 0.01), ("upd", 2, 0.0), ("upd", 0, 0.01)])
    check_run(Run(history, W), [])
    with pytest.raises(AssertionError):
        check_run(Run(history, W, factory=KeepsOldestPosition), [Connection("json", ("after", 1))])


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_an_added_is_never_carried_past_another_objects_event(encoding: str) -> None:
    """Issue 13's sequence: p0 created, p1 changed, p0 changed, all inside one window. The
    client hangs up after the first delivery and resumes from its version: it must hold p0
    by then, or the replay starts with a MODIFIED of p0 it never got an ADDED for."""
    ops = [("upd", 1, 0.0), ("upd", 0, 1.0), ("upd", 1, 0.01), ("upd", 0, 0.01)]
    history = build_history(ops)  # p1 ADDED@1, then p0 ADDED@2, p1 MODIFIED@3, p0 MODIFIED@4
    client = check_run(Run(history, W), [Connection(encoding, ("after", 2))])
    assert client.cache == history.final()


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_a_vanishing_pair_never_hides_behind_another_objects_event(encoding: str) -> None:
    """p0 created, p1 changed, p0 deleted inside one window: the pair may vanish only if no
    event between them is delivered, or a resume from p1's version replays p0's DELETED."""
    ops = [("upd", 1, 0.0), ("upd", 0, 1.0), ("upd", 1, 0.01), ("del", 0, 0.01), ("upd", 1, 1.0)]
    history = build_history(ops)
    check_run(Run(history, W), [Connection(encoding, ("after", 2))])


def test_a_bookmark_never_carries_a_version_past_a_held_added() -> None:
    ops = [("upd", 0, 0.0), ("bm", 0, 0.01), ("upd", 0, 0.01), ("upd", 1, 1.0)]
    history = build_history(ops)  # ADDED@1, BOOKMARK@2, MODIFIED@3
    check_run(Run(history, W), [Connection("protobuf", ("after", 0)), Connection("json")])
    for n in range(3):
        check_run(Run(history, W), [Connection("json", ("after", n))])
