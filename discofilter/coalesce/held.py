"""One entry of a coalescer's hold queue, and the invariants it keeps (pure).

An entry is one held event, or several events of one object merged into it. Its position in the
queue is ``seq``, the arrival number of the newest event folded in; the queue delivers in ``seq``
order. An entry whose ``event`` is an ADDED holds an object's creation that the client has not
been sent: it may only move forward (absorb a later event of its object) while nothing else is
held after it, and a later event that cannot be absorbed goes into its ``tail``, a second entry
of the same object. See ``coalescer.py``'s docstring ("CREATIONS") for why and how they rejoin.
"""

from __future__ import annotations

from discofilter.coalesce.noop import ObjectKey
from discofilter.model import WatchEvent

# Roles of a held entry.
OBJECT = 0  # an object event under a policy: windowed, rate-limited, merged
EXEMPT = 1  # an object event passed as is (no policy, or an initial event): only ordered
BOOKMARK_ENTRY = 2
ERROR_ENTRY = 3

NEG_INF = float("-inf")


class Held:
    """One held event (possibly several merged events of one object)."""

    __slots__ = (
        "digest",
        "due",
        "event",
        "first_held",
        "head",
        "must",
        "okey",
        "role",
        "seq",
        "tail",
    )

    def __init__(
        self,
        seq: int,
        event: WatchEvent,
        role: int,
        now: float,
        okey: ObjectKey | None = None,
        due: float = NEG_INF,
        must: float = NEG_INF,
        digest: bytes | None = None,
    ) -> None:
        self.seq = seq
        """Arrival number of the NEWEST event folded in; the queue is ordered by it."""
        self.event = event
        """What gets delivered: the newest event folded in, its bytes already carrying the type
        to deliver (an ADDED merged with later MODIFIEDs is re-typed when they merge)."""
        self.role = role
        self.okey = okey
        self.first_held = now
        """Arrival time of the OLDEST event folded in; merges never move it."""
        self.due = due
        """first_held + window: from then on deliverable (with a token under a rate limit)."""
        self.must = must
        """first_held + max_hold: from then on delivered whatever the tokens."""
        self.digest = digest
        self.tail: Held | None = None
        """On an undelivered ADDED: the same object's later events, held at their own (later)
        position because other events are held between. Invariant: ``tail.head is self``."""
        self.head: Held | None = None
        """On a tail: the undelivered ADDED it rejoins if nothing is held between them when
        that ADDED is delivered. None once the ADDED went alone (the tail is then an ordinary
        MODIFIED or DELETED of an object the client holds)."""
