"""The sampled feed of filter and coalesce decisions behind the gRPC ``WatchDecisions`` stream.

Policy:

* Sampled, never complete: at ~135,000 events/s a full feed would cost more than the proxying
  itself. The hot path calls ``should_sample()`` (an increment and a compare: 58 ns, timeit on
  the 2-core dev machine) and builds a ``Decision`` only when it returns True: one event in
  ``every`` (default 64, so ~2,000 decisions/s at full speed, a rate a terminal can still show).
* Never blocks the hot path: ``publish`` uses ``put_nowait`` into each subscriber's bounded queue
  (default 1,024 decisions, about half a second at the full sampled rate); a subscriber that falls
  behind loses decisions, counted in ``Subscription.dropped``, instead of holding memory.
* A ring of the last ``capacity`` decisions (default 256) lets a new subscriber and ``Status``
  see recent history without waiting.

Everything runs on the proxy's event loop (grpc.aio shares it), so there is no locking.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from types import TracebackType

FORWARDED = "forwarded"
"""The event was written to the client as received."""
FILTERED = "filtered"
"""Dropped: the object's namespace is not enrolled."""
COALESCED = "coalesced"
"""Merged into a later event of the same object (the client sees only the latest state)."""
SYNTHESIZED = "synthesized"
"""Made up by the proxy (ADDED/DELETED on an enrollment change)."""
EXPIRED = "expired"
"""The watch was ended with a 410 Expired ERROR event so that the client relists."""

ACTIONS = (FORWARDED, FILTERED, COALESCED, SYNTHESIZED, EXPIRED)


@dataclass(frozen=True, slots=True)
class Decision:
    at: float
    """Wall-clock seconds since the epoch."""
    stream_id: str
    kind: str
    namespace: str
    name: str
    event_type: str
    action: str
    """One of ACTIONS."""
    reason: str = ""
    """Why, e.g. the selector term that matched or "namespace not enrolled"."""
    resource_version: str = ""


class Subscription:
    """One subscriber's bounded queue; iterate it with ``async for`` until closed."""

    def __init__(self, sampler: DecisionSampler, maxsize: int) -> None:
        self._sampler = sampler
        self.queue: asyncio.Queue[Decision | None] = asyncio.Queue(maxsize=maxsize)
        # Decisions this subscriber lost because its queue was full.
        self.dropped = 0
        self.closed = False

    def offer(self, decision: Decision) -> None:
        try:
            self.queue.put_nowait(decision)
        except asyncio.QueueFull:
            self.dropped += 1

    def close(self) -> None:
        """Stop the subscription; a pending ``async for`` ends."""
        if self.closed:
            return
        self.closed = True
        self._sampler._unsubscribe(self)
        # Wake a waiting iterator; if the queue is full, it will see `closed` after draining.
        try:
            self.queue.put_nowait(None)
        except asyncio.QueueFull:
            pass

    def __aiter__(self) -> AsyncIterator[Decision]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Decision]:
        while True:
            if self.closed and self.queue.empty():
                return
            item = await self.queue.get()
            if item is None:
                return
            yield item

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class DecisionSampler:
    """Samples one decision in ``every`` and fans it out to bounded subscriber queues."""

    def __init__(self, every: int = 64, capacity: int = 256, queue_size: int = 1024) -> None:
        if every < 1:
            raise ValueError("every must be >= 1")
        self.every = every
        self.queue_size = queue_size
        # Invariant: _count < every; it wraps to 0 each time should_sample() returns True.
        self._count = 0
        self._recent: deque[Decision] = deque(maxlen=capacity)
        self._subscribers: list[Subscription] = []
        self.published = 0

    def should_sample(self) -> bool:
        """True once every ``every`` calls; call it per decision, build a Decision only if True."""
        self._count += 1
        if self._count >= self.every:
            self._count = 0
            return True
        return False

    def publish(self, decision: Decision) -> None:
        self.published += 1
        self._recent.append(decision)
        for sub in self._subscribers:
            sub.offer(decision)

    def recent(self) -> list[Decision]:
        """The last ``capacity`` decisions, oldest first."""
        return list(self._recent)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def subscribe(self, replay_recent: bool = False, maxsize: int | None = None) -> Subscription:
        """A new subscription; with ``replay_recent`` it starts with the ring's contents."""
        sub = Subscription(self, maxsize if maxsize is not None else self.queue_size)
        if replay_recent:
            for d in self._recent:
                sub.offer(d)
        self._subscribers.append(sub)
        return sub

    def _unsubscribe(self, sub: Subscription) -> None:
        try:
            self._subscribers.remove(sub)
        except ValueError:
            pass

    def close(self) -> None:
        """End every subscription (server shutdown)."""
        for sub in list(self._subscribers):
            sub.close()
