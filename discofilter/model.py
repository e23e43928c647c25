"""The decoded watch event shared by codec, filter and coalesce (pure, no I/O imports).

A ``WatchEvent`` carries only the metadata the proxy decides on, plus the exact bytes it will
forward. Contract 1 (same object bytes): ``raw`` is the frame exactly as the upstream sent it
(a JSON line including its trailing newline, or a 4-byte-length-prefixed protobuf frame) unless a
documented transform rewrote it.
"""

from __future__ import annotations

from dataclasses import dataclass

ADDED = "ADDED"
MODIFIED = "MODIFIED"
DELETED = "DELETED"
BOOKMARK = "BOOKMARK"
ERROR = "ERROR"

EVENT_TYPES = frozenset({ADDED, MODIFIED, DELETED, BOOKMARK, ERROR})

# The annotation kube-apiserver puts on the BOOKMARK that ends the initial events of a WatchList.
INITIAL_EVENTS_END = "k8s.io/initial-events-end"


@dataclass(slots=True)
class WatchEvent:
    """One watch event: its type, the object's identity, and the bytes to forward.

    ``namespace`` is "" for cluster-scoped objects and for BOOKMARK/ERROR events.
    ``resource_version`` is the object's metadata.resourceVersion as a string (opaque to clients;
    the proxy orders events by arrival, never by parsing it).
    """

    type: str
    namespace: str
    name: str
    uid: str
    resource_version: str
    raw: bytes
    initial_events_end: bool = False

    @property
    def key(self) -> tuple[str, str]:
        """The object key namespace/name (uid distinguishes re-creations)."""
        return (self.namespace, self.name)


def rv_int(rv: object, default: int = -1) -> int:
    """A resourceVersion as an integer, or ``default`` when it is not numeric.

    Kubernetes calls resourceVersions opaque; etcd-backed ones are integers, and the proxy
    compares them only where it must (resume checks, reload stamps, catch-up in the tools),
    with ``default`` saying what a non-numeric one means there (0: "old", -1: "unknown").
    """
    try:
        return int(str(rv))
    except (TypeError, ValueError):
        return default
