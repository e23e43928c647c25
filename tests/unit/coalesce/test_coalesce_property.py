"""The issue's acceptance property: no event is lost across a disconnect and resume.

Model: the upstream history is a list of events in resourceVersion order (ADDED / MODIFIED /
heartbeat-only MODIFIED / DELETED / re-create with a new uid over several keys, and BOOKMARKs),
each with an arrival time. A stream feeds them into a Coalescer at their times, the way the proxy's
stream loop does (wake at ``next_deadline()`` or at the next upstream event). The client applies
what is delivered, and disconnects after a random number of deliveries (in the middle of a
``ready()`` batch too); it then resumes from its last delivered resourceVersion: the upstream
replays every event after that RV into a FRESH Coalescer. Checked:

* at every delivery: no delivered RV is newer than a still-held event (contract 2), and
  delivered RVs increase;
* at every step: the stats conservation law;
* the client never gets an ADDED for an object it has, nor a MODIFIED for one it lacks, except
  as the first event of an object after a resume: its ADDED was merged into a later event that the
  disconnect cut off, and the upstream replays only the MODIFIED. Informers apply a MODIFIED as an
  upsert (client-go's store.Update; the handler gets OnAdd), so the cache still converges;
* at the end: the client's state (key -> (uid, spec)) equals the upstream's final state, and each
  key's delivered (rv, uid, state) sequence is a subsequence of its upstream sequence;
* progress: when anything is held, ``ready(next_deadline())`` delivers something;
* without a rate limit, no event waits longer than ``window_seconds``.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import pytest
from _coalesce_helpers import bookmark, decode, json_event, pod
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from discofilter.coalesce import CoalescePolicy, Coalescer, CoalesceStats
from discofilter.model import ADDED, BOOKMARK, DELETED, MODIFIED, WatchEvent

# 300 examples run in about 1 s; COALESCE_EXAMPLES=20000 for a soak before changing the coalescer.
EXAMPLES = int(os.environ.get("COALESCE_EXAMPLES", "300"))

Key = tuple[str, str]
State = tuple[str, int | None]  # (uid, spec.v); v None = deleted


@dataclass(frozen=True)
class Item:
    time: float
    rv: int
    event: WatchEvent


OPS = st.lists(
    st.tuples(
        st.sampled_from(["upd", "upd", "del", "hb", "bm"]),
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


def build_upstream(ops: list[tuple[str, int, float]], empty_uids: bool = False) -> list[Item]:
    """Interpret the drawn ops as a valid upstream history (an op on an absent key creates it).
    ``empty_uids``: objects without a uid, so a re-creation has the same key as the deleted one."""
    items: list[Item] = []
    live: dict[Key, tuple[str, int]] = {}
    rv = 0
    t = 0.0
    generation = 0
    for op, k, dt in ops:
        t += dt
        rv += 1
        key = (("a", "b")[k % 2], f"p{k}")
        if op == "bm":
            items.append(Item(t, rv, bookmark(rv)))
            continue
        if key not in live:
            generation += 1
            uid = "" if empty_uids else f"{key[1]}-{generation}"
            live[key] = (uid, 0)
            items.append(Item(t, rv, json_event(ADDED, pod(key[1], rv, ns=key[0], uid=uid))))
            continue
        uid, v = live[key]
        if op == "del":
            del live[key]
            items.append(Item(t, rv, json_event(DELETED, pod(key[1], rv, ns=key[0], uid=uid, v=v))))
            continue
        obj: dict[str, Any] = pod(key[1], rv, ns=key[0], uid=uid, v=v)
        if op == "upd":
            live[key] = (uid, v + 1)
            obj["spec"]["v"] = v + 1
        else:  # heartbeat: only resourceVersion and managedFields change
            obj["metadata"]["managedFields"] = [{"manager": "kubelet", "n": rv}]
        items.append(Item(t, rv, json_event(MODIFIED, obj)))
    return items


def upstream_final(items: list[Item]) -> dict[Key, State]:
    state: dict[Key, State] = {}
    for it in items:
        e = it.event
        if e.type in (ADDED, MODIFIED):
            state[(e.namespace, e.name)] = (e.uid, decode(e)[1]["spec"]["v"])
        elif e.type == DELETED:
            state.pop((e.namespace, e.name), None)
    return state


def per_key(events: list[tuple[int, WatchEvent]]) -> dict[Key, list[tuple[int, str, int | None]]]:
    seqs: dict[Key, list[tuple[int, str, int | None]]] = defaultdict(list)
    for rv, e in events:
        if e.type == BOOKMARK:
            continue
        v = None if e.type == DELETED else decode(e)[1]["spec"]["v"]
        seqs[(e.namespace, e.name)].append((rv, e.uid, v))
    return seqs


def is_subsequence(sub: list[Any], seq: list[Any]) -> bool:
    it = iter(seq)
    return all(any(x == y for y in it) for x in sub)


class Client:
    """An informer-like client: a cache keyed by namespace/name, and its last resourceVersion."""

    def __init__(self) -> None:
        self.cache: dict[Key, State] = {}
        self.last_rv = 0
        self.received: list[tuple[int, WatchEvent]] = []
        self.resumed = False
        self.seen_this_connection: set[Key] = set()
        self.longest_hold = 0.0

    def reconnect(self) -> None:
        self.resumed = True
        self.seen_this_connection.clear()

    def apply(self, e: WatchEvent) -> None:
        wire_type, obj = decode(e)
        assert wire_type == e.type
        rv = int(obj["metadata"]["resourceVersion"])
        assert rv > self.last_rv, "resourceVersion went backwards"
        self.last_rv = rv
        self.received.append((rv, e))
        if e.type == BOOKMARK:
            return
        key = (e.namespace, e.name)
        have = self.cache.get(key)
        first_after_resume = self.resumed and key not in self.seen_this_connection
        self.seen_this_connection.add(key)
        if e.type == ADDED:
            assert have is None, f"ADDED for {key} already cached"
            self.cache[key] = (e.uid, obj["spec"]["v"])
        elif e.type == MODIFIED:
            if not first_after_resume:
                assert have is not None, f"MODIFIED for unknown {key}"
            assert have is None or have[0] == e.uid, f"MODIFIED of {key} with another uid"
            self.cache[key] = (e.uid, obj["spec"]["v"])
        else:
            assert have is None or have[0] == e.uid
            self.cache.pop(key, None)


class Disconnected(Exception):
    pass


def check_conservation(s: CoalesceStats) -> None:
    assert s.events_in == (
        s.forwarded + s.coalesced + s.suppressed + 2 * s.vanished + s.held_now + s.discarded
    )


def run(
    items: list[Item],
    policy: CoalescePolicy,
    disconnects: list[int],
    use_flush: bool,
    factory: type[Coalescer] = Coalescer,
    exempt_b: bool = False,
) -> Client:
    client = Client()
    stats = CoalesceStats()
    now = 0.0
    budgets = list(disconnects)
    for _attempt in range(len(disconnects) + 1):
        # exempt_b: namespace "b" has no policy (its events are only ordered, never held for
        # a window or a token), sharing the stream with coalesced namespace "a".
        ns_policy = (lambda ns: None if ns == "b" else policy) if exempt_b else None
        c = factory(policy, stats=stats, namespace_policy=ns_policy)
        budget = budgets.pop(0) if budgets else None
        count = 0

        def deliver(out: list[WatchEvent], c: Coalescer = c, budget: int | None = budget) -> None:
            nonlocal count
            held = [int(e.resource_version) for e in c.held_events()]
            rvs = [int(e.resource_version) for e in out]
            assert rvs == sorted(rvs) and len(set(rvs)) == len(rvs)
            if held and rvs:
                assert max(rvs) < min(held), "delivered an RV newer than a held event"
            check_conservation(stats)
            for e in out:
                if budget is not None and count >= budget:
                    raise Disconnected
                client.apply(e)
                count += 1

        try:
            for it in [i for i in items if i.rv > client.last_rv]:
                while (d := c.next_deadline()) is not None and d <= it.time:
                    now = max(now, d)
                    out = c.ready(now)
                    assert out, "ready(next_deadline()) made no progress"
                    deliver(out)
                now = max(now, it.time)  # a replayed backlog arrives at once
                c.push(it.event, now)
                check_conservation(stats)
                deliver(c.ready(now))
            if use_flush:
                deliver(c.flush())
            for _ in range(len(items) + 2):
                d = c.next_deadline()
                if d is None:
                    break
                now = max(now, d)
                out = c.ready(now)
                assert out, "ready(next_deadline()) made no progress"
                deliver(out)
            assert c.held == 0 and stats.held_now == 0
            client.longest_hold = stats.longest_hold_seconds
            return client
        except Disconnected:
            c.discard()
            client.reconnect()
            check_conservation(stats)
    raise AssertionError("unreachable: the last connection has no disconnect budget")


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ops=OPS,
    policy=POLICIES,
    disconnects=st.lists(st.integers(0, 25), max_size=3),
    use_flush=st.booleans(),
    empty_uids=st.booleans(),
    exempt_b=st.booleans(),
)
def test_no_event_lost_across_resume(
    ops: list[tuple[str, int, float]],
    policy: CoalescePolicy,
    disconnects: list[int],
    use_flush: bool,
    empty_uids: bool,
    exempt_b: bool,
) -> None:
    items = build_upstream(ops, empty_uids)
    client = run(items, policy, disconnects, use_flush, exempt_b=exempt_b)
    assert client.cache == upstream_final(items)
    if not policy.rate_limited:
        # "pull": the window alone never delays any event by more than window_seconds
        assert client.longest_hold <= policy.window_seconds + 1e-9
    upstream_seqs = per_key([(it.rv, it.event) for it in items])
    for key, seq in per_key(client.received).items():
        assert is_subsequence(seq, upstream_seqs[key]), f"{key}: {seq} not in {upstream_seqs[key]}"


class KeepsOldestPosition(Coalescer):
    """The tempting bug: a merged event keeps its first position (delivers RV 3 before RV 2)."""

    def _merge(self, held: Any, seq: int, event: WatchEvent, digest: bytes | None) -> None:
        held.event = event
        held.deliver_type = ADDED if held.deliver_type == ADDED else event.type
        self.stats.coalesced += 1


def test_the_checker_catches_a_merge_at_the_oldest_position() -> None:
    items = build_upstream([("upd", 0, 0.0), ("upd", 1, 0.01), ("upd", 0, 0.01)])
    policy = CoalescePolicy(window_seconds=0.1)
    assert run(items, policy, [], False).cache == upstream_final(items)
    with pytest.raises(AssertionError):
        run(items, policy, [1], False, factory=KeepsOldestPosition)
