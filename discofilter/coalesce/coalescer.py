"""The coalescer: one watch stream's churn window, rate limit and no-loss ordering (pure).

One ``Coalescer`` per watch stream. The stream loop ``push``es every event it would have written
(BOOKMARK and ERROR included) in arrival order, writes what ``ready(now)`` returns, and sleeps until
``next_deadline()`` or the next upstream event, whichever is first. ``flush()`` when the upstream
ends the stream; ``discard()`` when the client went away.

The contract (DESIGN.md contract 2), in the style of client-go's SharedInformer doc:

* ORDER. Events are delivered in arrival order of the events that survive. Arrival order is
  resourceVersion order (kube-apiserver sends a watch in RV order); the coalescer never parses a
  resourceVersion, it numbers arrivals (``seq``).
* NO RV NEWER THAN A HELD EVENT. Only the head of the hold queue (lowest ``seq``) is ever delivered,
  so every held event is newer than everything delivered. A client that disconnects and resumes
  from its last resourceVersion therefore gets every held event again from the upstream.
* EXISTENCE. At every resourceVersion the client is handed, an event's or a bookmark's, the
  objects (namespace, name, uid) it holds are exactly those the upstream held at that version.
  So wherever a client hangs up, the upstream's replay from its last version fits what it holds:
  an ADDED for an object it lacks, a MODIFIED or DELETED for one it holds, never the reverse.
  Intermediate states may be skipped; a creation and its deletion only together, when no
  delivered version falls between them. (Issue 13: a client got MODIFIEDs for objects whose
  ADDED had been carried past the version it resumed from.)
* SKIPPED STATES. Several events of one object (namespace, name, uid) that are held together merge
  into one carrying the NEWEST object: MODIFIED+MODIFIED -> MODIFIED; MODIFIED+DELETED -> DELETED
  (until the DELETED's version the client holds the object, as the upstream does). An ADDED
  merges only as CREATIONS says. A held DELETED never merges with anything after it, so a
  re-creation (new uid, or even the same key) is always a separate, later event.
* WHERE A MERGED EVENT GOES. The merged event takes the position of its NEWEST constituent. Why:
  say object A is held from seq 5, B arrives at seq 6, A changes at seq 7. Delivering A's newest
  state at position 5 would hand the client RV 7 before RV 6; if the client then disconnected it
  would resume from RV 7 and never see B's event. At position 7 the client sees B (RV 6) first and,
  if it disconnects in between, resumes from RV 6 and receives A's RV 7 from the upstream. A's
  state at seq 5 was merely skipped, which is allowed: only final states must arrive.
* CREATIONS. That move is safe for a MODIFIED only: had seq 5 been A's ADDED, the client would be
  at RV 6 without A, and its resume would start with A's MODIFIED. So an entry holding an ADDED
  the client was not sent never moves past another held entry. A later event of its object
  merges into it only while nothing else is held after it: ADDED+MODIFIED -> ADDED with the
  newest object (the frame re-typed, ``retype``), ADDED+DELETED -> nothing (the pair vanishes).
  Otherwise the later events gather in the entry's ``tail``, a second entry at their own position
  that merges like any MODIFIED. When the ADDED is delivered, the tail rejoins it if nothing is
  held between them by then (what was between merged forward, vanished or was suppressed): one
  ADDED with the newest object at the tail's version, or nothing when the tail is a DELETED.
  Else the ADDED goes alone, with its own bytes, and the tail follows at its own position. A
  frame that cannot be re-typed never merges into an ADDED (the ADDED goes as it came).
* BOOKMARKS are delivered when they reach the head (re-timed behind older held events, they carry
  a newer RV). A newer held bookmark replaces an older held one. A held plain bookmark standing
  between an undelivered ADDED and the event it merges with is dropped: delivered, it would hand
  the client a version at which it lacks the object (the merged event, or the next bookmark,
  carries the version on). The ``initial-events-end`` bookmark is never replaced or dropped, and
  never overtakes the initial events it ends.
* ERROR events release everything held before them and then pass, at the next ``ready``.
* ALWAYS DELIVERED: every final state (the newest event of each object that is not an unseen
  ADDED+DELETED pair), every ERROR, the initial-events-end bookmark, and the newest bookmark
  unless it was dropped for the reason above.

Timing. An object's first held event is due ``window_seconds`` after it arrived, rounded down to
a grid of ``window_seconds / RELEASE_TICKS`` (``release_due``: events first held within one tick
share a deadline and leave in one wake-up and one write; never later than the window); merges
keep that deadline, so a steadily changing object is still delivered once per window. When any
held event falls due, everything before it in the queue is delivered too ("pull"): this keeps
the delay the window adds to any event at most ``window_seconds``, at the cost of a shorter
window for the events pulled. With a rate limit, each object event delivered spends one token
(bookmarks and ERRORs are free); a held event blocks everything after it, so a rate-limited
stream makes progress exactly one token at a time, and meanwhile every held object keeps
merging: a backlog is bounded by the number of distinct objects, not events.
``max_hold_seconds`` after an event was first held it is released whatever the tokens
(staleness beats the rate limit). Events of namespaces with no policy, and the initial events
of a ``sendInitialEvents`` watch (``initial_events=True``), are never held for a window or a
token, but they still keep their place behind older held events.

After a resume. A fresh stream assumes nothing about what the client holds: it delivers every
event with the type the upstream gave it (ADDED only as CREATIONS re-types one). That is right
because the stream before it kept EXISTENCE at every version it delivered: kube-apiserver replays
from the client's version, so the first event of an object on the new stream is an ADDED exactly
when the client lacks the object. The proxy cannot know more than that about the client (it may
have resumed from a version it got elsewhere); docs/coalesce.md says what that leaves.

Memory: held entries <= twice the distinct objects changed within the last ``max_hold_seconds``
(windows alone: within the last ``window_seconds``; an ADDED and its tail are two) plus the events
queued behind them; heaps are compacted to O(held). Cost: O(1) amortised for an object's first
event in its window (``deadlines.py``: lanes, no heap), O(log held) per merge; about 2.4-2.8 µs
per event at 1,000 keys with the 0.25 s window on the team machine (``python
bench/micro_coalesce.py``; unchanged by the CREATIONS rule, docs/coalesce.md "Performance";
issue 17's lanes: docs/performance.md change 5).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace

from discofilter.coalesce.bucket import TokenBucket
from discofilter.coalesce.deadlines import Deadlines
from discofilter.coalesce.held import BOOKMARK_ENTRY, ERROR_ENTRY, EXEMPT, NEG_INF, OBJECT, Held
from discofilter.coalesce.noop import DeliveredDigests, ObjectKey, semantic_digest
from discofilter.coalesce.policy import CoalescePolicy
from discofilter.coalesce.retype import retype
from discofilter.coalesce.stats import CoalesceStats
from discofilter.errors import CodecError
from discofilter.model import ADDED, BOOKMARK, DELETED, ERROR, MODIFIED, WatchEvent

RELEASE_TICKS = 5
"""Windows end on a grid of ``window / RELEASE_TICKS`` (50 ms for the default 250 ms window)."""
MAX_READ_GATHER_SECONDS = 0.05
"""The longest read gather (``Coalescer.read_gather_seconds``): one tick of the default window.
At 100 events/s it already folds ~5 reads into one; longer pauses save little more and would
keep a long window's events (and ``held_now``) invisible for longer."""


