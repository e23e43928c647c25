"""Upstream event frames that carry their decoded event through the cache (no I/O).

The shared cache (``discofilter.cache``) moves frames as ``bytes``: one per upstream event,
shared by the window and every client's watcher. Each client's stream still needs the decoded
``WatchEvent`` (its coalescer keys on namespace/name/uid; its counters read the
resourceVersion). Decoding the frame again per client would make the proxy's CPU grow with the
number of clients, the cost sharing removes (docs/shared-watches.md): a JSON pod event decodes in
~6 µs, so ten clients would add ~60 µs per upstream event. So the reflector decodes once and
hangs the event's metadata on the frame itself: ``EventFrame`` *is* the bytes (the cache, the
window and the writes see a plain ``bytes``) and also knows its type, namespace, name, uid and
resourceVersion. Each client builds its own ``WatchEvent`` from them (~0.3 µs): events are not
shared between clients, whose coalescers own theirs, and a frame holding an event whose ``raw``
is the frame would be a reference cycle, freed only by the cyclic GC (24 MB of pods waited for
it in the slow-client test). Frames the cache builds itself (initial ADDED events, bookmarks,
410s) are plain ``bytes`` and are decoded by the client's stream; they are rare.
"""

from __future__ import annotations

from discofilter.model import WatchEvent


class EventFrame(bytes):
    """An upstream frame (exact bytes) with its event's metadata."""

    meta: tuple[str, str, str, str, str]
    """(type, namespace, name, uid, resourceVersion), as ``WatchEvent`` takes them."""

    def event(self) -> WatchEvent:
        """A fresh ``WatchEvent`` of this frame, for one client's stream."""
        t, ns, name, uid, rv = self.meta
        return WatchEvent(t, ns, name, uid, rv, self)


def event_frame(event: WatchEvent) -> EventFrame:
    """The frame of a decoded event, with its metadata (one copy of the bytes)."""
    frame = EventFrame(event.raw)
    frame.meta = (event.type, event.namespace, event.name, event.uid, event.resource_version)
    return frame
