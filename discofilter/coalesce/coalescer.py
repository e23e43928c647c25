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
* SKIPPED STATES. Several events of one object (namespace, name, uid) that are held together merge
  into one carrying the NEWEST object: ADDED+MODIFIED* -> ADDED (the frame re-typed, see
  ``retype``); MODIFIED+MODIFIED -> MODIFIED; MODIFIED+DELETED -> DELETED; ADDED+DELETED -> nothing
  (the client never saw the ADDED: the pair vanishes). A held DELETED never merges with anything
  after it, so a re-creation (new uid, or even the same key) is always a separate, later event.
* WHERE A MERGED EVENT GOES. The merged event takes the position of its NEWEST constituent. Why:
  say object A is held from seq 5, B arrives at seq 6, A changes at seq 7. Delivering A's newest
  state at position 5 would hand the client RV 7 before RV 6; if the client then disconnected it
  would resume from RV 7 and never see B's event. At position 7 the client sees B (RV 6) first and,
  if it disconnects in between, resumes from RV 6 and receives A's RV 7 from the upstream. A's
  state at seq 5 was merely skipped, which is allowed: only final states must arrive.
* BOOKMARKS are delivered when they reach the head (re-timed behind older held events, they carry
  a newer RV). A newer held bookmark replaces an older held one. The ``initial-events-end``
  bookmark is never replaced or dropped, and never overtakes the initial events it ends.
* ERROR events release everything held before them and then pass, at the next ``ready``.
* ALWAYS DELIVERED: every final state (the newest event of each object that is not an unseen
  ADDED+DELETED pair), every ERROR, the initial-events-end bookmark, and the newest bookmark.

Timing. An object's first held event is due ``window_seconds`` after it arrived; merges keep that
deadline, so a steadily changing object is still delivered once per window. When any held event
falls due, everything before it in the queue is delivered too ("pull"): this keeps the delay the
window adds to any event at most ``window_seconds``, at the cost of a shorter window for the events
pulled. With a rate limit, each object event delivered spends one token (bookmarks and ERRORs are
free); a held event blocks everything after it, so a rate-limited stream makes progress exactly one
token at a time, and meanwhile every held object keeps merging: a backlog is bounded by the number
of distinct objects, not events. ``max_hold_seconds`` after an event was first held it is released
whatever the tokens (staleness beats the rate limit). Events of namespaces with no policy, and the
initial events of a ``sendInitialEvents`` watch (``initial_events=True``), are never held for a
window or a token, but they still keep their place behind older held events.