def release_due(now: float, window: float) -> float:
    """When an event first held at ``now`` falls due: the last grid point at or before
    ``now + window`` (grid step ``tick = window / RELEASE_TICKS``), so in
    ``(now + window - tick, now + window]``.

    Why a grid: with a deadline per arrival, a stream at 100 distinct objects/s wakes 100 times
    a second to release one event each, and at low rates the wake-up and its client write are
    the cost (a TLS record, a syscall, ~50-100 µs: bench/RESULTS.md "Hot path at low rates").
    Events first held within one tick now share a deadline and go out in one wake-up and one
    write: at most ``RELEASE_TICKS / window`` release wake-ups per second whatever the rate.
    Rounding down is never late: the delay the window adds stays at most ``window`` (the
    TIMING contract); an event is held more than ``window - tick``, so an object changing within
    that is still merged. (An end within 1 ns of a grid point is on it: binary fractions make
    0.35 % 0.05 come out as 0.04999..., and that arrival must stay due at exactly 0.35.)
    """
    if window <= 0:
        return now
    end = now + window
    off = math.fmod(end, window / RELEASE_TICKS)
    if off < 1e-9 or off > window / RELEASE_TICKS - 1e-9:
        return end
    return end - off


class Coalescer:
    """Coalesces one watch stream; see the module docstring for the contract."""

    def __init__(
        self,
        policy: CoalescePolicy,
        *,
        kind: str = "",
        stats: CoalesceStats | None = None,
        namespace_policy: Callable[[str], CoalescePolicy | None] | None = None,
        initial_events: bool = False,
    ) -> None:
        """``policy`` sets the stream's token bucket, and is the policy of every event unless
        ``namespace_policy`` is given: then that is called once per object event with its
        namespace ("" if cluster-scoped) and must be cheap; None means "do not coalesce this
        namespace". ``initial_events``: the stream was opened with sendInitialEvents=true, so
        events up to the initial-events-end bookmark pass without a window or a token."""
        self.policy = policy
        self.kind = kind
        self.stats = stats if stats is not None else CoalesceStats(kind=kind)
        self._namespace_policy = namespace_policy
        self._initial = initial_events
        self._passthrough = namespace_policy is None and not policy.enabled
        # The common case (the default churn control): one windowed policy for the whole stream,
        # no suppression, so a new object needs no policy lookup and no digest (``push``).
        self._plain = namespace_policy is None and policy.enabled and not policy.suppress_noop
        self._bucket = (
            TokenBucket(policy.max_events_per_second, policy.burst) if policy.rate_limited else None
        )
        self.read_gather_seconds = (
            min(policy.window_seconds / RELEASE_TICKS, MAX_READ_GATHER_SECONDS)
            if self._plain and not initial_events and policy.window_seconds > 0
            else 0.0
        )
        """How long the pump may let upstream bytes gather before reading them (one wake-up
        for all of them): every object event is held at least ``window - tick`` anyway, and an
        arrival is stamped at the earliest moment it could have come (``push``'s ``now``), so
        the window still adds no more than ``window_seconds``. 0 where an event may pass at
        once (namespace rules, initial events, no window)."""
        self._digests: DeliveredDigests | None = (
            DeliveredDigests(policy.noop_max_keys)
            if policy.suppress_noop or namespace_policy is not None
            else None
        )

        # THE HOLD QUEUE. Invariant (contract 2): keys are strictly increasing ``seq`` numbers,
        # every key is greater than the seq of every event already delivered, and ``ready`` only
        # ever delivers the first entry. So no delivered resourceVersion is newer than a held one.
        # Invariant (EXISTENCE): an entry whose event is an ADDED never moves past another held
        # entry, and rejoins its tail (which is later in the queue) only with nothing between.
        self._queue: OrderedDict[int, Held] = OrderedDict()
        # Invariant: _index[k], when present, is the newest held OBJECT entry of object key k
        # (the tail, when its ADDED has one) and no later event of k is held (an exempt event
        # of k removes k). Events merge only into it, and only if it is not a DELETED: merging
        # never reorders two events of one object.
        self._index: dict[ObjectKey, Held] = {}
        self._deadlines = Deadlines(with_max_hold=self._bucket is not None)
        self._seq = 0
        self._bookmark: Held | None = None  # the newest held plain BOOKMARK, if held
        self._out: list[WatchEvent] = []  # pass-through outbox (policy does nothing)
        self._now = NEG_INF

    # --- input ---------------------------------------------------------------------------------

    def push(self, event: WatchEvent, now: float) -> None:
        """Accept the stream's next event (arrival order; ``now`` = monotonic arrival time)."""
        stats = self.stats
        stats.events_in += 1
        if now > self._now:
            self._now = now
        if self._passthrough:
            self._out.append(event)
            stats.held_now += 1
            return
        self._seq += 1
        seq = self._seq
        etype = event.type
        if etype == ERROR:
            self._append(Held(seq, event, ERROR_ENTRY, now))
            self._deadlines.release_upto = seq
            return
        if etype == BOOKMARK:
            self._push_bookmark(seq, event, now)
            return

        okey = (event.namespace, event.name, event.uid)
        if self._plain and not self._initial:
            # The general path below, specialised: policy = self.policy, digest = None.
            held = self._index.get(okey)
            if held is not None and held.event.type != DELETED:
                self._merge(held, seq, event, None, now, self.policy)
                return
            p = self.policy
            due, must = release_due(now, p.window_seconds), now + p.max_hold_seconds
            h = Held(seq, event, OBJECT, now, okey, due, must)
            self._queue[seq] = h
            stats.held_now += 1
            self._index[okey] = h
            self._deadlines.schedule(h)
            return
        ns_policy = self._namespace_policy
        policy = self.policy if ns_policy is None else ns_policy(event.namespace)
        digest = None
        if policy is not None and policy.suppress_noop and etype != DELETED:
            digest = semantic_digest(event.raw)
        if self._initial or policy is None or not policy.enabled:
            self._index.pop(okey, None)  # later events must not merge across this one
            self._append(Held(seq, event, EXEMPT, now, okey, digest=digest))
            if self._initial:
                self._deadlines.release_upto = seq
            return

        held = self._index.get(okey)
        if held is not None and held.event.type != DELETED:
            self._merge(held, seq, event, digest, now, policy)
            return
        if etype == MODIFIED and digest is not None and self._is_delivered(okey, digest):
            stats.suppressed += 1
            return
        self._hold(seq, event, now, okey, policy, digest)

    def _hold(
        self,
        seq: int,
        event: WatchEvent,
        now: float,
        okey: ObjectKey,
        policy: CoalescePolicy,
        digest: bytes | None,
    ) -> Held:
        """A new entry for an object event: windowed, rate-limited, the object's newest."""
        h = Held(
            seq,
            event,
            OBJECT,
            now,
            okey,
            due=release_due(now, policy.window_seconds),
            must=now + policy.max_hold_seconds,
            digest=digest,
        )
        self._append(h)
        self._index[okey] = h
        self._deadlines.schedule(h)
        return h

    def _push_bookmark(self, seq: int, event: WatchEvent, now: float) -> None:
        h = Held(seq, event, BOOKMARK_ENTRY, now)
        if event.initial_events_end:
            # Never replaced, never dropped; it ends the initial phase and everything before it
            # (the initial events) is released with it.
            self._append(h)
            if self._initial:
                self._initial = False
                self._deadlines.release_upto = seq
            return
        if self._bookmark is not None:
            # Bookmarks carry no object state: the newer one says all the older one said.
            self._drop_bookmark()
        self._append(h)
        self._bookmark = h

    def _drop_bookmark(self) -> None:
        """Drop the held plain bookmark: it carries only a version, which the next delivered
        event or bookmark carries on (dropping one never costs the client anything else)."""
        bm = self._bookmark
        assert bm is not None
        del self._queue[bm.seq]
        self._bookmark = None
        self.stats.held_now -= 1
        self.stats.coalesced += 1

    def _merge(
        self,
        held: Held,
        seq: int,
        event: WatchEvent,
        digest: bytes | None,
        now: float,
        policy: CoalescePolicy,
    ) -> None:
        """A later event of ``held``'s object (``held`` is not a DELETED)."""
        okey = held.okey
        assert okey is not None
        if held.event.type == ADDED:
            # The client has not been sent this object's ADDED (CREATIONS).
            if not self._nothing_held_after(held):
                # Merging would carry the creation past events of other objects: the client,
                # at their versions, would lack an object the upstream had. Hold it at its own
                # place.
                tail = self._hold(seq, event, now, okey, policy, digest)
                tail.head, held.tail = held, tail
            elif event.type == DELETED:
                # The client never saw this object, and nothing was delivered in its lifetime.
                self._drop(held)
                self.stats.vanished += 1
            else:
                try:
                    raw = retype(event.raw, ADDED)
                except CodecError:
                    # Never a MODIFIED for an object the client lacks: the ADDED goes as it came.
                    self.stats.retype_failures += 1
                    self._hold(seq, event, now, okey, policy, digest)
                else:
                    self._move(held, seq, replace(event, type=ADDED, raw=raw), digest)
            return
        if (
            event.type == MODIFIED
            and held.head is None
            and digest is not None
            and self._is_delivered(okey, digest)
        ):
            # Merged, the object is back to what the client has: nothing to deliver at all.
            self._drop(held)
            self.stats.coalesced += 1
            self.stats.suppressed += 1
            return
        self._move(held, seq, event, digest)

    def _nothing_held_after(self, h: Held) -> bool:
        """True when no entry after ``h`` is held, except a plain bookmark, which is dropped:
        delivered after ``h`` merged forward it would put its version back, delivered before,
        hand the client a version at which it lacks ``h``'s object."""
        keys = reversed(self._queue)
        last = next(keys)
        if last == h.seq:
            return True
        bm = self._bookmark
        if bm is None or last != bm.seq or next(keys) != h.seq:
            return False
        self._drop_bookmark()
        return True

    def _move(self, held: Held, seq: int, event: WatchEvent, digest: bytes | None) -> None:
        """Fold ``event`` into ``held``, which moves to the event's (newest) position."""
        del self._queue[held.seq]
        held.seq = seq
        held.event = event
        held.digest = digest
        self._queue[seq] = held
        self.stats.coalesced += 1
        self._deadlines.schedule(held, moved=True)

    def _append(self, h: Held) -> None:
        self._queue[h.seq] = h
        self.stats.held_now += 1

    def _drop(self, h: Held) -> None:
        del self._queue[h.seq]
        self.stats.held_now -= 1
        if h.okey is not None and self._index.get(h.okey) is h:
            del self._index[h.okey]

    def _is_delivered(self, okey: ObjectKey, digest: bytes) -> bool:
        return self._digests is not None and self._digests.get(okey) == digest

    # --- output --------------------------------------------------------------------------------

    def ready(self, now: float) -> list[WatchEvent]:
        """Events to write now, in delivery order (possibly none)."""
        if now > self._now:
            self._now = now
        if self._out:
            return self._passed_through()
        queue = self._queue
        if not queue:
            return []
        dl = self._deadlines
        dl.advance(now, queue)
        bucket = self._bucket
        if bucket is not None:
            bucket.refill(now)
        elif self._nothing_due(now):
            return []
        out: list[WatchEvent] = []
        stats = self.stats
        index = self._index
        popitem = queue.popitem
        first = queue.values
        # No tail, no digests (nearly all): ``_deliver`` inline, counters summed once at the end.
        simple = self._digests is None
        plain = 0
        while queue:
            h = next(iter(first()))
            seq = h.seq
            if seq <= dl.release_upto:
                if bucket is not None and h.role == OBJECT:
                    bucket.take_if_any()
            elif h.role != OBJECT:
                pass  # bookmarks, ERRORs and exempt events wait only for their place
            elif seq <= dl.must_upto and bucket is not None:
                if not bucket.try_take():
                    stats.forced_by_max_hold += 1
            elif h.due <= now or seq <= dl.due_upto:
                if bucket is not None and not bucket.try_take():
                    stats.rate_limited += 1
                    break
            else:
                break
            popitem(last=False)
            okey = h.okey
            if simple and h.tail is None and okey is not None:
                if index.get(okey) is h:
                    del index[okey]
                out.append(h.event)
                hold = now - h.first_held
                stats.observe_hold(hold if hold > 0.0 else 0.0)
                plain += 1
            else:
                self._deliver(h, now, out)
        if plain:
            stats.held_now -= plain
            stats.forwarded += plain
        if not queue:
            dl.clear()
        elif dl.oversized(len(queue)):
            dl.rebuild(queue.values())
        return out

    def _passed_through(self) -> list[WatchEvent]:
        """The events ``push`` passed without holding, counted as forwarded."""
        passed = self._out
        self._out = []
        self.stats.forwarded += len(passed)
        self.stats.held_now -= len(passed)
        return passed

    def _nothing_due(self, now: float) -> bool:
        """Without a rate limit, true when the front entry is not due (most calls: one per
        upstream read), so nothing is; the release loop would stop at once."""
        dl = self._deadlines
        h = next(iter(self._queue.values()))
        if h.role == OBJECT and h.due > now and h.seq > dl.due_upto and h.seq > dl.release_upto:
            if dl.oversized(len(self._queue)):
                dl.rebuild(self._queue.values())
            return True
        return False

    def _deliver(self, h: Held, now: float, out: list[WatchEvent]) -> None:
        """Deliver ``h``, just taken off the front of the queue (with its tail, if it rejoins)."""
        stats = self.stats
        stats.held_now -= 1
        if h.tail is not None:
            joined = self._rejoin(h)
            if joined is None:
                return
            h = joined
        okey = h.okey
        if okey is not None:
            if self._index.get(okey) is h:
                del self._index[okey]
            if self._digests is not None:
                if h.event.type == DELETED:
                    self._digests.forget(okey)
                else:
                    self._digests.delivered(okey, h.digest)
        elif h is self._bookmark:
            self._bookmark = None
        out.append(h.event)
        stats.forwarded += 1
        stats.observe_hold(max(0.0, now - h.first_held))

    def _rejoin(self, head: Held) -> Held | None:
        """``head``, an undelivered ADDED now at the front, and its tail become one entry if
        nothing is held between them (a plain bookmark between them is dropped): an ADDED with
        the tail's newest object, or nothing when the tail is a DELETED (the pair vanishes).
        Else the ADDED goes alone and the tail stays, an ordinary MODIFIED or DELETED now."""
        tail = head.tail
        assert tail is not None
        head.tail = tail.head = None
        keys = iter(self._queue)
        after = next(keys)
        bm = self._bookmark
        bookmark_between = bm is not None and after == bm.seq
        if bookmark_between:
            after = next(keys)
        if after != tail.seq:
            return head
        stats = self.stats
        if tail.event.type == DELETED:
            raw = None
        else:
            try:
                raw = retype(tail.event.raw, ADDED)
            except CodecError:
                stats.retype_failures += 1
                return head
        if bookmark_between:
            self._drop_bookmark()
        self._drop(tail)
        if raw is None:
            stats.vanished += 1
            return None
        stats.coalesced += 1
        tail.event = replace(tail.event, type=ADDED, raw=raw)
        tail.first_held = head.first_held  # the hold counts from the oldest part
        return tail

    def flush(self) -> list[WatchEvent]:
        """The stream is ending: everything held, in order, now (no final state is lost)."""
        out = self._out
        self._out = []
        self.stats.forwarded += len(out)
        self.stats.held_now -= len(out)
        now = self._now
        queue = self._queue
        while queue:
            _, h = queue.popitem(last=False)
            self._deliver(h, now, out)
        self._reset()
        return out

    def discard(self) -> int:
        """The client went away: drop everything held (it will resume from its last RV and get
        these events again from the upstream). Returns how many were dropped."""
        n = len(self._queue) + len(self._out)
        self.stats.held_now -= n
        self.stats.discarded += n
        self._out = []
        self._reset()
        return n

    def _reset(self) -> None:
        self._queue.clear()
        self._index.clear()
        self._deadlines.clear()
        self._bookmark = None

    # --- scheduling and introspection ----------------------------------------------------------

    def next_deadline(self) -> float | None:
        """Monotonic time at which ``ready`` will yield more (maybe already past); None when
        nothing is held. Calling ``ready(t)`` at ``t >= next_deadline()`` always makes progress."""
        if self._out:
            return self._now
        queue = self._queue
        if not queue:
            return None
        h = next(iter(queue.values()))
        dl = self._deadlines
        if h.role != OBJECT or h.seq <= max(dl.release_upto, dl.must_upto):
            return self._now
        if h.seq <= dl.due_upto or h.due <= self._now:
            t = NEG_INF
        else:
            due = dl.earliest_due(queue)
            t = h.due if due is None else min(h.due, due)
        bucket = self._bucket
        if bucket is not None:
            t = max(t, bucket.time_for_token())
            must = dl.earliest_must(queue)
            if must is not None:
                t = min(t, must)
        return t if t > NEG_INF else self._now

    @property
    def held(self) -> int:
        """Events held (merged events count once)."""
        return len(self._queue) + len(self._out)

    def oldest_hold_age(self, now: float) -> float:
        """Seconds the oldest held event has waited (0 when nothing is held). O(held): for
        scrapes and admin views, not the hot path."""
        if not self._queue:
            return 0.0
        return max(0.0, now - min(h.first_held for h in self._queue.values()))

    def held_events(self) -> list[WatchEvent]:
        """The held events in queue order, each as it would be delivered alone (an ADDED that
        absorbed later states is already re-typed; a tail is its MODIFIED/DELETED); for tests
        and the admin view."""
        return [h.event for h in self._queue.values()]
