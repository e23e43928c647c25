"""``KindCounters``: the cumulative counters of one resource kind, as admin surfaces show them.

A frozen snapshot value: built per admin request (from the stream registry or the metrics
registry), never per event.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class KindCounters:
    """Cumulative counters of one resource kind since start."""

    kind: str
    events_in: int = 0
    events_out: int = 0
    events_coalesced: int = 0
    events_suppressed: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    upstream_reconnects: int = 0
    slow_client_closures: int = 0