Resume after a merge. A client that disconnects between two deliveries may have missed an ADDED
that was merged into a later event; on resume the upstream replays that object's later MODIFIED
only. Informers treat MODIFIED as an upsert (client-go's store.Update; the handler gets OnAdd), so
the cache converges: this is the "intermediate states may be skipped" clause, and the property test
checks that it is the only way a client ever sees a MODIFIED for an object it lacks.

Memory: held entries <= distinct objects changed within the last ``max_hold_seconds`` (windows
alone: within the last ``window_seconds``) plus the events queued behind them; heaps are compacted
to O(held). Cost: O(log held) per event; about 2.4-2.8 µs per event at 1,000 keys with the 0.25 s
window on the team machine (``python bench/micro_coalesce.py``).
"""

from __future__ import annotations

import heapq
from collections import OrderedDict
from collections.abc import Callable

from discofilter.coalesce.bucket import TokenBucket
from discofilter.coalesce.noop import DeliveredDigests, ObjectKey, semantic_digest
from discofilter.coalesce.policy import CoalescePolicy
from discofilter.coalesce.retype import retype
from discofilter.coalesce.stats import CoalesceStats
from discofilter.errors import CodecError
from discofilter.model import ADDED, BOOKMARK, DELETED, ERROR, MODIFIED, WatchEvent

# Roles of a held entry.
_OBJECT = 0  # an object event under a policy: windowed, rate-limited, merged
_EXEMPT = 1  # an object event passed as is (no policy, or an initial event): only ordered
_BOOKMARK = 2
_ERROR = 3

_NEG_INF = float("-inf")


class _Held:
    """One held event (possibly several merged events of one object)."""

    __slots__ = (
        "deliver_type",
        "digest",
        "due",
        "event",
        "first_held",
        "must",
        "okey",
        "role",
        "seq",
    )

    def __init__(
        self,
        seq: int,
        event: WatchEvent,
        role: int,
        now: float,
        okey: ObjectKey | None = None,
        due: float = _NEG_INF,
        must: float = _NEG_INF,
        digest: bytes | None = None,
    ) -> None:
        self.seq = seq
        """Arrival number of the NEWEST event folded in; the queue is ordered by it."""
        self.event = event
        """The newest event folded in (its bytes and resourceVersion are what gets delivered)."""
        self.deliver_type = event.type
        """The type to deliver: ADDED when an undelivered ADDED was merged with later MODIFIEDs."""
        self.role = role
        self.okey = okey
        self.first_held = now
        """Arrival time of the OLDEST event folded in; merges never move it."""
        self.due = due
        """first_held + window: from then on deliverable (with a token under a rate limit)."""
        self.must = must
        """first_held + max_hold: from then on delivered whatever the tokens."""
        self.digest = digest


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
        self._bucket = (
            TokenBucket(policy.max_events_per_second, policy.burst) if policy.rate_limited else None
        )
        self._digests: DeliveredDigests | None = (
            DeliveredDigests(policy.noop_max_keys)
            if policy.suppress_noop or namespace_policy is not None
            else None
        )

        # THE HOLD QUEUE. Invariant (contract 2): keys are strictly increasing ``seq`` numbers,
        # every key is greater than the seq of every event already delivered, and ``ready`` only
        # ever delivers the first entry. So no delivered resourceVersion is newer than a held one.
        self._queue: OrderedDict[int, _Held] = OrderedDict()
        # Invariant: _index[k], when present, is a held _OBJECT entry of object key k and no later
        # event of k is held (an exempt event of k removes k). Events merge only into it, and
        # only if it is not a DELETED: merging never reorders two events of one object.
        self._index: dict[ObjectKey, _Held] = {}
        # Min-heaps of (deadline, seq); entries may be stale (merged away or delivered) and are
        # skipped lazily: a seq not in _queue is stale.
        self._due_heap: list[tuple[float, int]] = []  # entries with a window > 0 ("pull")
        self._must_heap: list[tuple[float, int]] = []  # only when rate-limited
        # Watermarks (monotonic): every held entry with seq <= _due_upto has been pulled (may go
        # with a token); every entry with seq <= _release_upto / _must_upto goes without one.
        self._due_upto = 0
        self._release_upto = 0
        self._must_upto = 0
        self._seq = 0
        self._bookmark: _Held | None = None  # the newest held plain BOOKMARK, if held
        self._out: list[WatchEvent] = []  # pass-through outbox (policy does nothing)
        self._now = _NEG_INF

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
            self._append(_Held(seq, event, _ERROR, now))
            self._release_upto = seq
            return
        if etype == BOOKMARK:
            self._push_bookmark(seq, event, now)
            return

        okey = (event.namespace, event.name, event.uid)
        ns_policy = self._namespace_policy
        policy = self.policy if ns_policy is None else ns_policy(event.namespace)
        digest = None
        if policy is not None and policy.suppress_noop and etype != DELETED:
            digest = semantic_digest(event.raw)
        if self._initial or policy is None or not policy.enabled:
            self._index.pop(okey, None)  # later events must not merge across this one
            self._append(_Held(seq, event, _EXEMPT, now, okey, digest=digest))
            if self._initial:
                self._release_upto = seq
            return

        held = self._index.get(okey)
        if held is not None and held.deliver_type != DELETED:
            self._merge(held, seq, event, digest)
            return
        if etype == MODIFIED and digest is not None and self._is_delivered(okey, digest):
            stats.suppressed += 1
            return
        h = _Held(
            seq,
            event,
            _OBJECT,
            now,
            okey,
            due=now + policy.window_seconds,
            must=now + policy.max_hold_seconds,
            digest=digest,
        )
        self._append(h)
        self._index[okey] = h
        self._schedule(h)

    def _push_bookmark(self, seq: int, event: WatchEvent, now: float) -> None:
        h = _Held(seq, event, _BOOKMARK, now)
        if event.initial_events_end:
            # Never replaced, never dropped; it ends the initial phase and everything before it
            # (the initial events) is released with it.
            self._append(h)
            if self._initial:
                self._initial = False
                self._release_upto = seq
            return
        old = self._bookmark
        if old is not None:
            # Bookmarks carry no object state: the newer one says all the older one said.
            del self._queue[old.seq]
            self.stats.held_now -= 1
            self.stats.coalesced += 1
        self._append(h)
        self._bookmark = h

    def _merge(self, held: _Held, seq: int, event: WatchEvent, digest: bytes | None) -> None:
        stats = self.stats
        etype = event.type
        okey = held.okey
        assert okey is not None
        if held.deliver_type == ADDED and etype == DELETED:
            # The client never saw this object: the pair vanishes (contract 2).
            self._drop(held)
            stats.vanished += 1
            return
        new_type = ADDED if held.deliver_type == ADDED else etype
        if new_type == MODIFIED and digest is not None and self._is_delivered(okey, digest):
            # Merged, the object is back to what the client has: nothing to deliver at all.
            self._drop(held)
            stats.coalesced += 1
            stats.suppressed += 1
            return
        # Move to the NEWEST constituent's position (see the module docstring for why).
        del self._queue[held.seq]
        held.seq = seq
        held.event = event
        held.deliver_type = new_type
        held.digest = digest
        self._queue[seq] = held
        stats.coalesced += 1
        self._schedule(held)

    def _append(self, h: _Held) -> None:
        self._queue[h.seq] = h
        self.stats.held_now += 1

    def _drop(self, h: _Held) -> None:
        del self._queue[h.seq]
        self.stats.held_now -= 1
        if h.okey is not None and self._index.get(h.okey) is h:
            del self._index[h.okey]

    def _schedule(self, h: _Held) -> None:
        if h.due > h.first_held:
            heapq.heappush(self._due_heap, (h.due, h.seq))
        if self._bucket is not None:
            heapq.heappush(self._must_heap, (h.must, h.seq))

    def _is_delivered(self, okey: ObjectKey, digest: bytes) -> bool:
        return self._digests is not None and self._digests.get(okey) == digest

    # --- output --------------------------------------------------------------------------------

    def ready(self, now: float) -> list[WatchEvent]:
        """Events to write now, in delivery order (possibly none)."""
        if now > self._now:
            self._now = now
        if self._out:
            passed = self._out
            self._out = []
            self.stats.forwarded += len(passed)
            self.stats.held_now -= len(passed)
            return passed
        queue = self._queue
        if not queue:
            return []
        due_heap = self._due_heap
        while due_heap and due_heap[0][0] <= now:
            _, s = heapq.heappop(due_heap)
            if s > self._due_upto and s in queue:
                self._due_upto = s
        bucket = self._bucket
        if bucket is not None:
            must_heap = self._must_heap
            while must_heap and must_heap[0][0] <= now:
                _, s = heapq.heappop(must_heap)
                if s > self._must_upto and s in queue:
                    self._must_upto = s
            bucket.refill(now)

        out: list[WatchEvent] = []
        stats = self.stats
        while queue:
            h = next(iter(queue.values()))
            seq = h.seq
            if seq <= self._release_upto:
                if bucket is not None and h.role == _OBJECT:
                    bucket.take_if_any()
            elif h.role != _OBJECT:
                pass  # bookmarks, ERRORs and exempt events wait only for their place
            elif seq <= self._must_upto and bucket is not None:
                if not bucket.try_take():
                    stats.forced_by_max_hold += 1
            elif h.due <= now or seq <= self._due_upto:
                if bucket is not None and not bucket.try_take():
                    stats.rate_limited += 1
                    break
            else:
                break
            queue.popitem(last=False)
            self._deliver(h, now, out)
        if not queue:
            due_heap.clear()
            self._must_heap.clear()
        elif len(due_heap) + len(self._must_heap) > 4 * len(queue) + 256:
            self._compact()
        return out

    def _compact(self) -> None:
        # Stale heap items (merged away or delivered) are normally dropped when their deadline
        # passes; under a rate limit the must-heap would otherwise keep max_hold_seconds worth of
        # them (5 s x 6,000 events/s = 30,000). Rebuild from the live entries: O(held).
        live = [h for h in self._queue.values() if h.role == _OBJECT]
        self._due_heap = [(h.due, h.seq) for h in live if h.due > h.first_held]
        heapq.heapify(self._due_heap)
        if self._bucket is not None:
            self._must_heap = [(h.must, h.seq) for h in live]
            heapq.heapify(self._must_heap)

    def _deliver(self, h: _Held, now: float, out: list[WatchEvent]) -> None:
        stats = self.stats
        stats.held_now -= 1
        okey = h.okey
        event = h.event
        if okey is not None:
            if self._index.get(okey) is h:
                del self._index[okey]
            if self._digests is not None:
                if h.deliver_type == DELETED:
                    self._digests.forget(okey)
                else:
                    self._digests.delivered(okey, h.digest)
            if h.deliver_type != event.type:
                try:
                    raw = retype(event.raw, h.deliver_type)
                except CodecError:
                    # client-go treats a MODIFIED of an unknown object as an add: still correct.
                    stats.retype_failures += 1
                else:
                    event = WatchEvent(
                        h.deliver_type,
                        event.namespace,
                        event.name,
                        event.uid,
                        event.resource_version,
                        raw,
                        event.initial_events_end,
                    )
        elif h is self._bookmark:
            self._bookmark = None
        out.append(event)
        stats.forwarded += 1
        stats.observe_hold(max(0.0, now - h.first_held))

    def flush(self) -> list[WatchEvent]:
        """The stream is ending: everything held, in order, now (no final state is lost)."""
        out = self._out
        self._out = []
        self.stats.forwarded += len(out)
        self.stats.held_now -= len(out)
        now = self._now
        for h in self._queue.values():
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
        self._due_heap.clear()
        self._must_heap.clear()
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
        if h.role != _OBJECT or h.seq <= max(self._release_upto, self._must_upto):
            return self._now
        bucket = self._bucket
        if h.seq <= self._due_upto or h.due <= self._now:
            t = _NEG_INF
        else:
            due_heap = self._due_heap
            while due_heap and due_heap[0][1] not in queue:
                heapq.heappop(due_heap)
            t = min(h.due, due_heap[0][0]) if due_heap else h.due
        if bucket is not None:
            t = max(t, bucket.time_for_token())
            must_heap = self._must_heap
            while must_heap and must_heap[0][1] not in queue:
                heapq.heappop(must_heap)
            if must_heap:
                t = min(t, must_heap[0][0])
        return t if t > _NEG_INF else self._now

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
        """The held events in delivery order, as upstream sent them (not re-typed); for tests
        and the admin view."""
        return [h.event for h in self._queue.values()]
