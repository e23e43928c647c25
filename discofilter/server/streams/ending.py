"""Why a watch stream ended: one closed set of reasons (logs, counters, admin)."""

from __future__ import annotations

import enum


class EndReason(enum.Enum):
    """How a filtered watch stream ended; the value is the log text."""

    UPSTREAM_CLOSED = "upstream closed"
    """The upstream ended the watch (its timeoutSeconds, or EOF): the client rewatches."""
    UPSTREAM_BROKE = "upstream broke"
    """The upstream connection broke mid-stream: the client rewatches."""
    BAD_FRAME = "bad upstream frame"
    """A frame the codec cannot decode: the client gets a 500 ERROR event."""
    EXPIRED = "expired"
    """An enrollment change (or shutdown) ended it with a 410 ERROR event: the client relists."""
    CLIENT_TOO_SLOW = "client too slow"
    """A write did not drain within ``slow_client_seconds`` (``errors.ClientTooSlow``)."""
    CLIENT_GONE = "client went away"
    """The client closed its connection."""
